"""Einsum parser, cascade checks, numpy interpreter and FLOP/byte counts against closed forms."""
import numpy as np
import pytest

from loomsim.errors import LoomError
from loomsim.workloads import Cascade, EinsumParseError, build_workload, gemm, gemv, parse_einsum, random_inputs, \
    run_cascade


def test_gemm_einsum_parses_with_implied_reduction():
    e = parse_einsum("Z[m,n] = A[m,k] * B[k,n]")
    assert e.output.tensor == "Z" and e.output.ranks == ("m", "n")
    assert [a.tensor for a in e.inputs] == ["A", "B"]
    assert e.ranks == ("m", "n", "k") and e.reduced_ranks == ("k",) and e.is_mac


def test_whitespace_and_scalars():
    e = parse_einsum("  S[ ] =A[k]*B[ k ] ")
    assert e.output.ranks == () and e.reduced_ranks == ("k",)


def test_extended_expression_parses():
    e = parse_einsum("Y[p] = exp(A[p,m] - 2.5) / max(B[p], C[p])")
    assert not e.is_mac and e.op_counts_per_point() == {"div": 1, "exp": 1, "sub": 1, "max": 1}


# (text, 1-based position, what was found, what was expected)
BAD = [
    ("Z[m,n] = A[m,k] ** B[k,n]", 18, "'*'", "a tensor access"),
    ("Z[m,n] = A[m,k] * B[k,n", 24, "the end of the text", "',' or ']'"),
    ("Z[m,q] = A[m,k] * B[k,n]", 5, "output rank 'q'", "every output rank to appear in some input"),
    ("Z[m,n] = A[m,k] # B[k,n]", 17, "'#'", "one of [ ] ( ) , = += :: + - * /"),
    ("Z[m,n] = exq(A[m,n])", 10, "unknown function 'exq'", "one of exp, max"),
    ("Z[m] = A[m,m]", 12, "rank 'm' a second time", "each rank at most once"),
    ("Z[m,n] A[m,k] * B[k,n]", 8, "'A'", "'=' or '+=' after the output tensor"),
    ("= A[m,k]", 1, "'='", "the output tensor name"),
    ("Z[m,n] = A[m,k] * B[k,n] C", 26, "'C'", "an operator"),
    ("Z[m] = exp(A[m], B[m])", 8, "exp() with 2 argument(s)", "1 argument(s)"),
    ("", 1, "an empty equation", "an equation such as"),
]


@pytest.mark.parametrize("text,pos,found,expected", BAD, ids=[b[0] or "empty" for b in BAD])
def test_parse_errors_name_position_and_expectation(text, pos, found, expected):
    with pytest.raises(EinsumParseError) as err:
        parse_einsum(text)
    msg = str(err.value)
    assert f"position {pos}:" in msg, msg
    assert found in msg and expected in msg, msg
    assert err.value.pos == pos - 1


def test_parse_error_suggests_the_closest_function():
    with pytest.raises(EinsumParseError, match="Did you mean 'exp'"):
        parse_einsum("Z[m] = exq(A[m])")


def test_gemm_cascade_interprets_to_matmul():
    c = gemm(M=5, N=7, K=3)
    x = random_inputs(c, seed=1)
    out = run_cascade(c, x)
    np.testing.assert_allclose(out["Z"], x["A"] @ x["B"], rtol=1e-12)


def test_general_path_equals_einsum_path():
    # the same product, written so it cannot take the numpy.einsum shortcut (a multiply by 1.0)
    c = Cascade.from_text("g", "Z[m,n] = A[m,k] * B[k,n] * 1.0", {"m": 4, "n": 3, "k": 5})
    assert not c.einsums[0].is_mac
    x = random_inputs(c, seed=2)
    np.testing.assert_allclose(run_cascade(c, x)["Z"], x["A"] @ x["B"], rtol=1e-12)


def test_softmax_cascade_equals_numpy():
    c = Cascade.from_text("softmax", """
        E[p,m] = exp(S[p,m])
        D[p] = E[p,m]
        A[p,m] = E[p,m] / D[p]
    """, {"p": 4, "m": 6})
    x = random_inputs(c, seed=3)
    out = run_cascade(c, x)
    ref = np.exp(x["S"]) / np.exp(x["S"]).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out["A"], ref, rtol=1e-12)
    assert c.inputs == ("S",) and c.outputs == ("A",) and set(c.intermediates) == {"E", "D"}


