"""Transformer layers as Einsum cascades: norms, attention with a KV cache, FFN, MoE, embedding, head.

A `Build` collects equations, rank sizes, data types, parameter tensors (with their shapes) and the
constant inputs a cascade needs to be evaluated (token positions, masks, RoPE tables), then freezes
them into a `Cascade`. The layer builders take a model config (`workloads.zoo.ModelConfig`: hidden,
heads, kv_heads, head_dim, ffn, ffn_type, activation, norm, norm_placement, position, bias,
parallel_block, experts, top_k, ...) and a batch described as attention groups.

Ranks: `t` the tokens of this step (every request's new tokens, concatenated), `d` hidden, `h` KV heads,
`g` query heads per KV head (GQA; absent for MHA), `e`/`f` head dimension of Q,K / V, `i` FFN width,
`x` experts, `v` vocabulary; attention group j has its own `b_j`, `p_j`, `m_j` (see `attention.py`).

Simplifications (named): norms use eps = 1e-5 whatever the checkpoint says (numerics only, no cost);
RoPE rotates every head dimension through tables (COS = 1, SIN = 0 on the dimensions partial rotary
leaves alone), so its cost counts all of them; Transformer-XL's relative shift, a re-indexing with no
arithmetic, is left out; MoE gates are a softmax over the chosen top-k logits (Mixtral's rule).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from loomsim.errors import LoomError
from loomsim.workloads.attention import MASKED, _rename_ranks, attention, causal_mask
from loomsim.workloads.cascade import Cascade

EPS = 1e-5
ACT_FN = {"gelu": "gelu", "gelu_new": "gelu_tanh", "relu": "relu", "silu": "silu"}


@dataclass(frozen=True)
class Group:
    """Requests of one attention shape: `count` requests with `queries` new tokens and `keys` context."""

    count: int
    queries: int
    keys: int


def groups_of(requests: Sequence[tuple[int, int]]) -> list[Group]:
    """(new tokens, context length incl. them) per request -> groups of equal shape, in first-seen order."""
    out: dict[tuple[int, int], int] = {}
    for q, k in requests:
        if q <= 0 or k < q:
            raise LoomError(f"a request needs >= 1 new token and a context at least that long; got ({q}, {k}).")
        out[(q, k)] = out.get((q, k), 0) + 1
    return [Group(n, q, k) for (q, k), n in out.items()]


@dataclass
class Build:
    """Equations and everything around them, accumulated while a cascade is built."""

    name: str
    dtype: str = "bf16"
    eqs: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)
    params: dict[str, tuple[int, ...]] = field(default_factory=dict)
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    partitions: dict[str, tuple[str, str]] = field(default_factory=dict)
    tensor_ranks: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def eq(self, *lines: str) -> None:
        self.eqs += lines

    def param(self, name: str, shape: tuple[int, ...]) -> str:
        self.params[name] = tuple(shape)
        return name

    def const(self, name: str, value: np.ndarray, dtype: str | None = None) -> str:
        self.constants[name] = value
        if dtype:
            self.dtypes[name] = dtype
        return name

    def cascade(self) -> Cascade:
        c = Cascade.from_text(self.name, self.eqs, self.sizes, self.dtypes, self.dtype, self.partitions,
                              self.tensor_ranks)
        tensors = c.tensors
        for p, shape in self.params.items():
            if p in tensors and tensors[p].shape != shape:
                raise AssertionError(f"parameter {p}: declared {shape}, cascade has {tensors[p].shape}")
        return c


# ---- pieces -------------------------------------------------------------------------------------

def norm(b: Build, cfg, x: str, out: str, tag: str) -> str:
    """RMSNorm or LayerNorm of x[t,d] over d, with scale (and bias) parameters named after `tag`."""
    D = cfg.hidden
    inv = repr(1.0 / D)
    scale = b.param(f"{tag}_W", (D,))
    if cfg.norm == "rmsnorm":
        b.eq(f"{out}_SQ[t] = {x}[t,d] * {x}[t,d]",
             f"{out}_RS[t] = rsqrt({out}_SQ[t] * {inv} + {EPS!r})",
             f"{out}[t,d] = {x}[t,d] * {out}_RS[t] * {scale}[d]")
    else:
        bias = b.param(f"{tag}_B", (D,))
        b.eq(f"{out}_MU[t] = {x}[t,d] * {inv}",
             f"{out}_XC[t,d] = {x}[t,d] - {out}_MU[t]",
             f"{out}_SQ[t] = {out}_XC[t,d] * {out}_XC[t,d]",
             f"{out}_RS[t] = rsqrt({out}_SQ[t] * {inv} + {EPS!r})",
             f"{out}[t,d] = {out}_XC[t,d] * {out}_RS[t] * {scale}[d] + {bias}[d]")
    return out


def linear(b: Build, cfg, x: str, out: str, w: str, in_ranks: str, out_ranks: str, shape: tuple[int, ...],
           bias_shape: tuple[int, ...] | None, bias: bool | None = None) -> str:
    """out[t,<out>] = x[t,<in>] * w[<in>,<out>] (+ bias[<out>] when the layer has biases)."""
    b.param(w, shape)
    with_bias = (cfg.bias if bias is None else bias) and bias_shape
    target = f"{out}_MM" if with_bias else out
    b.eq(f"{target}[t,{out_ranks}] = {x}[t,{in_ranks}] * {w}[{in_ranks},{out_ranks}]")
    if with_bias:
        bias = b.param(f"{w}_B", bias_shape)
        b.eq(f"{out}[t,{out_ranks}] = {target}[t,{out_ranks}] + {bias}[{out_ranks}]")
    return out


def rope_tables(head_dim: int, rotary_dim: int, positions: np.ndarray, base: float = 10000.0):
    """COS, SIN [t,e], PERM [e] and SGN [e] for rotate-half RoPE on the first `rotary_dim` dimensions."""
    half = rotary_dim // 2
    inv = base ** (-np.arange(half) * 2.0 / rotary_dim)
    ang = positions[:, None] * inv[None, :]
    cos = np.ones((len(positions), head_dim))
    sin = np.zeros((len(positions), head_dim))
    cos[:, :rotary_dim] = np.concatenate([np.cos(ang)] * 2, axis=1)
    sin[:, :rotary_dim] = np.concatenate([np.sin(ang)] * 2, axis=1)
    perm = np.arange(head_dim)
    perm[:rotary_dim] = np.concatenate([np.arange(half, rotary_dim), np.arange(half)])
    sgn = np.ones(head_dim)
    sgn[:half] = -1.0
    return cos, sin, perm, sgn


def rope(b: Build, x: str, out: str, lead: str) -> str:
    """out = x * COS + rotate_half(x) * SIN, the rotation read through the PERM index table."""
    b.eq(f"{out}_SW[t,{lead},e] = {x}[t,{lead},PERM[e]] * SGN[e]",
         f"{out}[t,{lead},e] = {x}[t,{lead},e] * COS[t,e] + {out}_SW[t,{lead},e] * SIN[t,e]")
    return out


def t5_bucket(relative: np.ndarray, buckets: int, bidirectional: bool, max_distance: int = 128) -> np.ndarray:
    """T5's relative-position bucket of key position minus query position (Raffel et al. 2020, §2.1)."""
    n = np.zeros_like(relative)
    if bidirectional:
        buckets //= 2
        n += (relative > 0) * buckets
        rel = np.abs(relative)
    else:
        rel = np.maximum(-relative, 0)
    exact = buckets // 2
    large = exact + (np.log(np.maximum(rel, 1) / exact) / np.log(max_distance / exact)
                     * (buckets - exact)).astype(int)
    return n + np.where(rel < exact, rel, np.minimum(large, buckets - 1))


