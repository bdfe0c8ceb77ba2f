"""The engine under SimPy: one event per stream or bundle, requesters merged in time order, programs."""
import numpy as np
import pytest
import simpy

from dram_support import address, addresses, device
from loomsim.arch import parse_arch
from loomsim.mappers import PimTask, Program, Transfer
from loomsim.simulator import simulate
from loomsim.simulator.dram.component import DramSystem
from loomsim.simulator.dram.engine import DramEngine
from loomsim.simulator.dram.layout import TensorLayout
from loomsim.simulator.dram.pim import gemv


def standalone(dev, batches, bundles=()):
    """Per-request completion cycles when every request is known up front (the ground truth)."""
    e = DramEngine(dev)
    ids = [e.submit(a, w, t) for a, w, t in batches]
    for ch, b, t in bundles:
        e.submit_pim(ch, [s.encoded() for s in b.steps], t)
    out = e.run()
    done = dict(zip(out.id.tolist(), out.done.tolist()))
    return [np.array([done[i] for i in batch]) for batch in ids], e.pim_done


def test_a_stream_is_one_event_at_its_last_completion_with_per_request_times():
    dev = device(channels=2, refresh="all_bank")
    env = simpy.Environment()
    sys = DramSystem(env, dev)
    addr = addresses(dev, 300, "random", seed=4)
    got = {}

    def requester():
        sub = yield sys.stream(addr, 0)
        got["at"], got["sub"] = env.now, sub

    env.process(requester())
    env.run()
    (expected,), _ = standalone(dev, [(addr, 0, 0)])
    assert np.array_equal(got["sub"].request_done_ps(), expected * dev.tck_ps)
    assert got["at"] == expected.max() * dev.tck_ps
    assert sys.predictions >= 1


def test_two_requesters_merge_in_time_order_exactly_as_if_known_up_front():
    dev = device(channels=1, refresh="all_bank")
    env = simpy.Environment()
    sys = DramSystem(env, dev)
    a = addresses(dev, 200, "random", seed=1)
    b = addresses(dev, 200, "seq")
    late = 150                                               # cycles: B arrives while A is under way
    subs = {}

    def requester(name, addr, delay_cycles):
        yield env.timeout(delay_cycles * dev.tck_ps)
        subs[name] = yield sys.stream(addr, 0)

    env.process(requester("a", a, 0))
    env.process(requester("b", b, late))
    env.run()
    ea, eb = standalone(dev, [(a, 0, 0), (b, 0, late)])[0]
    assert np.array_equal(subs["a"].request_done, ea) and np.array_equal(subs["b"].request_done, eb)


def test_a_pim_bundle_and_a_memory_stream_share_a_channel_command_by_command():
    dev = device("HBM2-PIM", channels=1, refresh="all_bank")
    env = simpy.Environment()
    sys = DramSystem(env, dev)
    bundle = gemv(dev, 0, [5, 6], 16, vector=(3, 9))
    mem = np.array([address(dev, rank=1, row=2, col=c % 16) for c in range(100)])
    out = {}

    def pim():
        out["pim"] = yield sys.bundle(bundle)

    def npu():
        yield env.timeout(40 * dev.tck_ps)
        out["mem"] = yield sys.stream(mem, 0)

    env.process(pim())
    env.process(npu())
    env.run()
    (expected,), pim_done = standalone(dev, [(mem, 0, 40)], [(0, bundle, 0)])
    assert np.array_equal(out["mem"].request_done, expected)
    assert out["pim"].done_cycle == max(pim_done.values())


def test_transfer_layout_addresses_rows_and_default_tensor_regions():
    dev = device(channels=2)
    lay = TensorLayout(dev)
    tile = Transfer(0, "l", (), "W", "hbm", "buf", 4 * 128, address=4096, rows=4, row_bytes=128, stride=8192)
    assert lay.addresses(tile).tolist() == [4096 + r * 8192 + c * 64 for r in range(4) for c in range(2)]
    first = lay.addresses(Transfer(1, "l", (), "A", "hbm", "buf", 256))
    again = lay.addresses(Transfer(2, "l", (), "A", "hbm", "buf", 128))
    other = lay.addresses(Transfer(3, "l", (), "B", "hbm", "buf", 64))
    assert first.tolist() == [0, 64, 128, 192] and again.tolist() == [256, 320]   # the cursor streams on
    assert other[0] == dev.capacity // 16                                        # B's own region


ARCH = """\
name: t
clock: 1GHz
components:
  hbm: {type: dram, preset: HBM2-PIM, channels: 2}
  buf: {type: sram, capacity: 4MiB, banks: 8}
  pe: {type: systolic_array, rows: 32, cols: 32}
links:
  - {from: hbm, to: buf, bandwidth: 64GB/s}
"""


def test_simulate_a_gemm_and_a_pim_task_on_a_cycle_level_dram():
    from loomsim.mappers import map_workload
    from loomsim.workloads import build_workload
    a = parse_arch(ARCH, "t.yaml")
    r = simulate(a, map_workload(a, build_workload("gemm M=64 N=128 K=128"), "latency").program, "gemm")
    atom = a["hbm"].device().atom
    assert r.count("hbm", "RD", "command") == r.count("hbm", "read", "B") / atom       # one RD per 64 B read
    assert r.count("hbm", "WR", "command") == r.count("hbm", "write", "B") / atom
    actions = {e["action"] for e in r.energy if e["component"] == "hbm"}
    assert {"act", "read", "write", "background", "refresh"} <= actions
    assert any(n.startswith("DRAM engine") for n in r.simplifications)
    dev = a["hbm"].device()
    prog = Program((Transfer(0, "hbm->buf", (), "W", "hbm", "buf", 8192, "weights"),
                    PimTask(1, "hbm", (), gemv(dev, 1, [4], 8), "gemv")), {"W": "bf16"})
    r = simulate(a, prog)
    ends = dict(zip(r.tasks["label"], r.tasks["end_ps"]))
    assert 0 < ends["gemv"] and 0 < ends["weights"]
    assert r.count("hbm", "PIM_COMP", "command") == 8
