"""Extended Einsums in the mapper: gathers, scatters with `+=`, fixed slices, shifted and partitioned ranks.

Each case is checked twice: the numba kernel equals the loop-nest walker on random mappings, and the
DRAM bytes of the simulated program equal what the accesses touch, worked out by hand from the sizes
(a gather reads the gathered rows, a fixed slice one slice, `+=` reads and writes what it updates).
"""
import numpy as np
import pytest

from loomsim.arch import parse_arch
from loomsim.mappers import CostModel, EinsumProblem, MapSpace, Mapping, Program, Target
from loomsim.mappers.lower import lower
from loomsim.simulator import simulate
from loomsim.workloads import Cascade

from test_cost_kernel import THREE_LEVEL, assert_kernel_matches_walker  # noqa: E402  (tests/ is on the path: conftest)

# The kernel tests' three levels, roomier so that one tile can hold each whole problem, with bf16 vector energy.
ARCH = (THREE_LEVEL.replace("DF", "ws").replace("4KiB", "8KiB").replace("16KiB", "64KiB")
        .replace("vector.fp32", "vector.bf16"))
U, D, TOK, I, X, M1, M0, P, E = 7, 16, 100, 12, 4, 3, 8, 5, 6

# name: (equations, index of the Einsum mapped, unit, rank sizes, extra cascade arguments, sizes of ranks only
# tensors declare)
CASES = {
    "gather": (["XE[u,d] = X[IDX[u],d]"], 0, "vec", dict(u=U, d=D), dict(tensor_ranks={"X": ("t", "d")}),
               dict(t=TOK)),
    "scatter_add": (["Y[IDX[u],d] += G[u] * YE[u,d]"], 0, "vec", dict(u=U, d=D), dict(tensor_ranks={"Y": ("t", "d")}),
                    dict(t=TOK)),
    "fixed_slice": (["EU[u,i] = XE[u,d] * WU[3,d,i]"], 0, "pe", dict(u=U, d=D, i=I),
                    dict(tensor_ranks={"WU": ("x", "d", "i")}), dict(x=X)),
    "shifted": (["RM[0,p] = -inf", "RM[m1+1,p] = max(RM[m1,p], LM[m1,p])", "PRM[m1,p] = exp(RM[m1,p] - RM[m1+1,p])"],
                2, "vec", dict(m1=M1, p=P), {}, {}),
    "recurrence": (["RM[0,p] = -inf", "RM[m1+1,p] = max(RM[m1,p], LM[m1,p])"], 1, "vec", dict(m1=M1, p=P), {}, {}),
    "fill": (["RM[0,p] = -inf", "RM[m1+1,p] = max(RM[m1,p], LM[m1,p])"], 0, "vec", dict(m1=M1, p=P), {}, {}),
    "partitioned": (["BQK[m1,m0,p] = Q[e,p] * K[e,m1,m0]"], 0, "pe", dict(m1=M1, m0=M0, p=P, e=E),
                    dict(partitions={"m": ("m1", "m0")}), dict(m=M1 * M0)),
}

# DRAM bytes per tensor (read, written) when every tensor is moved once: what the accesses touch (bf16 = 2 B,
# int32 index = 4 B).
TOUCHED = {
    "gather": {"X": (U * D * 2, 0), "IDX": (U * 4, 0), "XE": (0, U * D * 2)},
    "scatter_add": {"Y": (U * D * 2, U * D * 2), "G": (U * 2, 0), "YE": (U * D * 2, 0), "IDX": (U * 4, 0)},
    "fixed_slice": {"WU": (D * I * 2, 0), "XE": (U * D * 2, 0), "EU": (0, U * I * 2)},
    "shifted": {"RM": (2 * M1 * P * 2, 0), "PRM": (0, M1 * P * 2)},      # two accesses, M1 x P values each
    "recurrence": {"RM": (M1 * P * 2, M1 * P * 2), "LM": (M1 * P * 2, 0)},
    "fill": {"RM": (0, P * 2)},
    "partitioned": {"K": (E * M1 * M0 * 2, 0), "Q": (E * P * 2, 0), "BQK": (0, M1 * M0 * P * 2)},
}


def space_of(name):
    eqs, which, unit, sizes, extra, more_sizes = CASES[name]
    c = Cascade.from_text(name, eqs, {**sizes, **more_sizes}, **extra)
    target = Target.from_arch(parse_arch(ARCH, "ext.yaml"), unit)
    return c, MapSpace(EinsumProblem.from_einsum(c, c.einsums[which]), target)


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_counts_equal_the_walker_for_extended_accesses(name):
    _, space = space_of(name)
    cm = CostModel(space)
    rows = space.decode(space.sample_digits(np.random.default_rng(3), 400))
    legal = np.nonzero(cm.evaluate(rows)[0] == 0)[0][:25]
    assert len(legal) == 25
    assert_kernel_matches_walker(space, cm, rows[legal])


@pytest.mark.parametrize("name", list(CASES))
def test_dram_traffic_is_what_the_accesses_touch(name):
    """One tile holding the whole problem: every operand crosses the DRAM link once, so the simulated
    program's DRAM bytes per tensor are exactly what its accesses touch."""
    c, space = space_of(name)
    p, t = space.problem, space.target
    mp = Mapping.tiled(p, t, {})
    cost = CostModel(space).cost(space.row(mp))
    prog = Program(tuple(lower(p, t, mp).tasks), {n: info.dtype.name for n, info in c.tensors.items()})
    r = simulate(parse_arch(ARCH, "ext.yaml"), prog)
    for tensor, (read, written) in TOUCHED[name].items():
        assert r.count("mem", "read", "B", tensor) == read, tensor
        assert r.count("mem", "write", "B", tensor) == written, tensor
        assert cost.count(tensor, "mem", "read_bytes") == read and cost.count(tensor, "mem", "write_bytes") == written
    assert sum(x["value"] for x in r.counts if x["component"] == "mem" and x["unit"] == "B") == sum(
        a + b for a, b in TOUCHED[name].values())


def test_accumulating_einsum_counts_the_add_the_workload_layer_counts():
    """`Y[IDX[u],d] += G[u] * YE[u,d]`: a multiply and an add per point, as `Cascade.counts` has it."""
    c, space = space_of("scatter_add")
    assert space.problem.ops_per_point == 2
    assert sum(c.counts(c.einsums[0]).ops.values()) == 2 * U * D
