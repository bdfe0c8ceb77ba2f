"""The A100 40GB's HBM2 (HBM2-A100): its published organisation and rate, the timing derivation its file
states, and the engine against closed forms on all 40 channels (`pytest -s` prints the deviations)."""
import math

from loomsim.arch import load_arch
from loomsim.arch.dram_presets import load_device
from loomsim.simulator.dram.engine import DramEngine
from loomsim.simulator.dram.mapping import AddressMap
from loomsim.simulator.dram.run import run_stream
from loomsim.simulator.dram.trace import pattern


def report(what, measured, expected):
    dev = (measured - expected) / expected
    print(f"\n  {what}: measured {measured:.5g}, closed form {expected:.5g}, deviation {100 * dev:+.2f}%")
    return dev


def test_a100_hbm2_is_5120_bits_at_2_43_gbps_and_40_gib():
    """deviceQuery: 5,120-bit bus, 1,215 MHz (DDR); 40 GB in 5 stacks of 8 GB."""
    d = load_device("HBM2-A100")
    assert d.org.channels * d.org.bus_width == 5120
    assert d.tck_ps == 823                                  # 1 / 1,215 MHz = 823.05 ps
    assert abs(report("peak (GB/s)", d.peak_bandwidth / 1e9, 5120 * 2.43 / 8)) < 1e-3
    assert d.capacity == 40 * 2**30 and d.capacity // 5 == 8 * 2**30


def test_timings_are_the_hbm2_presets_nanoseconds_in_823_ps_cycles_rounded_up():
    base, d = load_device("HBM2"), load_device("HBM2-A100")
    assert base.tck_ps == 1000
    for name in ("CL", "CWL", "tRCDRD", "tRCDWR", "tRP", "tRAS", "tRFC", "tRRD_S", "tRRD_L", "tWTR_S", "tWTR_L",
                 "tFAW", "tWR", "tCCD_S", "tCCD_L", "tRTP_S", "tRTP_L", "tRFCpb", "tRREFD"):
        ns = getattr(base.timing, name)
        assert getattr(d.timing, name) == math.ceil(ns * 1000 / 823), name
    assert d.timing.tREFI == 3900 * 1000 // 823                        # a maximum: rounded down
    assert d.timing.tBL == 2                                            # BL4 on a DDR bus


def test_unloaded_read_on_the_last_channel_is_trcd_plus_cl_plus_burst():
    d = load_device("HBM2-A100", {"controller": {"refresh": "none"}})
    e = DramEngine(d)
    e.submit([AddressMap.of(d).encode(ch=39, rank=1, bg=3, ba=2, row=12345, col=7)], 0, 0)
    out = e.run()
    t = d.timing
    assert report("unloaded read (cycles)", out.done[0], t.tRCDRD + t.CL + t.tBL) == 0
    assert report("unloaded read (ns)", out.done[0] * d.tck_ps / 1000, 38 * 0.823) < 1e-9
    assert e.st.ch["cnt"][39].sum() == 2 and e.st.ch["cnt"].sum() == 2      # ACT and RD, on channel 39 only


def test_sequential_reads_reach_peak_when_the_queue_covers_the_row_switch_latency():
    """With a deep queue and no refresh, sequential reads over all 40 channels stream within 5% of
    1,555 GB/s. With the preset's 32-entry queue (NewtonSim's, as the NPUs' HBM2) they do not: a row
    switch costs tRP + tRCD + CL + tBL = 56 cycles here (44 at the HBM2 preset's 1 ns clock), and 32
    queued requests (64 data cycles, less those in flight) barely cover it, so throughput falls."""
    deep = load_device("HBM2-A100", {"controller": {"queue_size": 128, "refresh": "none"}})
    s = run_stream(deep, pattern("seq", deep.atom, deep.capacity, 400_000))
    assert -0.05 <= report("sequential reads, queue 128, no refresh (GB/s)", s.bandwidth_gbps, 1555.2) <= 1e-3
    d = load_device("HBM2-A100")
    rates = [run_stream(load_device("HBM2-A100", {"controller": {"queue_size": q}}),
                     pattern("seq", d.atom, d.capacity, 400_000)).bandwidth_gbps for q in (32, 64, 128)]
    dev = report("sequential reads, preset (queue 32, refresh) (GB/s)", rates[0], 1555.2)
    assert -0.40 <= dev <= -0.10 and rates[0] < rates[1] < rates[2]
    t = d.timing
    assert t.tRP + t.tRCDRD + t.CL + t.tBL == 56


def test_the_a100_architecture_simulates_its_hbm_command_by_command():
    hbm = load_arch("a100")["hbm"]
    assert hbm.cycle_level and hbm.device().name == "HBM2-A100"
    assert hbm.channels == 40 and hbm.capacity == 40 * 2**30 and abs(hbm.bandwidth / 1555.2e9 - 1) < 1e-3
