"""Whole models as workloads: phases (prefill, decode, mixed) built into stages of cascades.

A `ModelWorkload` is an ordered list of `Stage`s — the embedding, each distinct kind of layer with the
number of times it repeats, the final norm and head — so identical layers are expressed once with a
count, never copied. Each stage carries its cascade, the shapes of its parameter tensors and the
constant inputs (token ids, positions, masks) that make it evaluable.

Requests are (new tokens, context length including them): prefill of a prompt of L tokens is (L, L);
a decode step with context L is (1, L) — the new token attends to L keys, itself included; a mixed
continuous-batching step holds both. The LM head runs on each request's last new token only.

Simplifications (named): every MoE layer of a step shares one routing draw (so the identical layers
stay identical); an adaptive softmax (Transformer-XL) computes its head cluster for every token and
no tail cluster (which tails run depends on the data); the encoder of an encoder-decoder model runs
in prefill, whose decoder then takes its first step; positions beyond a learned position table reuse
its rows (`max_positions` is what the checkpoint was trained for, not a limit on what one simulates).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from loomsim.errors import LoomError, choices_text, closest
from loomsim.workloads.cascade import Cascade, Counts
from loomsim.workloads.layers import Build, Group, groups_of, layer, norm, positions_of, sinusoid
from loomsim.workloads.moe import route

PHASES = ("prefill", "decode", "mixed")


@dataclass(frozen=True)
class Stage:
    """A cascade run `count` times in a row (identical layers), with its parameters and constants."""

    name: str
    cascade: Cascade
    count: int
    params: Mapping[str, tuple[int, ...]]
    constants: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def param_elements(self) -> int:
        return sum(prod(s) for s in self.params.values())


@dataclass(frozen=True)
class ModelWorkload:
    """A model in one phase of serving: its requests and its stages."""

    model: str
    phase: str
    requests: tuple[tuple[int, int], ...]
    stages: tuple[Stage, ...]

    @property
    def tokens(self) -> int:
        return sum(q for q, _ in self.requests)

    def parameters(self) -> int:
        """Parameters of the model, from the stages' parameter tensors (a repeated stage counts each copy)."""
        return sum(s.count * s.param_elements for s in self.stages)

    def totals(self) -> Counts:
        """Work and per-Einsum traffic over every stage, repetitions included."""
        total = Counts()
        for s in self.stages:
            for e in s.cascade.einsums:
                total = total + s.cascade.counts(e).scaled(s.count)
        return total

    def einsum_table(self) -> pd.DataFrame:
        """One row per Einsum: stage, repetitions, equation, shapes, MACs, FLOPs, bytes, Op/B."""
        rows = []
        for s in self.stages:
            tensors = s.cascade.tensors
            for e in s.cascade.einsums:
                n = s.cascade.counts(e)
                shape = ", ".join(f"{a.tensor}{list(tensors[a.tensor].shape)}"
                                  for a in dict.fromkeys((e.output,) + e.inputs))
                rows.append({"stage": s.name, "count": s.count, "einsum": str(e), "tensors": shape,
                             "macs": n.macs, "flops": n.flops, "bytes": n.bytes,
                             "intensity": n.intensity if n.bytes else float("nan")})
        return pd.DataFrame(rows)


# ---- stages -------------------------------------------------------------------------------------

def _freeze(name: str, b: Build, count: int = 1) -> Stage:
    return Stage(name, b.cascade(), count, dict(b.params), dict(b.constants))