def sinusoid(positions: np.ndarray, width: int) -> np.ndarray:
    """The sinusoid position table of Vaswani et al. (2017): sin on the first half, cos on the second."""
    inv = 1.0 / (10000 ** (np.arange(0, width, 2) / width))
    ang = positions[:, None] * inv[None, :]
    return np.concatenate([np.sin(ang), np.cos(ang)], axis=1)


def attention_block(b: Build, cfg, xn: str, out: str, groups: list[Group], positions: np.ndarray,
                    variant: str, causal: bool, block: int, tag: str = "", cross: str | None = None,
                    cross_cached: bool = False, rel_table: str | None = None) -> str:
    """Q/K/V projections, RoPE, per-group attention against the KV cache, output projection.

    `tag` prefixes every name (a T5 decoder has self- and cross-attention in one layer). With `cross`
    naming an encoder-output tensor ENC[s,d], keys and values come from it (group j's request covers
    `keys` rows of ENC): projected now, or, with `cross_cached`, read from a cache filled at prefill.
    `rel_table` names the T5 relative-bias table [buckets, heads] this stack shares.
    """
    H, G, E, D = cfg.kv_heads, cfg.heads // cfg.kv_heads, cfg.head_dim, cfg.hidden
    ab = getattr(cfg, "attention_bias", None)
    ab = cfg.bias if ab is None else ab
    lead = "h,g" if G > 1 else "h"
    b.sizes.update(h=H, e=E, f=E)
    if G > 1:
        b.sizes["g"] = G
    qshape = (D, H, G, E) if G > 1 else (D, H, E)
    q = linear(b, cfg, xn, f"{tag}Q", f"{tag}WQ", "d", f"{lead},e", qshape, qshape[1:], ab)
    if cross is None:
        k = linear(b, cfg, xn, f"{tag}K", f"{tag}WK", "d", "h,e", (D, H, E), (H, E), ab)
        v = linear(b, cfg, xn, f"{tag}V", f"{tag}WV", "d", "h,f", (D, H, E), (H, E), ab)
    if cfg.position == "rope":
        rot = cfg.rotary_dim or E
        cos, sin, perm, sgn = rope_tables(E, rot, positions)
        b.const("COS", cos), b.const("SIN", sin), b.const("PERM", perm, "int32"), b.const("SGN", sgn)
        q = rope(b, q, f"{tag}QR", lead)
        if cross is None:
            k = rope(b, k, f"{tag}KR", "h")
    xl = cfg.position == "relative_xl" and cross is None
    if xl:   # Transformer-XL: content term uses q + u, position term (q + v) . W_kR R  (Dai et al. 2019 §3.3)
        A = (H, G, E) if G > 1 else (H, E)
        b.param(f"{tag}RWB", A), b.param(f"{tag}RRB", A), b.param(f"{tag}WKR", (D,) + A)
        b.eq(f"{tag}QU[t,{lead},e] = {q}[t,{lead},e] + {tag}RWB[{lead},e]",
             f"{tag}QV[t,{lead},e] = {q}[t,{lead},e] + {tag}RRB[{lead},e]")
    start, enc_start = 0, 0
    for j, grp in enumerate(groups):
        s = f"_{tag.lower()}{j}"
        bias = None
        if rel_table or xl:
            bias = "h,m,p" if rel_table else f"b,{lead},m,p"
        sub = attention(variant, batch=grp.count, kv_heads=H, group=G, head_dim=E, queries=grp.queries,
                        keys=grp.keys, causal=causal and grp.queries > 1, block=block, dtype=b.dtype, suffix=s,
                        bias=bias)
        rename = {r: f"{r}{s}" for r in ("b", "m", "m1", "m0", "p")}
        b.sizes.update({rename.get(r, r): n for r, n in sub.rank_sizes.items()})
        b.partitions.update({rename[p]: (rename[a], rename[c]) for p, (a, c) in sub.partitions.items()})
        tok = np.arange(start, start + grp.count * grp.queries).reshape(grp.count, grp.queries)
        start += grp.count * grp.queries
        b.const(f"TOK{s}", tok, "int32")
        qsrc = f"{tag}QU" if xl else q
        b.eq(f"Q{s}[b{s},{lead},e,p{s}] = {qsrc}[TOK{s}[b{s},p{s}],{lead},e]")
        if cross is None:
            off = grp.keys - grp.queries
            # new keys land after the `off` cached ones; with no cache they fill it, indexed by m
            if off:
                pos, src = f"p{s}+{off}", f"TOK{s}[b{s},p{s}]"
            else:
                pos, src = f"m{s}", f"TOKM{s}[b{s},m{s}]"
                b.const(f"TOKM{s}", tok, "int32")
            b.eq(f"K{s}[b{s},h,e,{pos}] += {k}[{src},h,e]", f"V{s}[b{s},h,f,{pos}] += {v}[{src},h,f]")
        elif not cross_cached:   # cross-attention keys: this group's encoder rows, projected
            rows = np.arange(enc_start, enc_start + grp.count * grp.keys).reshape(grp.count, grp.keys)
            enc_start += grp.count * grp.keys
            b.tensor_ranks[cross] = ("s", "d")
            b.sizes["s"] = sum(g.count * g.keys for g in groups)
            b.const(f"ENCROW{s}", rows, "int32")
            for side, w in (("K", "e"), ("V", "f")):
                b.param(f"{tag}W{side}", (D, H, E))
                b.eq(f"{side}E{s}[b{s},m{s},d] = {cross}[ENCROW{s}[b{s},m{s}],d]",
                     f"{side}{s}[b{s},h,{w},m{s}] = {side}E{s}[b{s},m{s},d] * {tag}W{side}[d,h,{w}]")
        else:                    # the decoder reads the cross K/V cache filled at prefill
            for side in "KV":
                b.param(f"{tag}W{side}", (D, H, E))
        if causal and grp.queries > 1:
            b.const(f"MASK{s}", causal_mask(grp.keys, grp.queries))
        if rel_table:
            b.tensor_ranks[rel_table] = ("bkt", "h")
            b.sizes["bkt"] = cfg.relative_buckets
            rel = np.arange(grp.keys)[:, None] - (np.arange(grp.queries) + grp.keys - grp.queries)[None, :]
            b.const(f"BKT{s}", t5_bucket(rel, cfg.relative_buckets, bidirectional=not causal), "int32")
            b.eq(f"SB{s}[h,m{s},p{s}] = {rel_table}[BKT{s}[m{s},p{s}],h]")
        if xl:
            b.const(f"PE{s}", sinusoid(np.arange(grp.keys - 1, -1, -1, dtype=float), D))
            b.eq(f"QV{s}[b{s},{lead},e,p{s}] = {tag}QV[TOK{s}[b{s},p{s}],{lead},e]",
                 f"R{s}[{lead},e,m{s}] = PE{s}[m{s},d] * {tag}WKR[d,{lead},e]",
                 f"SB{s}[b{s},{lead},m{s},p{s}] = QV{s}[b{s},{lead},e,p{s}] * R{s}[{lead},e,m{s}]")
        b.eq(*(_rename_ranks(str(e), rename) for e in sub.einsums))
        b.eq(f"{tag}ATT[TOK{s}[b{s},p{s}],{lead},f] = AV{s}[b{s},{lead},f,p{s}]")
    oshape = (H, G, E, D) if G > 1 else (H, E, D)
    return linear(b, cfg, f"{tag}ATT", out, f"{tag}WO", f"{lead},f", "d", oshape, (D,), ab)


