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
           bias_shape: tuple[int, ...] | None) -> str:
    """out[t,<out>] = x[t,<in>] * w[<in>,<out>] (+ bias[<out>] when the model has biases)."""
    b.param(w, shape)
    target = f"{out}_MM" if (cfg.bias and bias_shape) else out
    b.eq(f"{target}[t,{out_ranks}] = {x}[t,{in_ranks}] * {w}[{in_ranks},{out_ranks}]")
    if cfg.bias and bias_shape:
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


def attention_block(b: Build, cfg, xn: str, out: str, groups: list[Group], positions: np.ndarray,
                    variant: str, causal: bool, block: int) -> str:
    """Q/K/V projections, RoPE, per-group attention against the KV cache, output projection."""
    H, G, E, D = cfg.kv_heads, cfg.heads // cfg.kv_heads, cfg.head_dim, cfg.hidden
    lead = "h,g" if G > 1 else "h"
    b.sizes.update(h=H, e=E, f=E)
    if G > 1:
        b.sizes["g"] = G
    qshape = (D, H, G, E) if G > 1 else (D, H, E)
    q = linear(b, cfg, xn, "Q", "WQ", "d", f"{lead},e", qshape, qshape[1:])
    k = linear(b, cfg, xn, "K", "WK", "d", "h,e", (D, H, E), (H, E))
    v = linear(b, cfg, xn, "V", "WV", "d", "h,f", (D, H, E), (H, E))
    if cfg.position == "rope":
        rot = cfg.rotary_dim or E
        cos, sin, perm, sgn = rope_tables(E, rot, positions)
        b.const("COS", cos), b.const("SIN", sin), b.const("PERM", perm, "int32"), b.const("SGN", sgn)
        q, k = rope(b, q, "QR", lead), rope(b, k, "KR", "h")
    start = 0
    for j, grp in enumerate(groups):
        s = f"_{j}"
        sub = attention(variant, batch=grp.count, kv_heads=H, group=G, head_dim=E, queries=grp.queries,
                        keys=grp.keys, causal=causal and grp.queries > 1, block=block, dtype=b.dtype, suffix=s)
        rename = {r: f"{r}{s}" for r in ("b", "m", "m1", "m0", "p")}
        b.sizes.update({rename.get(r, r): n for r, n in sub.rank_sizes.items()})
        b.partitions.update({rename[p]: (rename[a], rename[c]) for p, (a, c) in sub.partitions.items()})
        tok = np.arange(start, start + grp.count * grp.queries).reshape(grp.count, grp.queries)
        start += grp.count * grp.queries
        b.const(f"TOK{s}", tok, "int32")
        off = grp.keys - grp.queries
        # new keys land after the `off` cached ones; with no cache they fill it, indexed by m
        if off:
            pos, src = f"p{s}+{off}", f"TOK{s}[b{s},p{s}]"
        else:
            pos, src = f"m{s}", f"TOKM{s}[b{s},m{s}]"
            b.const(f"TOKM{s}", tok, "int32")
        b.eq(f"Q{s}[b{s},{lead},e,p{s}] = {q}[TOK{s}[b{s},p{s}],{lead},e]",
             f"K{s}[b{s},h,e,{pos}] += {k}[{src},h,e]",
             f"V{s}[b{s},h,f,{pos}] += {v}[{src},h,f]")
        if causal and grp.queries > 1:
            b.const(f"MASK{s}", causal_mask(grp.keys, grp.queries))
        b.eq(*(_rename_ranks(str(e), rename) for e in sub.einsums))
        b.eq(f"ATT[TOK{s}[b{s},p{s}],{lead},f] = AV{s}[b{s},{lead},f,p{s}]")
    oshape = (H, G, E, D) if G > 1 else (H, E, D)
    return linear(b, cfg, "ATT", out, "WO", f"{lead},f", "d", oshape, (D,))


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
    b.sizes["x"] = X
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
    mats = [("WU_E", ("x", "d", "i")), ("WD_E", ("x", "i", "d"))]
    if kind == "gated":
        mats.insert(0, ("WG_E", ("x", "d", "i")))
    extent = {"x": X, "d": D, "i": I}
    for name, ranks in mats:
        b.param(name, tuple(extent[r] for r in ranks))
        b.tensor_ranks[name] = ranks
    for j in range(X):
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
          routing: np.ndarray | None = None, variant: str = "3pass", causal: bool = True, block: int = 256) -> str:
    """One transformer block on x[t,d] -> out[t,d], with the model's norm placement."""
    if moe and routing is None:
        raise LoomError("an MoE layer needs a routing of tokens to experts.")

    def mix(xn, o):   # the FFN or MoE sub-block
        return moe_block(b, cfg, xn, o, routing) if moe else ffn(b, cfg, xn, o, cfg.ffn_type)

    place = cfg.norm_placement
    if cfg.parallel_block:
        xn = norm(b, cfg, x, "N1", "LN1")
        a = attention_block(b, cfg, xn, "AO", groups, positions, variant, causal, block)
        f = mix(xn, "FO")
        b.eq(f"{out}[t,d] = {x}[t,d] + {a}[t,d] + {f}[t,d]")
    elif place == "pre":
        a = attention_block(b, cfg, norm(b, cfg, x, "N1", "LN1"), "AO", groups, positions, variant, causal, block)
        b.eq(f"H1[t,d] = {x}[t,d] + {a}[t,d]")
        f = mix(norm(b, cfg, "H1", "N2", "LN2"), "FO")
        b.eq(f"{out}[t,d] = H1[t,d] + {f}[t,d]")
    elif place == "post":
        a = attention_block(b, cfg, x, "AO", groups, positions, variant, causal, block)
        b.eq(f"H0[t,d] = {x}[t,d] + {a}[t,d]")
        norm(b, cfg, "H0", "H1", "LN1")
        f = mix("H1", "FO")
        b.eq(f"H2[t,d] = H1[t,d] + {f}[t,d]")
        norm(b, cfg, "H2", out, "LN2")
    elif place == "sandwich":
        a = attention_block(b, cfg, norm(b, cfg, x, "N1", "LN1"), "AO", groups, positions, variant, causal, block)
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

