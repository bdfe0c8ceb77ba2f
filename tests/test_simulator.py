"""The SimPy engine against closed forms: transfers, one tile, overlap, clocks, energy, determinism."""
import math

import pytest

from loomsim.arch import parse_arch
from loomsim.arch.units import edge_time_ps
from loomsim.errors import LoomError
from loomsim.mappers import EinsumProblem, Mapping, MatmulTile, Program, Target, Transfer, VectorOp
from loomsim.mappers.lower import lower as _lower
from loomsim.simulator import SimResult, simulate
from loomsim.simulator.systolic import tile_cycles
from loomsim.workloads import gemm

ARCH = """\
name: t
clock: CLOCK
components:
  pe: {type: systolic_array, rows: 8, cols: 8, dataflow: ws}
  vec: {type: vector_unit, lanes: 16, ops_per_cycle: 2}
  buf: {type: sram, capacity: 1MiB, banks: 4, port_width: 64B}
  mem: {type: dram, bandwidth: 10GB/s, latency: 50ns}
links:
  - {from: mem, to: buf, bandwidth: 10GB/s}
energy:
  vector.fp32: 0.5pJ
"""


def _problem(cascade):
    return EinsumProblem.from_einsum(cascade, cascade.einsums[0])


def lower(p, t, tiles, order, double_buffer):
    """A program for GEMM tiles (m, n, k) held in the SRAM, walked in `order` (outermost first)."""
    mp = Mapping.tiled(p, t, dict(zip("mnk", tiles)), order, double_buffer)
    low = _lower(p, t, mp)
    return Program(tuple(low.tasks), {n: d.name for n, d in zip(p.tensors, p.dtypes)})


def arch(clock="1GHz"):
    return parse_arch(ARCH.replace("CLOCK", clock), "t.yaml")


def test_back_to_back_transfers_run_at_peak_bandwidth_plus_one_latency():
    a = arch()
    n, size = 20, 4096
    tasks = tuple(Transfer(i, "mem->buf", (), "A", "mem", "buf", size, f"load {i}") for i in range(n))
    r = simulate(a, Program(tasks, {"A": "bf16"}))
    per = math.ceil(size * 1e12 / 10e9)          # 409.6 ns -> 409600 ps
    assert r.total_ps == n * per + 50_000          # pipelined: the latency is paid once at the end
    assert r.count("mem", "read", "B", "A") == n * size
    assert r.utilisation()["mem"] == pytest.approx(n * per / r.total_ps)


def test_one_tile_program_equals_the_closed_form():
    a = arch()
    M, N, K = 16, 24, 12
    p, t = _problem(gemm(M, N, K)), Target.from_arch(a)
    r = simulate(a, lower(p, t, (M, N, K), "mnk", False))
    ps = lambda nbytes: math.ceil(nbytes * 1e12 / 10e9)  # noqa: E731
    lat = 50_000
    load_done = ps(M * K * 2) + ps(K * N * 2) + lat   # A then B share the DRAM bus
    compute = tile_cycles("ws", 8, 8, M, N, K) * 1000
    expected = load_done + compute + ps(M * N * 2) + lat
    assert r.total_ps == expected
    assert r.count("pe", "cycles", "cycle") == tile_cycles("ws", 8, 8, M, N, K)


def test_a_double_buffered_array_times_a_batched_tile_as_one_pipelined_run():
    """Batch 3 of a 4x20x20 GEMM on an 8x8 ws array: 9 folds per GEMM, 27 in one run. Back to back each
    fold pays 2r + c + t - 2; pipelined, every boundary costs max(t, r) and the wavefront is paid once."""
    a = _db_arch()
    r = simulate(a, Program((MatmulTile(0, "pe", (), 4, 20, 20, "A", "B", "Z", "buf", batch=3),),
                            {"A": "bf16", "B": "bf16", "Z": "bf16"}))
    # k = 20 -> r: 8, 8, 4; n = 20 -> c: 8, 8, 4; t = m = 4; boundaries max(4, r): 8 x 6 + 4 x 3 per GEMM
    # the 27th fold's start: s_0 = 8, then 26 boundaries (the first GEMM's 8 after its first fold, two more
    # GEMMs of 12); it is the (r=4, c=4) fold, which ends last: s + t + r + c - 2
    s_last = 8 + 5 * 8 + 3 * 4 + 2 * (6 * 8 + 3 * 4)
    assert tile_cycles("ws", 8, 8, 4, 20, 20, 3, "double_buffered") == s_last + 4 + 4 + 4 - 2
    assert r.count("pe", "cycles", "cycle") == s_last + 4 + 4 + 4 - 2
    assert r.count("pe", "cycles", "cycle") < 3 * tile_cycles("ws", 8, 8, 4, 20, 20)
    assert r.total_ps >= (s_last + 10) * 1000
    assert any("double-buffered" in note for note in r.simplifications)
    assert not any("no weight double-buffering" in note for note in r.simplifications)


