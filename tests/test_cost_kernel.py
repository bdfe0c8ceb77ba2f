"""The numba cost kernel against the plain-Python loop-nest walker, and against the systolic closed forms."""
import numpy as np
import pytest

from loomsim.arch import parse_arch
from loomsim.mappers import CostModel, EinsumProblem, MapSpace, Mapping, Target
from loomsim.mappers.cost_kernel import fold_cycles, fold_traffic
from loomsim.mappers.cost_reference import reference_counts
from loomsim.simulator.systolic import tile_cycles, tile_traffic
from loomsim.workloads import Cascade

THREE_LEVEL = """\
name: small3
clock: 1GHz
components:
  pe: {type: systolic_array, rows: 4, cols: 4, dataflow: DF, count: 2}
  vec: {type: vector_unit, lanes: 8, count: 2}
  l1: {type: sram, capacity: 4KiB, banks: 2, port_width: 16B}
  l2: {type: sram, capacity: 16KiB, banks: 2, port_width: 32B}
  mem: {type: dram, bandwidth: 16GB/s, latency: 20ns}
links:
  - {from: mem, to: l2, bandwidth: 16GB/s}
  - {from: l2, to: l1, bandwidth: 32GB/s}
  - {from: mem, to: l1, bandwidth: 8GB/s}
energy:
  vector.fp32: 0.5pJ
"""
EINSUMS = {
    "gemm": ("Z[m,n] = A[m,k] * B[k,n]", dict(m=20, n=12, k=10), "pe", {}),
    "batched_attention": ("QK[b,h,m,p] = Q[b,h,e,p] * K[b,h,e,m]", dict(b=2, h=3, m=7, p=5, e=6), "pe", {}),
    "moe_expert_gemm": ("Y[x,t,n] = X[x,t,k] * W[x,k,n]", dict(x=3, t=5, n=6, k=9), "pe", {}),
    "exp": ("E[p,m] = exp(S[p,m])", dict(p=6, m=10), "vec", {}),
    "row_sum": ("D[p] = E[p,m]", dict(p=6, m=10), "vec", {}),
    "int4_gemm_on_vector": ("Z[m,n] = A[m,k] * B[k,n]", dict(m=9, n=5, k=7), "vec", {"A": "int4", "B": "int4"}),
}


def space_of(name, dataflow="ws", pipelining="none"):
    eq, sizes, unit, dtypes = EINSUMS[name]
    c = Cascade.from_text(name, eq, sizes, dtypes=dtypes)
    text = THREE_LEVEL.replace("dataflow: DF", f"dataflow: {dataflow}, fold_pipelining: {pipelining}")
    target = Target.from_arch(parse_arch(text, "small3.yaml"), unit)
    return MapSpace(EinsumProblem.from_einsum(c, c.einsums[0]), target)


def assert_kernel_matches_walker(space, cm, rows):
    """The numba kernel's counts, compute cycles and task groups equal the literal loop-nest walk's."""
    for row in rows:
        mp = space.mapping(row)
        counts, cycles, groups = reference_counts(space.problem, space.target, mp)
        cost = cm.cost(row)
        assert np.array_equal(counts, cost.counts), mp
        assert (cycles, groups) == (cost.compute_cycles, cost.tasks), mp


@pytest.mark.parametrize("pipelining", ["none", "double_buffered"])
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("name", list(EINSUMS))
def test_kernel_counts_equal_the_loop_nest_walker_on_random_mappings(name, dataflow, pipelining):
    """Reads, fills, updates, accesses, bytes and transfers per tensor per level, unit cycles and task
    counts: kernel == literal walk, for random mappings (tiling, imperfect tiles, splits, orders, bypass,
    double buffering, operand swap) on a three-level hierarchy, with folds back to back or pipelined."""
    if EINSUMS[name][2] == "vec" and (dataflow != "ws" or pipelining != "none"):
        pytest.skip("the dataflow and fold pipelining do not apply to a vector unit")
    space = space_of(name, dataflow, pipelining)
    cm = CostModel(space)
    rows = space.decode(space.sample_digits(np.random.default_rng(7), 600))
    reason = cm.evaluate(rows)[0]
    legal = np.nonzero(reason == 0)[0][:70]
    assert len(legal) == 70
    assert_kernel_matches_walker(space, cm, rows[legal])