def ffn(b: Build, cfg, xn: str, out: str, kind: str) -> str:
    """An MLP (up, act, down) or a gated FFN (act(gate) * up, down)."""
    D, I = cfg.hidden, cfg.ffn
    act = ACT_FN[cfg.activation]
    b.sizes["i"] = I
    if kind == "gated":
        g = linear(b, cfg, xn, "FG", "WG", "d", "i", (D, I), (I,))
        u = linear(b, cfg, xn, "FU", "WU", "d", "i", (D, I), (I,))
        b.eq(f"FH[t,i] = {act}({g}[t,i]) * {u}[t,i]")
    else:
        u = linear(b, cfg, xn, "FU", "WU", "d", "i", (D, I), (I,))
        b.eq(f"FH[t,i] = {act}({u}[t,i])")
    return linear(b, cfg, "FH", out, "WD", "i", "d", (I, D), (D,))


def moe_block(b: Build, cfg, xn: str, out: str, routing: np.ndarray) -> str:
    """Router, top-k gates, per-expert FFNs on the tokens routed to them, weighted scatter back.

    `routing` [tokens, top_k] holds each token's chosen experts (from `moe.route` or a real router).
    Expert weights are one tensor per matrix with an expert rank x (WU_E[x,d,i]); expert j reads its
    slice WU_E[j,d,i], so every expert's parameters are in the cascade even when it gets no token.
    """
    X, D, I, T = cfg.experts, cfg.hidden, cfg.ffn, routing.shape[0]
    local = getattr(cfg, "local_experts", 0) or X      # experts on this device (expert parallelism)
    b.sizes["x"] = X
    b.sizes["xl"] = local
    b.param("WR", (D, X))
    chosen = np.full((T, X), MASKED)
    for t, row in enumerate(routing):
        chosen[t, row] = 0.0
    b.const("RMASK", chosen)
    b.eq("RL[t,x] = " + f"{xn}[t,d] * WR[d,x]",
         "RLM[t,x] = RL[t,x] + RMASK[t,x]",
         "RMX[t] = RLM[t,x] :: max",
         "REX[t,x] = exp(RLM[t,x] - RMX[t])",
         "RSM[t] = REX[t,x]",
         "GATE[t,x] = REX[t,x] / RSM[t]")
    kind = cfg.expert_ffn_kind
    act = ACT_FN[cfg.activation]
    mats = [("WU_E", ("xl", "d", "i")), ("WD_E", ("xl", "i", "d"))]
    if kind == "gated":
        mats.insert(0, ("WG_E", ("xl", "d", "i")))
    extent = {"xl": local, "d": D, "i": I}
    for name, ranks in mats:
        b.param(name, tuple(extent[r] for r in ranks))
        b.tensor_ranks[name] = ranks
    for j in range(local):
        tokens = np.nonzero((routing == j).any(axis=1))[0]
        if len(tokens) == 0:
            continue
        u = f"u{j}"
        b.sizes[u] = len(tokens)
        b.const(f"TE{j}", tokens, "int32")
        b.eq(f"XE{j}[{u},d] = {xn}[TE{j}[{u}],d]")
        if kind == "gated":
            b.eq(f"EG{j}[{u},i] = XE{j}[{u},d] * WG_E[{j},d,i]",
                 f"EU{j}[{u},i] = XE{j}[{u},d] * WU_E[{j},d,i]",
                 f"EH{j}[{u},i] = {act}(EG{j}[{u},i]) * EU{j}[{u},i]")
        else:
            b.eq(f"EU{j}[{u},i] = XE{j}[{u},d] * WU_E[{j},d,i]",
                 f"EH{j}[{u},i] = {act}(EU{j}[{u},i])")
        b.eq(f"ED{j}[{u},d] = EH{j}[{u},i] * WD_E[{j},i,d]",
             f"EW{j}[{u}] = GATE[TE{j}[{u}],{j}]",
             f"{out}[TE{j}[{u}],d] += EW{j}[{u}] * ED{j}[{u},d]")
    b.sizes["i"] = I
    return out


