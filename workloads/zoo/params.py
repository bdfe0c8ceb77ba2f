"""Closed-form parameter counts of zoo models, term by term, from the shapes alone.

With d = hidden, A = heads x head_dim, K = kv_heads x head_dim, F = ffn, V = vocab, b = 1 if the
FFN (and router and LM head) linear layers carry biases, b_att the
same for the attention projections (else 0), and n(x) = 2x for LayerNorm (scale and bias), x for RMSNorm:

    attention per layer    d*A + 2*d*K + A*d        + b_att*(A + 2K + d)     (Q, K, V, O)
      relative_xl adds     d*A + 2*A                                         (W_k,R; biases u, v)
    FFN per layer  mlp     2*d*F                         + b*(F + d)
                   gated   3*d*F                         + b*(2F + d)
    MoE layer              experts x FFN(expert type) + router d*experts (+ b*experts)
    norms per layer        n(d) x (2 | 1 parallel block | 4 sandwich | 3 in a T5 decoder block)
    embedding              V*d  (adaptive, div > 1: sum_i n_i * d/div^i + projections d * d/div^i)
    position               learned: (max_positions + offset)*d; relative_bias: buckets*heads per stack
    final norm             n(d) for pre-norm and sandwich stacks (one per stack)
    LM head                untied decoders: V*d + b*V; tied: none; adaptive softmax: V biases,
                           cluster logits (d + 1 each), the untied head projection d*d if div > 1
    extras                 token types T*d, embedding norm n(d), pooler d*d + d

Active parameters per token replace `experts` by `top_k` in every MoE layer.
"""
from __future__ import annotations

from loomsim.workloads.zoo.config import CompositionConfig, ModelConfig


def _norm(cfg: ModelConfig) -> int:
    return (2 if cfg.norm == "layernorm" else 1) * cfg.hidden


def _linear(n_in: int, n_out: int, bias: bool) -> int:
    return n_in * n_out + (n_out if bias else 0)


def attention_params(cfg: ModelConfig, cross: bool = False) -> int:
    """One attention block: Q, K, V and output projections, plus relative-position weights."""
    d, a, k, b = cfg.hidden, cfg.attention_dim, cfg.kv_dim, cfg.attention_bias
    n = _linear(d, a, b) + 2 * _linear(d, k, b) + _linear(a, d, b)
    if cfg.position == "relative_xl" and not cross:
        n += d * a + 2 * a  # W_k,R projects the sinusoid table (no bias); u and v, untied per layer
    return n


def ffn_params(cfg: ModelConfig, kind: str | None = None) -> int:
    """One FFN (or one expert) of the given type: up (and gate) then down projection."""
    kind = kind or cfg.ffn_type
    d, f, b = cfg.hidden, cfg.ffn, cfg.bias
    ups = 2 if kind == "gated" else 1
    return ups * _linear(d, f, b) + _linear(f, d, b)


def router_params(cfg: ModelConfig) -> int:
    return _linear(cfg.hidden, cfg.experts, cfg.bias) if cfg.is_moe else 0


def norms_per_layer(cfg: ModelConfig) -> int:
    if cfg.parallel_block:
        return 1
    return 4 if cfg.norm_placement == "sandwich" else 2


def embedding_params(cfg: ModelConfig) -> int:
    """Token embedding. An adaptive input (div > 1) gives cluster i rows of width hidden / div^i,
    each cluster projected back to hidden; with div = 1 it is one plain table."""
    if not cfg.adaptive_cutoffs or cfg.adaptive_div == 1:
        return cfg.vocab * cfg.hidden
    bounds = (0,) + tuple(cfg.adaptive_cutoffs) + (cfg.vocab,)
    total = 0
    for i in range(len(bounds) - 1):
        width = cfg.hidden // cfg.adaptive_div ** i
        total += (bounds[i + 1] - bounds[i]) * width + cfg.hidden * width  # table + projection to hidden
    return total


def lm_head_params(cfg: ModelConfig) -> int:
    """The output projection of a decoder. Tied heads reuse the embedding; an adaptive softmax
    (Transformer-XL) still owns its biases, its cluster logits and the untied head-cluster projection
    (tie_projs[0] is false in the released checkpoint)."""
    if cfg.kind != "decoder":
        return 0
    if cfg.adaptive_cutoffs:
        clusters = len(cfg.adaptive_cutoffs)
        head_projection = cfg.hidden * cfg.hidden if cfg.adaptive_div > 1 else 0
        return cfg.vocab + clusters * (cfg.hidden + 1) + head_projection
    if cfg.tied_embeddings:
        return 0
    return _linear(cfg.hidden, cfg.vocab, cfg.bias)


def param_count(cfg: ModelConfig) -> dict[str, int]:
    """Closed-form parameter count by term (see the module docstring); 'total' is their sum."""
    d = cfg.hidden
    moe = set(cfg.moe_layers())
    dense_layers = cfg.layers - len(moe)
    out = {
        "embedding": embedding_params(cfg) + cfg.token_types * d + (_norm(cfg) if cfg.embedding_norm else 0),
        "position_embedding": 0,
        "attention": cfg.layers * attention_params(cfg),
        "ffn": dense_layers * ffn_params(cfg),
        "experts": len(moe) * cfg.experts * ffn_params(cfg, cfg.expert_ffn_kind),
        "router": len(moe) * router_params(cfg),
        "norms": cfg.layers * norms_per_layer(cfg) * _norm(cfg),
        "final_norm": _norm(cfg) if cfg.final_norm else 0,
        "lm_head": lm_head_params(cfg),
        "pooler": _linear(d, d, True) if cfg.pooler else 0,
    }
    stacks = 1
    if cfg.decoder_layers:
        # T5 decoder block: self-attention, cross-attention, FFN, three norms; its own final norm.
        stacks = 2
        out["attention"] += cfg.decoder_layers * (attention_params(cfg) + attention_params(cfg, cross=True))
        out["ffn"] += cfg.decoder_layers * ffn_params(cfg)
        out["norms"] += cfg.decoder_layers * 3 * _norm(cfg)
        out["final_norm"] *= 2
    if cfg.position == "learned":
        out["position_embedding"] = (cfg.max_positions + cfg.position_offset) * d
    elif cfg.position == "relative_bias":
        out["position_embedding"] = stacks * cfg.relative_buckets * cfg.heads  # first layer of each stack
    out["total"] = sum(out.values())
    return out


def active_param_count(cfg: ModelConfig) -> int:
    """Parameters one token touches: all but the experts it is not routed to."""
    total = param_count(cfg)["total"]
    if not cfg.is_moe:
        return total
    idle = (cfg.experts - cfg.top_k) * ffn_params(cfg, cfg.expert_ffn_kind)
    return total - len(cfg.moe_layers()) * idle


def composition_param_count(comp: CompositionConfig, models: dict[str, ModelConfig]) -> dict[str, int]:
    """Router plus every expert copy; 'active' is the router plus top_k of the largest experts."""
    router = param_count(models[comp.router])["total"]
    sizes = sorted((param_count(models[name])["total"] for name, n in comp.experts for _ in range(n)),
                   reverse=True)
    return {"router": router, "experts": sum(sizes), "total": router + sum(sizes),
            "active": router + sum(sizes[:comp.top_k])}
