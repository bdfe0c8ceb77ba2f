"""Attention as Einsum cascades: 3-pass, 2-pass and 1-pass (FuseMax) softmax; MHA, GQA and MQA.

Ranks: `b` batch, `h` KV heads, `g` query heads per KV head (GQA group; absent for MHA), `e` Q/K
head dimension, `f` V head dimension, `m` key/value positions, `p` query positions. For the 2- and
1-pass cascades `m` is partitioned `m -> m1, m0` (M0 keys per step). Tensor names follow FuseMax
(Nayak et al., MICRO'24, Cascades 4 and 5; /work/shared/reference/einsum-fusemax-mappers.md §1.2):

    3-pass  QK = Q*K;  GM = max_m QK;  SN = exp(QK - GM);  SD = sum_m SN;  A = SN / SD;  AV = A*V
    2-pass  per block: BQK, local max LM, SLN = exp(BQK - LM), SLD; then GM, PRM = exp(LM - GM),
            SPD = SLD*PRM, GD = sum SPD; second pass A = SLN*PRM/GD, AV = A*V   (the reference note
            marks this cascade as reconstructed, not quoted from the paper)
    1-pass  running max RM, running denominator RD and running numerator RNV carried across m1:
            AV = RNV[M1] / RD[M1]; no tensor holds all M x P scores at once

The 1/sqrt(E) scale is applied to Q (`QS`, E x P work) before the scores. A causal prefill adds a
mask input `MASK[m,p]` (0 or -inf) to the scores. A batch whose requests have different context
lengths is one sub-cascade per distinct length (requests of equal length share the `b` rank), since an
Einsum rank has one size.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from loomsim.errors import LoomError
from loomsim.workloads.cascade import Cascade

VARIANTS = ("3pass", "2pass", "1pass")


def _check(**kw):
    for key, value in kw.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise LoomError(f"attention: {key} must be a positive integer, got {value!r}.")


def _block(m: int, block: int) -> int:
    """The block size M0 for m keys: `block` if it divides m, else the largest divisor of m below it."""
    if m % block == 0:
        return block
    return max(d for d in range(1, min(block, m) + 1) if m % d == 0)


def attention(variant: str = "1pass", *, batch: int = 1, kv_heads: int = 1, group: int = 1, head_dim: int = 64,
              queries: int = 1, keys: int = 1, causal: bool = False, block: int = 256, dtype: str = "bf16",
              suffix: str = "", bias: str | None = None) -> Cascade:
    """One attention cascade; `group` query heads share each of `kv_heads` K/V heads (1 = MHA).

    `bias` adds an input `SB[<bias>]` to the scores, e.g. "h,m,p" for T5's relative position bias or
    "b,h,m,p" for Transformer-XL's positional term; its ranks are a subset of b,h,g,m,p.
    """
    if variant not in VARIANTS:
        from loomsim.errors import closest
        hint = closest(variant, VARIANTS)
        raise LoomError(f"unknown attention variant '{variant}'; valid: {', '.join(VARIANTS)}."
                        + (f" Did you mean '{hint}'?" if hint else ""))
    _check(batch=batch, kv_heads=kv_heads, group=group, head_dim=head_dim, queries=queries, keys=keys, block=block)
    if causal and queries > keys:
        raise LoomError(f"attention: a causal prefill has queries ({queries}) <= keys ({keys}).")
    s = suffix
    lead = "b,h" + (",g" if group > 1 else "")           # query-side leading ranks
    kv = "b,h"
    sizes = {"b": batch, "h": kv_heads, "e": head_dim, "f": head_dim, "p": queries}
    if group > 1:
        sizes["g"] = group
    scale = 1.0 / math.sqrt(head_dim)
    eqs = [f"QS{s}[{lead},e,p] = Q{s}[{lead},e,p] * {scale!r}"]
    parts = {}
    if variant == "3pass":
        sizes["m"] = keys
        score = f"QK{s}"
        eqs.append(f"QK{s}[{lead},m,p] = QS{s}[{lead},e,p] * K{s}[{kv},e,m]")
        if bias:
            eqs.append(f"QKB{s}[{lead},m,p] = {score}[{lead},m,p] + SB{s}[{bias}]")
            score = f"QKB{s}"
        if causal:
            eqs.append(f"QKM{s}[{lead},m,p] = {score}[{lead},m,p] + MASK{s}[m,p]")
            score = f"QKM{s}"
        eqs += [f"GM{s}[{lead},p] = {score}[{lead},m,p] :: max",
                f"SN{s}[{lead},m,p] = exp({score}[{lead},m,p] - GM{s}[{lead},p])",
                f"SD{s}[{lead},p] = SN{s}[{lead},m,p]",
                f"A{s}[{lead},m,p] = SN{s}[{lead},m,p] / SD{s}[{lead},p]",
                f"AV{s}[{lead},f,p] = A{s}[{lead},m,p] * V{s}[{kv},f,m]"]
    else:
        m0 = _block(keys, block)
        sizes.update(m=keys, m1=keys // m0, m0=m0)
        parts = {"m": ("m1", "m0")}
        score = f"BQK{s}"
        eqs.append(f"BQK{s}[{lead},m1,m0,p] = QS{s}[{lead},e,p] * K{s}[{kv},e,m1,m0]")
        if bias:
            split = ",".join("m1,m0" if r == "m" else r for r in bias.split(","))
            eqs.append(f"BQKB{s}[{lead},m1,m0,p] = {score}[{lead},m1,m0,p] + SB{s}[{split}]")
            score = f"BQKB{s}"
        if causal:
            eqs.append(f"BQKM{s}[{lead},m1,m0,p] = {score}[{lead},m1,m0,p] + MASK{s}[m1,m0,p]")
            score = f"BQKM{s}"
        if variant == "2pass":
            eqs += [f"LM{s}[{lead},m1,p] = {score}[{lead},m1,m0,p] :: max",
                    f"SLN{s}[{lead},m1,m0,p] = exp({score}[{lead},m1,m0,p] - LM{s}[{lead},m1,p])",
                    f"SLD{s}[{lead},m1,p] = SLN{s}[{lead},m1,m0,p]",
                    f"GM{s}[{lead},p] = LM{s}[{lead},m1,p] :: max",
                    f"PRM{s}[{lead},m1,p] = exp(LM{s}[{lead},m1,p] - GM{s}[{lead},p])",
                    f"SPD{s}[{lead},m1,p] = SLD{s}[{lead},m1,p] * PRM{s}[{lead},m1,p]",
                    f"GD{s}[{lead},p] = SPD{s}[{lead},m1,p]",
                    f"A{s}[{lead},m1,m0,p] = SLN{s}[{lead},m1,m0,p] * PRM{s}[{lead},m1,p] / GD{s}[{lead},p]",
                    f"AV{s}[{lead},f,p] = A{s}[{lead},m1,m0,p] * V{s}[{kv},f,m1,m0]"]
        else:
            eqs = eqs[:1] + [f"RM{s}[{lead},0,p] = -inf", f"RD{s}[{lead},0,p] = 0",
                             f"RNV{s}[{lead},f,0,p] = 0"] + eqs[1:]
            eqs += [f"LM{s}[{lead},m1,p] = {score}[{lead},m1,m0,p] :: max",
                    f"RM{s}[{lead},m1+1,p] = max(RM{s}[{lead},m1,p], LM{s}[{lead},m1,p])",
                    f"SLN{s}[{lead},m1,m0,p] = exp({score}[{lead},m1,m0,p] - RM{s}[{lead},m1+1,p])",
                    f"SLD{s}[{lead},m1,p] = SLN{s}[{lead},m1,m0,p]",
                    f"SLNV{s}[{lead},f,m1,p] = SLN{s}[{lead},m1,m0,p] * V{s}[{kv},f,m1,m0]",
                    f"PRM{s}[{lead},m1,p] = exp(RM{s}[{lead},m1,p] - RM{s}[{lead},m1+1,p])",
                    f"SPD{s}[{lead},m1,p] = RD{s}[{lead},m1,p] * PRM{s}[{lead},m1,p]",
                    f"RD{s}[{lead},m1+1,p] = SPD{s}[{lead},m1,p] + SLD{s}[{lead},m1,p]",
                    f"SPNV{s}[{lead},f,m1,p] = RNV{s}[{lead},f,m1,p] * PRM{s}[{lead},m1,p]",
                    f"RNV{s}[{lead},f,m1+1,p] = SPNV{s}[{lead},f,m1,p] + SLNV{s}[{lead},f,m1,p]",
                    f"AV{s}[{lead},f,p] = RNV{s}[{lead},f,M1,p] / RD{s}[{lead},M1,p]"]
    return Cascade.from_text(f"attention-{variant}", eqs, sizes, default_dtype=dtype, partitions=parts)


MASKED = -1e30
"""Score added for a hidden key. Finite, as attention kernels use, so that a block of keys entirely in a
query's future gives a finite local max; its weights are then scaled to zero by PRM = exp(LM - GM)."""


