"""The numba engine and the plain-Python reference issue identical commands on random traces.

Hypothesis draws small traces (addresses, reads and writes, arrival times), controller settings and
PIM bundles; both engines must produce the same command log (cycle, command, bank, row, bank set) and
the same completion cycle for every request. The device is small (2 channels, 2 ranks of 2 x 2 banks,
64 rows) so traces reach every situation quickly: row hits, conflicts, refresh, rank switches.
"""
import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from loomsim.arch.dram_presets import load_device
from loomsim.simulator.dram.engine import DramEngine
from loomsim.simulator.dram.pim import gemv
from loomsim.simulator.dram.reference import ReferenceController

SMALL = {"organisation": {"channels": 2, "ranks": 2, "bankgroups": 2, "banks_per_group": 2, "rows": 64}}


def both(dev, addr, write, arrival, bundles=()):
    e = DramEngine(dev, log=100_000)
    ref = ReferenceController(dev)
    e.submit(addr, write, arrival)
    ref.submit(addr, write, arrival)
    for b, at in bundles:
        ids = e.submit_pim(b.channel, [s.encoded() for s in b.steps], at)
        ref.submit_pim(b.channel, [s.encoded() for s in b.steps], at, ids[0])
    out = e.run()
    ref.run()
    kernel_log = [tuple(int(x) for x in r) for r in e.command_log()]
    ref_log = [tuple(int(v) for v in r) for r in sorted(ref.log, key=lambda r: (r[0], r[1]))]
    return kernel_log, ref_log, dict(zip(out.id.tolist(), out.done.tolist())), ref.done


traces = st.integers(min_value=1, max_value=40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, (1 << 20) - 1), min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n),
    st.lists(st.integers(0, 4000), min_size=n, max_size=n)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace=traces,
       preset=st.sampled_from(["HBM2", "DDR4", "GDDR6", "HBM3", "LPDDR5", "DDR5"]),
       scheduler=st.sampled_from(["frfcfs", "fcfs"]),
       page=st.sampled_from(["open", "closed", "adaptive"]),
       refresh=st.sampled_from(["all_bank", "per_bank", "none"]),
       queue=st.sampled_from([("shared", 4), ("shared", 16), ("per_bank", 2)]))
def test_kernel_and_reference_issue_identical_commands(trace, preset, scheduler, page, refresh, queue):
    assume(refresh != "per_bank" or preset not in ("DDR4", "DDR5"))      # no tRFCpb in those presets
    dev = load_device(preset, {**SMALL, "controller": {"scheduler": scheduler, "page_policy": page,
                                                        "refresh": refresh, "queue": queue[0],
                                                        "queue_size": queue[1]}})
    words, write, arrival = trace
    addr = np.array(words, dtype=np.int64) * dev.atom
    k, r, kd, rd = both(dev, addr, np.array(write), np.sort(np.array(arrival)))
    assert k == r
    assert kd == rd


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace=traces,
       mode=st.sampled_from(["blocked", "shared", "dual_row_buffer"]),
       refresh=st.sampled_from(["all_bank", "per_bank"]),
       bundles=st.lists(st.tuples(st.integers(0, 1), st.lists(st.integers(0, 63), min_size=1, max_size=2),
                                  st.integers(1, 8), st.integers(0, 3000)), min_size=1, max_size=2))
def test_kernel_and_reference_agree_with_pim_bundles(trace, mode, refresh, bundles):
    dev = load_device("HBM2-PIM", {**SMALL, "pim": {"mode": mode, "act_banks": 2},
                                   "controller": {"refresh": refresh}})
    words, write, arrival = trace
    addr = np.array(words, dtype=np.int64) * dev.atom
    made = sorted(((gemv(dev, ch, rows, k, vector=(1, 5)), at) for ch, rows, k, at in bundles),
                  key=lambda x: x[1])
    k, r, kd, rd = both(dev, addr, np.array(write), np.sort(np.array(arrival)), made)
    assert k == r
    assert kd == rd


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace=st.integers(min_value=1, max_value=60).flatmap(lambda n: st.tuples(
           st.lists(st.integers(0, 2 * 40 * 8 * 48 * 16 - 1), min_size=n, max_size=n),   # twice the span
           st.lists(st.booleans(), min_size=n, max_size=n),
           st.lists(st.integers(0, 4000), min_size=n, max_size=n))),
       mapping=st.sampled_from(["rorabgbachco", "rochrababgco", "chrobabgraco", "RoBaRaCoCh", "ChRaBaRoCo"]),
       page=st.sampled_from(["open", "closed"]),
       refresh=st.sampled_from(["all_bank", "none"]))
def test_kernel_and_reference_agree_with_40_channels(trace, mapping, page, refresh):
    """The A100's channel count (and a row count that is no power of two): mixed-radix decode in both."""
    dev = load_device("HBM2", {"organisation": {**SMALL["organisation"], "channels": 40, "rows": 48},
                               "controller": {"address_mapping": mapping, "page_policy": page, "refresh": refresh}})
    words, write, arrival = trace
    addr = np.array(words, dtype=np.int64) * dev.atom
    k, r, kd, rd = both(dev, addr, np.array(write), np.sort(np.array(arrival)))
    assert k == r
    assert kd == rd