class Shard:
    """One device's share of a model under tensor and expert parallelism, as a shape transform.

    Tensor parallelism over `tp` devices splits attention heads (KV heads too, or replicates them when
    there are fewer KV heads than devices), the FFN width, each expert's width and the vocabulary of the
    embedding and LM head (padded up, as Megatron does); expert parallelism over `ep` devices places
    experts / ep whole experts on each device, while every device still runs the router over all
    experts. Norms are replicated. The collectives that join the shards are communication, not Einsums.
    """

    def __init__(self, cfg, tp: int = 1, ep: int = 1):
        for name, n in (("tp", tp), ("ep", ep)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise LoomError(f"{name} must be a positive integer, got {n!r}.")
        if cfg.heads % tp:
            raise LoomError(f"{cfg.name}: tensor parallelism {tp} does not divide its {cfg.heads} attention heads.")
        if cfg.kv_heads % tp and tp % cfg.kv_heads:
            raise LoomError(f"{cfg.name}: {cfg.kv_heads} KV heads can be neither split nor replicated over {tp} devices.")
        if cfg.ffn % tp:
            raise LoomError(f"{cfg.name}: tensor parallelism {tp} does not divide its FFN width {cfg.ffn}.")
        if ep > 1 and (not cfg.experts or cfg.experts % ep):
            raise LoomError(f"{cfg.name}: expert parallelism {ep} needs a number of experts it divides "
                            f"(the model has {cfg.experts}).")
        self._cfg, self.tp, self.ep = cfg, tp, ep
        self.heads = cfg.heads // tp
        self.kv_heads = max(1, cfg.kv_heads // tp)
        self.ffn = cfg.ffn // tp
        self.vocab = -(-cfg.vocab // tp)
        self.local_experts = cfg.experts // ep if cfg.experts else 0
        self.name = cfg.name if tp == ep == 1 else f"{cfg.name} (tp {tp}, ep {ep})"

    def __getattr__(self, attr):
        return getattr(self._cfg, attr)


def embedding_stage(cfg, groups: list[Group], rng: np.random.Generator, dtype: str) -> Stage:
    """Token (or adaptive) embedding, absolute positions, token types, embedding norm -> Y[t,d]."""
    b = Build("embedding", dtype)
    T, D = sum(g.count * g.queries for g in groups), cfg.hidden
    b.sizes.update(t=T, d=D)
    ids = rng.integers(0, cfg.vocab, size=T)
    terms = []
    cuts = tuple(getattr(cfg, "adaptive_cutoffs", ()) or ())
    div = getattr(cfg, "adaptive_div", 1)
    if cuts and div > 1:   # Transformer-XL adaptive input: cluster i is hidden / div^i wide, projected back
        bounds = (0,) + cuts + (cfg.vocab,)
        for i in range(len(bounds) - 1):
            width = D // div ** i
            b.param(f"EMB{i}", (bounds[i + 1] - bounds[i], width)), b.param(f"EPROJ{i}", (width, D))
            rows = np.nonzero((ids >= bounds[i]) & (ids < bounds[i + 1]))[0]
            if len(rows) == 0:      # no token of this step falls in the cluster: parameters only
                continue
            b.tensor_ranks[f"EMB{i}"] = (f"vc{i}", f"w{i}")
            b.sizes.update({f"vc{i}": bounds[i + 1] - bounds[i], f"w{i}": width})
            u = f"uc{i}"
            b.sizes[u] = len(rows)
            b.const(f"CID{i}", ids[rows] - bounds[i], "int32"), b.const(f"CROW{i}", rows, "int32")
            b.eq(f"CE{i}[{u},w{i}] = EMB{i}[CID{i}[{u}],w{i}]",
                 f"XT[CROW{i}[{u}],d] += CE{i}[{u},w{i}] * EPROJ{i}[w{i},d]")
        terms.append("XT")
    else:
        b.param("WTE", (cfg.vocab, D))
        b.sizes["v"] = cfg.vocab
        b.tensor_ranks["WTE"] = ("v", "d")
        b.const("TOKID", ids, "int32")
        b.eq("XT[t,d] = WTE[TOKID[t],d]")
        terms.append("XT")
    pos = positions_of(groups)
    if cfg.position == "learned":
        rows = cfg.max_positions + getattr(cfg, "position_offset", 0)
        b.param("WPE", (rows, D))
        b.sizes["pos"] = rows
        b.tensor_ranks["WPE"] = ("pos", "d")
        # positions past the learned table reuse its rows (FuseMax runs BERT shapes at 1M tokens)
        b.const("POSID", pos % cfg.max_positions + getattr(cfg, "position_offset", 0), "int32")
        b.eq("XP[t,d] = WPE[POSID[t],d]")
        terms.append("XP")
    elif cfg.position == "sinusoidal":
        b.const("SINUS", sinusoid(pos.astype(float), D))
        terms.append("SINUS")
    if getattr(cfg, "token_types", 0):
        b.param("WTT", (cfg.token_types, D))
        b.sizes["tt"] = cfg.token_types
        b.tensor_ranks["WTT"] = ("tt", "d")
        b.const("TTID", np.zeros(T, dtype=int), "int32")
        b.eq("XTT[t,d] = WTT[TTID[t],d]")
        terms.append("XTT")
    if cfg.position == "relative_bias":     # T5: one bias table per stack, in its first layer
        stacks = 2 if getattr(cfg, "decoder_layers", 0) else 1
        for k in range(stacks):
            b.param(f"RTAB{k}", (cfg.relative_buckets, cfg.heads))
    out = "Y"
    if len(terms) == 1 and not getattr(cfg, "embedding_norm", False):
        b.eq(f"Y[t,d] = {terms[0]}[t,d]")
    else:
        summed = "XS" if getattr(cfg, "embedding_norm", False) else "Y"
        b.eq(f"{summed}[t,d] = " + " + ".join(f"{x}[t,d]" for x in terms))
        if getattr(cfg, "embedding_norm", False):
            norm(b, cfg, "XS", out, "LNE")
    return _freeze("embedding", b)


def head_stage(cfg, groups: list[Group], dtype: str, encoder_only: bool) -> Stage:
    """Final norm, then the LM head on each request's last new token (or BERT's pooler)."""
    b = Build("head", dtype)
    T, D = sum(g.count * g.queries for g in groups), cfg.hidden
    b.sizes.update(t=T, d=D)
    x = "X"
    if cfg.final_norm:
        x = norm(b, cfg, "X", "XF", "LNF")
    last, first, t0 = [], [], 0
    for g in groups:
        for _ in range(g.count):
            first.append(t0)
            last.append(t0 + g.queries - 1)
            t0 += g.queries
    b.tensor_ranks[x] = ("t", "d")
    if encoder_only:
        if getattr(cfg, "pooler", False):
            b.sizes["r"] = len(last)
            b.const("FIRST", np.array(first), "int32")
            b.param("WPOOL", (D, D)), b.param("WPOOL_B", (D,))
            b.sizes["c"] = D
            b.eq(f"PX[r,d] = {x}[FIRST[r],d]", "PM[r,c] = PX[r,d] * WPOOL[d,c]",
                 "POOL[r,c] = tanh(PM[r,c] + WPOOL_B[c])")
        else:
            b.eq(f"OUT[t,d] = {x}[t,d]")
        return _freeze("head", b)
    b.sizes["r"] = len(last)
    b.const("LAST", np.array(last), "int32")
    b.eq(f"LX[r,d] = {x}[LAST[r],d]")
    cuts = tuple(getattr(cfg, "adaptive_cutoffs", ()) or ())
    if cuts:   # adaptive softmax: head cluster (tied to EMB0, projected), cluster logits, biases
        n = len(cuts)
        # one bias per vocabulary entry: the head cluster's, used here, and the tail clusters'
        b.param("ASM_B", (cuts[0],)), b.param("ASM_BT", (cfg.vocab - cuts[0],))
        b.param("ASM_CW", (n, D)), b.param("ASM_CB", (n,))
        b.sizes.update(vc0=cuts[0], cl=n)
        if getattr(cfg, "adaptive_div", 1) > 1:
            b.param("ASM_P0", (D, D))
            b.sizes["dd"] = D
            b.tensor_ranks["ASM_P0"] = ("d", "dd")
            b.eq("LP[r,dd] = LX[r,d] * ASM_P0[d,dd]", "LH[r,vc0] = LP[r,dd] * EMB0[vc0,dd]")
        else:
            b.eq("LH[r,vc0] = LX[r,d] * EMB0[vc0,d]")
        b.eq("LHB[r,vc0] = LH[r,vc0] + ASM_B[vc0]", "LC[r,cl] = LX[r,d] * ASM_CW[cl,d]",
             "LCB[r,cl] = LC[r,cl] + ASM_CB[cl]")
        b.tensor_ranks["EMB0"] = ("vc0", "dd" if getattr(cfg, "adaptive_div", 1) > 1 else "d")
        return _freeze("head", b)
    b.sizes["v"] = cfg.vocab
    if cfg.tied_embeddings:
        b.eq("LOGIT[r,v] = LX[r,d] * WTE[v,d]")
    else:
        b.param("WLM", (D, cfg.vocab))
        b.eq("LOGIT_MM[r,v] = LX[r,d] * WLM[d,v]" if cfg.bias else "LOGIT[r,v] = LX[r,d] * WLM[d,v]")
        if cfg.bias:
            b.param("WLM_B", (cfg.vocab,))
            b.eq("LOGIT[r,v] = LOGIT_MM[r,v] + WLM_B[v]")
    return _freeze("head", b)


def layer_stages(cfg, groups: list[Group], *, variant: str, block: int, dtype: str, rng: np.random.Generator,
                 distribution: str, causal: bool, prefix: str = "", rel_table: str | None = None,
                 cross_groups: list[Group] | None = None, cross_cached: bool = False,
                 layers: int | None = None) -> list[Stage]:
    """The dense and MoE layer stages of one stack, each built once with its repeat count."""
    n = cfg.layers if layers is None else layers
    moe = set(cfg.moe_layers()) if not prefix else set()
    out = []
    T = sum(g.count * g.queries for g in groups)
    pos = positions_of(groups)
    cross = "ENC" if cross_groups else None
    if n - len(moe):
        b = Build(f"{prefix}layer", dtype)
        layer(b, cfg, "X", "Y", groups, pos, variant=variant, causal=causal, block=block, rel_table=rel_table,
              cross=cross, cross_groups=cross_groups, cross_cached=cross_cached)
        out.append(_freeze(f"{prefix}layer", b, n - len(moe)))
    if moe:
        routing = route(T, cfg.experts, cfg.top_k, rng, distribution)
        b = Build(f"{prefix}moe_layer", dtype)
        layer(b, cfg, "X", "Y", groups, pos, moe=True, routing=routing, variant=variant, causal=causal,
              block=block, rel_table=rel_table)
        out.append(_freeze(f"{prefix}moe_layer", b, len(moe)))
    return out


# ---- the front door -----------------------------------------------------------------------------

def build(cfg, phase: str, requests: Sequence[tuple[int, int]], *, variant: str = "3pass", block: int = 256,
          dtype: str = "bf16", weight_dtype: str | None = None, distribution: str = "uniform", seed: int = 0,
          tp: int = 1, ep: int = 1) -> ModelWorkload:
    """A model (a zoo config or its name) in one phase over the given requests ((new tokens, context) each).

    `dtype` is the activations' (and KV cache's) data type, `weight_dtype` the parameters' (default the
    same; e.g. a BitMoD format); `tp` and `ep` build one device's shard (see `Shard`).
    """
    if isinstance(cfg, str):
        from loomsim.workloads.zoo import get_model
        cfg = get_model(cfg)
    from loomsim.dtypes import dtype as check_dtype
    check_dtype(dtype)
    if weight_dtype is not None:
        check_dtype(weight_dtype)
    if tp != 1 or ep != 1:
        cfg = Shard(cfg, tp, ep)
    global_weight = weight_dtype
    if phase not in PHASES:
        hint = closest(phase, PHASES)
        raise LoomError(f"unknown phase '{phase}'; valid phases: {choices_text(PHASES)}."
                        + (f" Did you mean '{hint}'?" if hint else ""))
    if not requests:
        raise LoomError(f"{cfg.name}: a {phase} step needs at least one request (batch 0 is empty).")
    rng = np.random.default_rng(seed)
    groups = groups_of(requests)
    kind = cfg.kind
    if kind == "encoder" and phase != "prefill":
        raise LoomError(f"{cfg.name} is an encoder: it has a prefill (encode) phase only, not {phase}.")
    stages = [embedding_stage(cfg, groups, rng, dtype)]
    common = dict(variant=variant, block=block, dtype=dtype, rng=rng, distribution=distribution)
    rel = "RTAB0" if cfg.position == "relative_bias" else None
    if kind == "encoder-decoder":
        if phase != "prefill":
            # decode steps of the decoder only: cross-attention reads the K/V cache of the encoded prompt
            dec = [Group(g.count, 1, g.keys) for g in groups]
            stages += layer_stages(cfg, dec, causal=True, prefix="decoder_", rel_table="RTAB1",
                                   cross_groups=[Group(g.count, 1, g.keys) for g in groups], cross_cached=True,
                                   layers=cfg.decoder_layers, **common)
        else:
            stages += layer_stages(cfg, groups, causal=False, rel_table=rel, **common)
            first = [Group(g.count, 1, 1) for g in groups]
            stages.append(_encoder_norm(cfg, groups, dtype))
            stages += layer_stages(cfg, first, causal=True, prefix="decoder_", rel_table="RTAB1",
                                   cross_groups=[Group(g.count, 1, g.keys) for g in groups],
                                   layers=cfg.decoder_layers, **common)
        stages.append(head_stage(cfg, [Group(g.count, 1, 1) for g in groups], dtype, encoder_only=False))
        return ModelWorkload(cfg.name, phase, tuple(requests), tuple(_weights_in(s, global_weight) for s in stages))
    stages += layer_stages(cfg, groups, causal=kind == "decoder", rel_table=rel, **common)
    stages.append(head_stage(cfg, groups, dtype, encoder_only=kind == "encoder"))
    return ModelWorkload(cfg.name, phase, tuple(requests), tuple(_weights_in(s, global_weight) for s in stages))


def _weights_in(stage: Stage, weight_dtype: str | None) -> Stage:
    """The stage with its parameter tensors stored in `weight_dtype` (activations keep theirs)."""
    if weight_dtype is None:
        return stage
    c = stage.cascade
    present = [p for p in stage.params if p in c.tensors]
    dtypes = {**c.dtypes, **{p: weight_dtype for p in present}}
    recast = Cascade(c.name, c.einsums, c.rank_sizes, dtypes, c.default_dtype, c.partitions, c.tensor_ranks)
    return Stage(stage.name, recast, stage.count, stage.params, stage.constants)


def _encoder_norm(cfg, groups: list[Group], dtype: str) -> Stage:
    b = Build("encoder_final_norm", dtype)
    b.sizes.update(t=sum(g.count * g.queries for g in groups), d=cfg.hidden)
    norm(b, cfg, "X", "ENC", "LNFE")
    return _freeze("encoder_final_norm", b)


def prefill(cfg, prompt_lens: Sequence[int], **kw) -> ModelWorkload:
    return build(cfg, "prefill", [(n, n) for n in prompt_lens], **kw)


def decode(cfg, context_lens: Sequence[int], **kw) -> ModelWorkload:
    return build(cfg, "decode", [(1, n) for n in context_lens], **kw)


def mixed(cfg, prompt_lens: Sequence[int], context_lens: Sequence[int], **kw) -> ModelWorkload:
    """One continuous-batching step: some requests prefill their prompt, the others decode."""
    return build(cfg, "mixed", [(n, n) for n in prompt_lens] + [(1, n) for n in context_lens], **kw)