def layer(b: Build, cfg, x: str, out: str, groups: list[Group], positions: np.ndarray, *, moe: bool = False,
          routing: np.ndarray | None = None, variant: str = "3pass", causal: bool = True, block: int = 256,
          rel_table: str | None = None, cross: str | None = None, cross_groups: list[Group] | None = None,
          cross_cached: bool = False) -> str:
    """One transformer block on x[t,d] -> out[t,d], with the model's norm placement.

    With `cross` (a T5 decoder block), a cross-attention sub-block over the encoder output sits between
    self-attention and the FFN, pre-normed like the others; `cross_groups` give each group's encoder length.
    """
    if moe and routing is None:
        raise LoomError("an MoE layer needs a routing of tokens to experts.")

    def mix(xn, o):   # the FFN or MoE sub-block
        return moe_block(b, cfg, xn, o, routing) if moe else ffn(b, cfg, xn, o, cfg.ffn_type)

    def att(xn, o):
        return attention_block(b, cfg, xn, o, groups, positions, variant, causal, block, rel_table=rel_table)

    place = cfg.norm_placement
    if cfg.parallel_block:
        xn = norm(b, cfg, x, "N1", "LN1")
        a = att(xn, "AO")
        f = mix(xn, "FO")
        b.eq(f"{out}[t,d] = {x}[t,d] + {a}[t,d] + {f}[t,d]")
    elif place == "pre":
        a = att(norm(b, cfg, x, "N1", "LN1"), "AO")
        b.eq(f"H1[t,d] = {x}[t,d] + {a}[t,d]")
        if cross is not None:
            c = attention_block(b, cfg, norm(b, cfg, "H1", "NX", "LNX"), "CO", cross_groups, positions, variant,
                                False, block, tag="X", cross=cross, cross_cached=cross_cached)
            b.eq(f"H2[t,d] = H1[t,d] + {c}[t,d]")
            f = mix(norm(b, cfg, "H2", "N2", "LN2"), "FO")
            b.eq(f"{out}[t,d] = H2[t,d] + {f}[t,d]")
        else:
            f = mix(norm(b, cfg, "H1", "N2", "LN2"), "FO")
            b.eq(f"{out}[t,d] = H1[t,d] + {f}[t,d]")
    elif place == "post":
        a = att(x, "AO")
        b.eq(f"H0[t,d] = {x}[t,d] + {a}[t,d]")
        norm(b, cfg, "H0", "H1", "LN1")
        f = mix("H1", "FO")
        b.eq(f"H2[t,d] = H1[t,d] + {f}[t,d]")
        norm(b, cfg, "H2", out, "LN2")
    elif place == "sandwich":
        a = att(norm(b, cfg, x, "N1", "LN1"), "AO")
        b.eq(f"H1[t,d] = {x}[t,d] + {norm(b, cfg, a, 'AN', 'LN1P')}[t,d]")
        f = mix(norm(b, cfg, "H1", "N2", "LN2"), "FO")
        b.eq(f"{out}[t,d] = H1[t,d] + {norm(b, cfg, f, 'FN', 'LN2P')}[t,d]")
    else:  # pragma: no cover - the zoo validates norm_placement
        raise LoomError(f"unknown norm placement {place!r}")
    b.sizes.update(t=len(positions), d=cfg.hidden)
    return out


def positions_of(groups: list[Group]) -> np.ndarray:
    """The position of every new token in its request's sequence, in token order."""
    return np.concatenate([np.tile(np.arange(g.keys - g.queries, g.keys), g.count) for g in groups])


def layer_cascade(cfg, groups: list[Group], *, moe: bool = False, routing: np.ndarray | None = None,
                  variant: str = "3pass", causal: bool = True, block: int = 256, dtype: str = "bf16",
                  name: str = "layer") -> Build:
    """A whole block as a Build (cascade, parameters, constants), input X[t,d], output Y[t,d]."""
    b = Build(name, dtype)
    layer(b, cfg, "X", "Y", groups, positions_of(groups), moe=moe, routing=routing, variant=variant,
          causal=causal, block=block)
    return b