def _db_arch():
    text = ARCH.replace("CLOCK", "1GHz").replace("dataflow: ws", "dataflow: ws, fold_pipelining: double_buffered")
    return parse_arch(text, "t.yaml")


@pytest.mark.parametrize("dependent", [False, True])
def test_consecutive_tasks_on_a_double_buffered_array_pipeline_like_folds_of_one_tile(dependent):
    """Two 4x8x8 tiles (one fold each: r = c = 8, t = 4) on an 8x8 ws array. Independent, the second
    fold's weights shift in while the first streams: s = 8, 8 + max(4, 8) = 16; done at 8 + 18 = 26
    and 16 + 18 = 34 cycles, as one batch-2 run. If the second reads the first's output it can only
    start loading once the first is done: s = 26 + 8, done at 52, as back to back (2 x 26)."""
    tasks = (MatmulTile(0, "pe", (), 4, 8, 8, "A", "B", "Z", "buf"),
             MatmulTile(1, "pe", (0,) if dependent else (), 4, 8, 8, "Z", "B", "Y", "buf"))
    r = simulate(_db_arch(), Program(tasks, {"A": "bf16", "B": "bf16", "Z": "bf16", "Y": "bf16"}))
    ends = dict(zip(r.tasks["id"], r.tasks["end_ps"]))
    assert ends[0] == 26_000
    assert ends[1] == (52_000 if dependent else 34_000)
    assert r.total_ps == ends[1]
    if not dependent:
        assert ends[1] == tile_cycles("ws", 8, 8, 4, 8, 8, 2, "double_buffered") * 1000
    assert 2 * tile_cycles("ws", 8, 8, 4, 8, 8) * 1000 == 52_000      # folds back to back, for reference


def test_double_buffering_overlaps_transfers_with_compute():
    a = arch()
    p, t = _problem(gemm(64, 64, 64)), Target.from_arch(a)
    single = simulate(a, lower(p, t, (64, 8, 64), "mnk", False))
    double = simulate(a, lower(p, t, (64, 8, 64), "mnk", True))
    compute = double.count("pe", "cycles", "cycle") * 1000
    dma = sum(c["busy_ps"] for c in double.components if c["name"] == "mem")
    assert double.total_ps < single.total_ps
    assert max(compute, dma) <= double.total_ps < compute + dma
    assert single.total_ps >= compute + dma        # one slot: nothing overlaps


def test_compute_starts_on_a_clock_edge_of_a_non_integer_period():
    a = arch("940MHz")
    p, t = _problem(gemm(8, 8, 8)), Target.from_arch(a)
    r = simulate(a, lower(p, t, (8, 8, 8), "mnk", False))
    i = r.tasks["kind"].index("matmul")
    start, end = r.tasks["start_ps"][i], r.tasks["end_ps"][i]
    k0 = round(start * 940e6 / 1e12)
    assert edge_time_ps(k0, 940_000_000) == start      # the start is a clock edge
    assert end == edge_time_ps(k0 + tile_cycles("ws", 8, 8, 8, 8, 8), 940_000_000)


def test_vector_unit_timing_and_energy():
    a = arch()
    r = simulate(a, Program((VectorOp(0, "vec", (), elements=1000, ops=3, label="softmax"),), {}))
    assert r.total_ps == math.ceil(3000 / (16 * 2)) * 1000
    assert r.energy_pj == pytest.approx(3000 * 0.5)


def test_energy_is_counts_times_the_table():
    a = arch()
    p, t = _problem(gemm(32, 32, 32)), Target.from_arch(a)
    r = simulate(a, lower(p, t, (16, 16, 16), "nmk", True))
    by = {(e["component"], e["action"]): e["pj"] for e in r.energy}
    assert by[("pe", "mac")] == pytest.approx(32 ** 3 * a.energy["mac.bf16"])
    assert by[("buf", "read")] == pytest.approx(r.count("buf", "read", "access") * a["buf"].read_energy)
    assert by[("mem", "read")] == pytest.approx(r.count("mem", "read", "B") * 8 * a["mem"].read_energy_per_bit)
    assert by[("mem", "write")] == pytest.approx(r.count("mem", "write", "B") * 8 * a["mem"].write_energy_per_bit)


