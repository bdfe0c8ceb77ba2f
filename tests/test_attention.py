"""Attention cascades against direct numpy softmax attention, and the 1-pass footprint property."""
import numpy as np
import pytest

from loomsim.errors import LoomError
from loomsim.workloads import parse_einsum, random_inputs, run_cascade
from loomsim.workloads.attention import VARIANTS, attention, causal_mask, ragged_attention, reference_attention

# (batch, kv heads, group, head dim, queries, keys, causal): MHA, GQA, MQA, decode and causal prefill
SHAPES = [(2, 2, 1, 8, 3, 12, False), (1, 2, 3, 4, 5, 16, True), (2, 1, 4, 8, 1, 20, False),
          (1, 3, 2, 4, 6, 6, True)]


def rel_err(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "b{}h{}g{}e{}p{}m{}{}".format(*s[:6], "c" if s[6] else ""))
def test_cascade_equals_softmax_attention(variant, shape):
    B, H, G, E, P, M, causal = shape
    c = attention(variant, batch=B, kv_heads=H, group=G, head_dim=E, queries=P, keys=M, causal=causal, block=4)
    x = random_inputs(c, seed=7)
    mask = causal_mask(M, P) if causal else None
    if causal:
        x["MASK"] = mask
    out = run_cascade(c, x)["AV"]
    q = x["Q"] if G > 1 else x["Q"][:, :, None]
    ref = reference_attention(q, x["K"][:, :, None], x["V"][:, :, None], mask)
    assert rel_err(out, ref if G > 1 else ref[:, :, 0]) < 1e-5


def test_ragged_batch_equals_per_request_attention():
    lens = [5, 8, 5, 12, 3]
    c = ragged_attention("1pass", lens, kv_heads=2, group=2, head_dim=4, block=4)
    x = random_inputs(c, seed=3)
    out = run_cascade(c, x)
    for length in set(lens):
        ref = reference_attention(x[f"Q_{length}"], x[f"K_{length}"][:, :, None], x[f"V_{length}"][:, :, None])
        assert rel_err(out[f"AV_{length}"], ref) < 1e-5
    assert c.rank_sizes["b_5"] == 2 and c.rank_sizes["m_12"] == 12


def test_one_pass_never_holds_the_whole_score_matrix():
    M, M0, P = 64, 8, 16
    one = attention("1pass", batch=1, kv_heads=1, head_dim=8, queries=P, keys=M, block=M0)
    three = attention("3pass", batch=1, kv_heads=1, head_dim=8, queries=P, keys=M)
    tensors = one.tensors
    scores = [t for t in tensors if {"m", "p"} <= set(tensors[t].ranks)]
    assert scores and all(one.live_elements(t) == M0 * P for t in scores)       # one block of keys at a time
    assert max(one.live_elements(t) for t in tensors if "p" in tensors[t].ranks) < M * P
    assert three.live_elements("QK") == M * P                                   # the 3-pass cascade does


def test_gqa_decode_intensity_is_group_times_mha():
    def intensity(group):
        c = attention("3pass", batch=1, kv_heads=8, group=group, head_dim=128, queries=1, keys=2048)
        qk = next(e for e in c.einsums if e.output.tensor == "QK")
        return c.counts(qk).intensity
    # decode QK reads the K cache (H*E*M) once and the g query heads of a group all reuse it: 2*H*g*E*M
    # flops over 2 bytes x (H*E*M cache + H*g*E*P queries + H*g*M*P scores written), P = 1
    H, E, M = 8, 128, 2048

    def closed_form(g):
        return 2 * H * g * E * M / (2 * (H * E * M + H * g * E + H * g * M))
    assert intensity(1) == pytest.approx(closed_form(1), rel=1e-12)
    assert intensity(4) == pytest.approx(closed_form(4), rel=1e-12)
    assert intensity(4) / intensity(1) == pytest.approx(4, rel=0.03)   # "about g times"


def test_fuse_max_notation_parses():
    e = parse_einsum("RM[m1+1,p] = max(RM[m1,p], LM[m1,p])")
    assert e.output.indices[0].offset == 1 and e.iterative == ("m1",)
    e = parse_einsum("AV[f,p] = RNV[f,M1,p] / RD[M1,p]")
    assert e.inputs[0].indices[1].fixed == "M1" and e.ranks == ("f", "p")
    e = parse_einsum("GM[p] = QK[m,p] :: max")
    assert e.reduce_op == "max" and e.reduced_ranks == ("m",)
    e = parse_einsum("Y[IDX[u],d] += W[u] * YE[u,d]")
    assert e.accumulate and e.output.indices[0].via.tensor == "IDX"


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(variant="4pass"), "unknown attention variant"),
    (dict(batch=0), "batch must be a positive integer"),
    (dict(queries=8, keys=4, causal=True), "queries"),
])
def test_impossible_attention_is_rejected(kwargs, fragment):
    args = dict(variant="3pass", batch=1, kv_heads=1, head_dim=4, queries=1, keys=4)
    args.update(kwargs)
    with pytest.raises(LoomError, match=fragment):
        attention(args.pop("variant"), **args)
