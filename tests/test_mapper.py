"""The GEMM mapper: its analytic reuse counts against the literal tile walk the simulator executes."""
import pytest

from loomsim.arch import parse_arch
from loomsim.errors import LoomError
from loomsim.mappers import GemmMapSpace, GemmMapping, GemmProblem, GemmTarget, Program, Transfer, evaluate, \
    map_workload
from loomsim.mappers.gemm import footprint
from loomsim.mappers.lower import lower
from loomsim.simulator import simulate
from loomsim.workloads import Cascade, gemm

SMALL = """\
name: small
clock: 1GHz
components:
  pe: {type: systolic_array, rows: 4, cols: 4, dataflow: DATAFLOW}
  buf: {type: sram, capacity: 2KiB, banks: 2, port_width: 16B}
  mem: {type: dram, bandwidth: 16GB/s, latency: 20ns}
links:
  - {from: mem, to: buf, bandwidth: 16GB/s}
"""


def small(dataflow="ws"):
    return parse_arch(SMALL.replace("DATAFLOW", dataflow), "small.yaml")


def simulated_counts(result, comp, action, tensor, unit="B"):
    return result.count(comp, action, unit, operand=tensor)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_analytic_counts_equal_the_simulated_walk_for_every_legal_mapping(dataflow):
    arch = small(dataflow)
    problem = GemmProblem.from_cascade(gemm(M=20, N=12, K=10))
    target = GemmTarget.from_arch(arch)
    space = GemmMapSpace(problem, target, min_tile=4)
    checked = 0
    for mp in space:
        if space.check(mp):
            continue
        cost = evaluate(problem, target, mp)
        program = lower(problem, target, mp)
        r = simulate(arch, program)
        for tensor, role in (("A", "A"), ("B", "B"), ("Z", "Z")):
            assert simulated_counts(r, "mem", "read", tensor) == cost.dram_read[role], (mp, tensor)
            assert simulated_counts(r, "buf", "read", tensor) == cost.sram_reads[role], (mp, tensor)
            assert simulated_counts(r, "buf", "write", tensor) == cost.sram_writes[role], (mp, tensor)
        assert simulated_counts(r, "mem", "write", "Z") == cost.dram_write, mp
        assert r.count("pe", "cycles", "cycle") == cost.compute_cycles, mp
        assert r.count("pe", "mac", "MAC") == 20 * 12 * 10
        assert sum(1 for k in r.tasks["kind"] if k == "transfer") == cost.transfers, mp
        assert r.energy_pj == pytest.approx(cost.energy_pj, rel=1e-12), mp
        checked += 1
    assert checked > 100


def test_partial_sums_spill_when_k_is_not_innermost():
    arch = small()
    problem = GemmProblem.from_cascade(gemm(M=8, N=8, K=16))
    target = GemmTarget.from_arch(arch)
    inner = evaluate(problem, target, GemmMapping(8, 8, 4, "mnk"))
    outer = evaluate(problem, target, GemmMapping(8, 4, 4, "knm"))
    z = 8 * 8 * 2
    assert (inner.dram_write, inner.dram_read["Z"]) == (z, 0)
    assert (outer.dram_write, outer.dram_read["Z"]) == (4 * z, 3 * z)   # 4 k tiles: 4 stores, 3 reloads


def test_chosen_mapping_fits_and_is_the_best_by_the_objective():
    arch = small()
    mapped = map_workload(arch, gemm(M=20, N=12, K=10))
    problem, target = GemmProblem.from_cascade(gemm(M=20, N=12, K=10)), GemmTarget.from_arch(arch)
    assert footprint(problem, mapped.mapping) <= arch["buf"].capacity
    space = GemmMapSpace(problem, target)
    best = min(evaluate(problem, target, mp).latency_ps for mp in space if not space.check(mp))
    assert mapped.cost.latency_ps == best
    assert mapped.search.rejected["capacity"] > 0   # the 2 KiB buffer rules some tiles out


def test_no_legal_mapping_says_why():
    arch = parse_arch(SMALL.replace("DATAFLOW", "ws").replace("2KiB", "64B"), "tiny.yaml")
    with pytest.raises(LoomError, match="all .* candidates were rejected .*capacity"):
        map_workload(arch, gemm(M=64, N=64, K=64))


def test_non_gemm_einsums_are_refused_clearly():
    c = Cascade.from_text("e", "Z[m,n] = A[m,n] + B[m,n]", {"m": 4, "n": 4})
    with pytest.raises(LoomError, match="GEMM mapper handles Einsums shaped"):
        map_workload(small(), c)


def test_gemv_maps_with_m_of_one():
    from loomsim.workloads import gemv
    mapped = map_workload(small(), gemv(N=16, K=12))
    assert (mapped.cost.compute_cycles > 0) and GemmProblem.from_cascade(gemv(N=16, K=12)).M == 1


def test_program_rejects_a_dependency_listed_later():
    t0 = Transfer(0, "mem->buf", (1,), "A", "mem", "buf", 8, "load")
    t1 = Transfer(1, "mem->buf", (), "B", "mem", "buf", 8, "load")
    with pytest.raises(LoomError, match="not listed before it"):
        Program((t0, t1))