def test_same_inputs_give_identical_results(tmp_path):
    a = arch()
    p, t = _problem(gemm(40, 24, 16)), Target.from_arch(a)
    prog = lower(p, t, (16, 8, 8), "kmn", True)
    r1, r2 = simulate(a, prog), simulate(a, prog)
    r1.wall_seconds = r2.wall_seconds = 0.0
    assert r1.to_json() == r2.to_json()
    r1.to_json(tmp_path / "r.json")
    back = SimResult.from_json(tmp_path / "r.json")
    assert back.to_json() == r1.to_json()
    frames = back.to_frames()
    assert set(frames) == {"summary", "components", "counts", "energy", "traffic", "tasks", "timeline"}
    assert frames["tasks"].shape[0] == len(prog.tasks)


def test_resolved_configuration_is_in_the_result():
    a = arch()
    r = simulate(a, Program((VectorOp(0, "vec", (), 10),), {}))
    assert r.config == a.to_dict() and r.arch_hash == a.content_hash()
    assert parse_arch(a.to_yaml()) == a


def test_program_naming_a_missing_unit_is_an_error():
    with pytest.raises(LoomError, match="does not have"):
        simulate(arch(), Program((VectorOp(0, "vpu", (), 10),), {}))


def test_a_task_on_the_wrong_unit_is_an_error():
    tile = MatmulTile(0, "vec", (), 8, 8, 8, "A", "B", "Z", "buf")
    with pytest.raises(LoomError, match="cannot execute matmul"):
        simulate(arch(), Program((tile,), {"A": "bf16", "B": "bf16", "Z": "bf16"}))


def test_result_file_that_is_not_a_result(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"a": 1}')
    with pytest.raises(LoomError, match="not a Loom result"):
        SimResult.from_json(p)


# ---- issue queues: a unit takes each queue's tasks in program order, one task at a time overall ----

def _queue_program(second_queue: str):
    """A 4096-byte load, a vector op that needs it, and an independent vector op listed after it."""
    load = Transfer(0, "mem->buf", (), "A", "mem", "buf", 4096, "load")
    waits = VectorOp(1, "vec", (0,), elements=64, ops=1, label="needs the load")
    free = VectorOp(2, "vec", (), elements=64, ops=1, label="independent", queue=second_queue)
    return Program((load, waits, free), {"A": "fp32"})


def test_a_task_on_its_own_queue_does_not_wait_behind_another_queues_dependency():
    a = arch()
    load_end = math.ceil(4096 * 1e12 / 10e9) + 50_000          # peak bandwidth + the DRAM latency
    load_end = math.ceil(load_end / 1000) * 1000               # the op starts on the next clock edge
    op = 2 * 1000                                              # 64 x 1 ops at 16 lanes x 2 per cycle, 1 GHz
    one = simulate(a, _queue_program(""))
    two = simulate(a, _queue_program("side"))
    start = lambda r, i: r.tasks["start_ps"][r.tasks["id"].index(i)]
    assert start(one, 2) == load_end + op                      # in order: behind the op that waits
    assert start(two, 2) == 0                                  # its own queue: at once
    assert one.total_ps == load_end + 2 * op
    assert two.total_ps == load_end + op                       # it ran in the load's shadow


def test_queues_of_one_unit_share_it_one_task_at_a_time():
    a = arch()
    ops = tuple(VectorOp(i, "vec", (), elements=6400, ops=1, label=f"op {i}", queue=q)
                for i, q in enumerate(("", "side", "", "side")))
    r = simulate(a, Program(ops, {}))
    per = 200 * 1000                                           # 6400 ops / 32 per cycle at 1 GHz
    assert r.total_ps == 4 * per
    iv = sorted(zip(r.tasks["start_ps"], r.tasks["end_ps"]))
    assert all(e0 <= s1 for (_, e0), (s1, _) in zip(iv, iv[1:]))  # never two at once


def test_queues_share_a_links_bandwidth():
    a = arch()
    per = math.ceil(4096 * 1e12 / 10e9)
    tasks = tuple(Transfer(i, "mem->buf", (), "A", "mem", "buf", 4096, f"load {i}", queue=("", "side")[i % 2])
                  for i in range(6))
    r = simulate(a, Program(tasks, {"A": "fp32"}))
    assert r.total_ps == 6 * per + 50_000                      # as one queue: peak bandwidth, one latency


def test_a_systolic_array_has_one_instruction_stream():
    a = arch()
    tile = MatmulTile(0, "pe", (), 8, 8, 8, "A", "B", "Z", "buf", queue="side")
    with pytest.raises(LoomError, match="one instruction stream"):
        simulate(a, Program((tile,), {"A": "fp32", "B": "fp32", "Z": "fp32"}))
