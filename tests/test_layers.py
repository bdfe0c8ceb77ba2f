"""Whole transformer blocks, interpreted, against a straightforward numpy implementation."""
from types import SimpleNamespace

import numpy as np
import pytest

import reference_layers as ref
from loomsim.workloads import run_cascade
from loomsim.workloads.layers import groups_of, layer_cascade, positions_of
from loomsim.workloads.moe import expert_counts, route

BASE = dict(kind="decoder", rotary_dim=None, parallel_block=False, experts=0, top_k=0, moe_every=1,
            expert_ffn_type=None, norm_placement="pre")
CONFIGS = {
    # Llama-style: RMSNorm, RoPE, SwiGLU, GQA (2 query heads per KV head), no biases
    "llama": dict(hidden=16, heads=4, kv_heads=2, head_dim=4, ffn=24, ffn_type="gated", activation="silu",
                  norm="rmsnorm", position="rope", bias=False),
    # GPT-style: LayerNorm, GELU (tanh), MHA, biases, learned positions (at the embedding, not here)
    "gpt": dict(hidden=16, heads=4, kv_heads=4, head_dim=4, ffn=32, ffn_type="mlp", activation="gelu_new",
                norm="layernorm", position="learned", bias=True),
    # Phi-2-style parallel block with partial rotary
    "phi": dict(hidden=16, heads=2, kv_heads=2, head_dim=8, ffn=24, ffn_type="mlp", activation="gelu_new",
                norm="layernorm", position="rope", bias=True, parallel_block=True, rotary_dim=4),
    # BERT-style post-norm, exact GELU
    "bert": dict(hidden=16, heads=4, kv_heads=4, head_dim=4, ffn=32, ffn_type="mlp", activation="gelu",
                 norm="layernorm", position="learned", bias=True, norm_placement="post"),
    # Grok-1-style sandwich norms
    "sandwich": dict(hidden=16, heads=4, kv_heads=1, head_dim=4, ffn=16, ffn_type="gated", activation="gelu",
                     norm="rmsnorm", position="rope", bias=False, norm_placement="sandwich"),
}
# two decodes against a cache, a whole prompt, and a chunk of a prompt whose start is cached
REQUESTS = [(1, 5), (1, 5), (3, 3), (2, 6)]


def config(name, **over):
    cfg = SimpleNamespace(**{**BASE, **CONFIGS[name], **over})
    cfg.expert_ffn_kind = cfg.expert_ffn_type or cfg.ffn_type
    return cfg


def setup(cfg, routing=None, variant="3pass", seed=0):
    groups = groups_of(REQUESTS)
    rng = np.random.default_rng(seed)
    probe = layer_cascade(cfg, groups, moe=routing is not None, routing=routing, variant=variant, block=2)
    c = probe.cascade()
    w = {t: rng.standard_normal(c.tensors[t].shape) * 0.5 for t in c.inputs if t not in probe.constants}
    past = []
    for j, g in enumerate(groups):
        for side in "KV":
            cache = rng.standard_normal((g.count, cfg.kv_heads, cfg.head_dim, g.keys))
            cache[..., g.keys - g.queries:] = 0.0          # the new tokens' slots, filled by the layer
            w[f"{side}_{j}"] = cache
        past += [(w[f"K_{j}"][r][..., :g.keys - g.queries], w[f"V_{j}"][r][..., :g.keys - g.queries])
                 for r in range(g.count)]
    reqs = [(g.queries, g.keys) for g in groups for _ in range(g.count)]
    return groups, w, past, reqs, positions_of(groups).astype(float)


@pytest.mark.parametrize("variant", ["3pass", "1pass"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_decoder_layer_equals_numpy(name, variant):
    cfg = config(name)
    groups, w, past, reqs, pos = setup(cfg, variant=variant)
    build = layer_cascade(cfg, groups, variant=variant, block=2, causal=name != "bert")
    out = run_cascade(build.cascade(), {**w, **build.constants})
    y = ref.layer(cfg, w, w["X"], reqs, pos, past, causal=name != "bert")   # BERT: bidirectional
    assert np.max(np.abs(out["Y"] - y)) / np.max(np.abs(y)) < 1e-5


@pytest.mark.parametrize("ffn_type", ["gated", "mlp"])
def test_moe_layer_equals_numpy(ffn_type):
    cfg = config("llama", experts=4, top_k=2, ffn=12, ffn_type=ffn_type)
    cfg.expert_ffn_kind = ffn_type
    groups, w, past, reqs, pos = setup(cfg, routing=np.zeros((5, 2), dtype=int) + [0, 1])
    # route by the real router: top-2 of the logits the reference computes
    h = w["X"] + ref.attention(cfg, w, ref.norm(cfg, w, w["X"], "LN1"), reqs, pos, past)
    routing = np.argsort(-(ref.norm(cfg, w, h, "LN2") @ w["WR"]), axis=1)[:, :2]
    build = layer_cascade(cfg, groups, moe=True, routing=routing, block=2)
    out = run_cascade(build.cascade(), {**w, **build.constants})
    y = ref.layer(cfg, w, w["X"], reqs, pos, past, routing=routing)
    assert np.max(np.abs(out["Y"] - y)) / np.max(np.abs(y)) < 1e-5
    assert build.params["WU_E"] == (4, 16, 12)      # every expert's weights, even an idle one's


def test_routing_distributions():
    rng = np.random.default_rng(0)
    r = route(20000, 8, 2, rng)
    assert all(len(set(row)) == 2 for row in r[:100])
    counts = expert_counts(r, 8)
    assert counts.sum() == 40000 and np.all(np.abs(counts / 5000 - 1) < 0.05)     # uniform
    skew = expert_counts(route(20000, 8, 1, rng, "skewed", skew=1.0), 8)
    p = 1 / np.arange(1, 9)
    assert np.allclose(skew / 20000, p / p.sum(), atol=0.01)                        # Zipf(1) over experts