def test_max_reduction():
    from loomsim.workloads.interpret import evaluate
    e = parse_einsum("M[p] = S[p,m]", reduce_op="max")
    s = np.random.default_rng(0).standard_normal((3, 5))
    np.testing.assert_allclose(evaluate(e, {"S": s}, {"p": 3, "m": 5}), s.max(axis=1))


@pytest.mark.parametrize("M,N,K,dtype,bpe", [(64, 1024, 512, "bf16", 2), (3, 5, 7, "fp32", 4), (1, 4096, 4096, "int8", 1),
                                             (128, 128, 128, "int4", 0.5)])
def test_gemm_counts_equal_closed_forms(M, N, K, dtype, bpe):
    c = gemm(M=M, N=N, K=K, dtype=dtype)
    n = c.counts(c.einsums[0])
    assert n.macs == M * N * K
    assert n.flops == 2 * M * N * K
    assert n.bytes_read == (M * K + K * N) * bpe
    assert n.bytes_written == M * N * bpe
    assert n.intensity == pytest.approx(2 * M * N * K / ((M * K + K * N + M * N) * bpe))


def test_gemv_counts_and_value():
    c = gemv(N=6, K=4)
    n = c.counts(c.einsums[0])
    assert (n.macs, n.flops, n.bytes) == (24, 48, (4 + 24 + 6) * 2)
    x = random_inputs(c)
    np.testing.assert_allclose(run_cascade(c, x)["Z"], x["A"] @ x["B"])


def test_non_mac_counts_by_kind():
    c = Cascade.from_text("e", "E[p,m] = exp(S[p,m]); D[p] = E[p,m]; A[p,m] = E[p,m] / D[p]", {"p": 3, "m": 5})
    total = c.total_counts()
    assert total.macs == 0 and dict(total.ops) == {"exp": 15, "add": 15, "div": 15}
    assert total.bytes == (15 + 15) * 2   # compulsory: input S and output A


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(equations="Z[m,n] = A[m,k] * B[k,n]", rank_sizes={"m": 2, "n": 2}), "rank 'k' .*has no size"),
    (dict(equations="Z[m,n] = A[m,k] * B[k,n]", rank_sizes={"m": 2, "n": 2, "k": 0}), "positive integers"),
    (dict(equations="Z[m,n] = A[m,k] * B[k,n]; Y[m] = A[k,m]", rank_sizes={"m": 2, "n": 2, "k": 2}),
     "keeps one rank order"),
    (dict(equations="Z[m] = A[m]; Z[m] = B[m]", rank_sizes={"m": 2}), "written by two Einsums"),
    (dict(equations="Y[m] = Z[m]; Z[m] = A[m]", rank_sizes={"m": 2}), "before the Einsum that writes it"),
    (dict(equations="Z[m] = A[m]", rank_sizes={"m": 2, "q": 3}), "no Einsum uses"),
    (dict(equations="Z[m] = A[m]", rank_sizes={"m": 2}, dtypes={"A": "bf61"}), "Did you mean 'bf16'"),
])
def test_impossible_cascades_are_rejected_at_construction(kwargs, fragment):
    with pytest.raises(LoomError, match=fragment):
        Cascade.from_text("c", **kwargs)


@pytest.mark.parametrize("text,fragment", [
    ("gemmm M=1 N=1 K=1", "Did you mean 'gemm'"),
    ("gemm M=1 N=1", "needs K=..."),
    ("gemm M=1 N=1 K=x", "not a whole number"),
    ("gemm M=1 N=1 K=1 Q=2", "no parameter 'Q'"),
    ("gemm M=1 N=1 K=1 dtype=fp9", "unknown data type"),
    ("gemm M=0 N=1 K=1", "positive integers"),
    ("", "valid workloads"),
])
def test_workload_strings(text, fragment):
    with pytest.raises(LoomError, match=fragment):
        build_workload(text)