def test_at_least_200_random_mappings_are_checked_per_einsum_kind():
    # 70 per (Einsum, dataflow) above: GEMM, attention and MoE each get 3 x 70 = 210 systolic mappings
    assert 3 * 70 >= 200


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_fold_closed_forms_equal_the_simulators(dataflow):
    code = {"ws": 0, "os": 1, "is": 2}[dataflow]
    rng = np.random.default_rng(3)
    log2 = {1: 0, 3: -1, 4: 2, 8: 3, 128: 7}
    for _ in range(300):
        rows, cols = (int(x) for x in rng.choice([1, 3, 4, 8, 128], 2))
        m, n, k = (int(x) for x in rng.integers(1, 300, 3))
        bm = int(rng.integers(1, 4))
        assert fold_cycles(code, rows, cols, m, n, k) == tile_cycles(dataflow, rows, cols, m, n, k)
        for rs, cs in ((-1, -1), (log2[rows], log2[cols])):      # dividing and shifting agree
            assert (fold_cycles(code, rows, cols, m, n, k, rs, cs, bm, 1)
                    == tile_cycles(dataflow, rows, cols, m, n, k, bm, "double_buffered"))
        tr = tile_traffic(dataflow, rows, cols, m, n, k, accumulate=True)
        assert fold_traffic(code, rows, cols, m, n, k) == (tr.a_reads, tr.b_reads, tr.z_writes)


@pytest.mark.parametrize("pipelining", ["none", "double_buffered"])
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_gemm_cycles_equal_the_closed_form_for_the_same_mapping(dataflow, pipelining):
    """Tiles 8x8x8 (imperfect on every rank of a 20x12x10 GEMM): the kernel's unit cycles are the sum of
    the simulator's closed form over the tiles the mapping runs."""
    space = space_of("gemm", dataflow, pipelining)
    mp = Mapping.tiled(space.problem, space.target, {"m": 8, "n": 8, "k": 8})
    cost = CostModel(space).cost(space.row(mp))
    expected = sum(tile_cycles(dataflow, 4, 4, min(8, 20 - m0), min(8, 12 - n0), min(8, 10 - k0),
                               pipelining=pipelining)
                   for m0 in range(0, 20, 8) for n0 in range(0, 12, 8) for k0 in range(0, 10, 8))
    assert cost.compute_cycles == expected
    if pipelining == "double_buffered":     # and the mode really changes the count
        assert expected < sum(tile_cycles(dataflow, 4, 4, min(8, 20 - m0), min(8, 12 - n0), min(8, 10 - k0))
                              for m0 in range(0, 20, 8) for n0 in range(0, 12, 8) for k0 in range(0, 10, 8))


def test_capacity_fanout_and_bypass_rejections_are_counted_by_reason():
    space = space_of("gemm")
    cm = CostModel(space)
    rows = space.decode(space.sample_digits(np.random.default_rng(0), 3000))
    reasons = {cm.reason_name(int(r)) for r in cm.evaluate(rows)[0]}
    assert {"legal", "fanout"} <= reasons
    whole = Mapping.tiled(space.problem, space.target, {})
    tight = CostModel(MapSpace(space.problem, space.target))
    big = parse_arch(THREE_LEVEL.replace("DF", "ws").replace("4KiB", "256B"), "t.yaml")
    cm_big = CostModel(MapSpace(space.problem, Target.from_arch(big, "pe")))
    assert cm_big.reason_name(int(cm_big.evaluate(space.row(whole)[None, :])[0][0])) == "capacity:l1"
    assert tight.evaluate(space.row(whole)[None, :])[0][0] == 0