def causal_mask(keys: int, queries: int) -> np.ndarray:
    """MASK[m,p]: 0 where key m is visible to query p (the queries are the last `queries` positions)."""
    m = np.arange(keys)[:, None]
    p = np.arange(queries)[None, :] + (keys - queries)
    return np.where(m <= p, 0.0, MASKED)


def ragged_attention(variant: str, context_lens: Sequence[int], *, kv_heads: int, group: int, head_dim: int,
                     queries: int = 1, causal: bool = False, block: int = 256, dtype: str = "bf16") -> Cascade:
    """A batch of requests with their own context lengths: one sub-cascade per distinct length.

    Tensors of the sub-cascade for length L carry the suffix `_L` (Q_512, K_512, AV_512, ...) and its
    `b` rank is renamed `b_L` with the number of requests of that length.
    """
    if not context_lens:
        raise LoomError("ragged attention needs at least one request (empty batch).")
    counts: dict[int, int] = {}
    for n in context_lens:
        _check(context_length=n)
        counts[n] = counts.get(n, 0) + 1
    einsums, sizes, parts = [], {}, {}
    for length, n in sorted(counts.items()):
        sub = attention(variant, batch=n, kv_heads=kv_heads, group=group, head_dim=head_dim, queries=queries,
                        keys=length, causal=causal, block=block, dtype=dtype, suffix=f"_{length}")
        rename = {r: f"{r}_{length}" for r in ("b", "m", "m1", "m0")}
        text = [_rename_ranks(str(e), rename) for e in sub.einsums]
        einsums += text
        sizes.update({rename.get(r, r): v for r, v in sub.rank_sizes.items()})
        parts.update({rename[p]: (rename[a], rename[b]) for p, (a, b) in sub.partitions.items()})
    return Cascade.from_text(f"attention-{variant}-ragged", einsums, sizes, default_dtype=dtype, partitions=parts)


def _rename_ranks(text: str, rename: dict[str, str]) -> str:
    """Rename rank names (lower-case identifiers inside subscripts) and size symbols in one equation."""
    import re

    def sub(m):
        word = m.group(0)
        if word in rename:
            return rename[word]
        if word[0].isupper() and word.lower() in rename:      # a size symbol: M1 -> M1_512
            return rename[word.lower()].upper()
        return word
    out, depth = [], 0
    for token in re.split(r"(\[|\])", text):
        if token == "[":
            depth += 1
        elif token == "]":
            depth -= 1
        elif depth > 0:
            token = re.sub(r"\b[A-Za-z_][A-Za-z_0-9]*\b", sub, token)
        out.append(token)
    return "".join(out)


def reference_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Direct softmax attention: q [..., e, p], k [..., e, m], v [..., f, m] -> [..., f, p]."""
    s = np.einsum("...ep,...em->...mp", q, k) / math.sqrt(q.shape[-2])
    if mask is not None:
        s = s + mask
    s = s - s.max(axis=-2, keepdims=True)
    w = np.exp(s)
    w = w / w.sum(axis=-2, keepdims=True)
    return np.einsum("...mp,...fm->...fp", w, v)
