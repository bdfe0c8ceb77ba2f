"""The engine against closed forms, with the deviation printed (run `pytest -s` to see the figures)."""
import pytest

from dram_support import device, run, times
from loomsim.simulator.dram.run import run_stream
from loomsim.simulator.dram.trace import pattern


def report(what, measured, expected):
    dev = (measured - expected) / expected if expected else 0.0
    print(f"\n  {what}: measured {measured:.5g}, closed form {expected:.5g}, deviation {100 * dev:+.2f}%")
    return dev


@pytest.mark.parametrize("preset", ["HBM2", "HBM3", "GDDR6", "LPDDR5", "DDR4", "DDR5"])
def test_unloaded_read_latency_is_trcd_plus_cl_plus_burst(preset):
    d = device(preset)
    t = d.timing
    _, out, _ = run(d, [("R", {"row": 3}, 0)])
    closed = t.tRCDRD + t.CL + t.tBL
    assert report(f"{preset} unloaded read latency (cycles)", out.done[0], closed) == 0
    assert out.done[0] == d.unloaded_read_cycles()


def test_row_hit_and_row_conflict_latencies():
    d = device()
    t = d.timing
    far = 1000                                          # the bank has been open long enough (tRAS, tRC)
    _, out, _ = run(d, [("R", {"row": 1}, 0), ("R", {"row": 1, "col": 1}, far), ("R", {"row": 2}, 2 * far)])
    assert report("row-hit latency", out.done[1] - far, t.CL + t.tBL) == 0
    assert report("row-conflict latency", out.done[2] - 2 * far, t.tRP + t.tRCDRD + t.CL + t.tBL) == 0


def test_sequential_reads_with_an_open_page_stream_within_10_percent_of_peak():
    d = device(ranks=1, refresh="all_bank")            # one HBM2 channel with its refresh
    s = run_stream(d, pattern("seq", d.atom, d.capacity, 200_000))
    dev = report("sequential read bandwidth (GB/s)", s.bandwidth_gbps, d.peak_bandwidth / 1e9)
    assert -0.10 <= dev <= 0
    bare = run_stream(device(ranks=1), pattern("seq", d.atom, d.capacity, 200_000))
    assert report("... without refresh (GB/s)", bare.bandwidth_gbps, d.peak_bandwidth / 1e9) >= -0.01
    # one ACT per row of 16 accesses, plus one for every row a refresh closed: at each refresh between one
    # and three rows are open (the 32-entry queue spans at most three 16-access rows)
    rows = s.requests / d.columns
    assert rows + s.commands["REF"] <= s.commands["ACT"] <= rows + 3 * s.commands["REF"]


def test_random_reads_are_bounded_by_the_activation_window():
    """Every random read needs its own ACT; a rank allows 4 per tFAW (and one per tRRD), so reads per
    cycle <= min(4 / tFAW, 1 / tRRD_S). With 16 banks a row cycle (tRC) does not bind: 16/tRC > 4/tFAW."""
    d = device(ranks=1, page_policy="closed", queue_size=64)
    t = d.timing
    bound = min(4 / t.tFAW, 1 / t.tRRD_S)
    assert d.banks_per_rank / t.tRC > bound
    s = run_stream(d, pattern("random", d.atom, d.capacity, 50_000, seed=3))
    dev = report("random reads per cycle vs 4/tFAW", s.transactions_per_cycle, bound)
    assert s.commands["ACT"] == s.requests                 # no row hits to speak of
    assert -0.05 <= dev <= 1e-3          # the first window's burst of 4 lets a finite run edge over


def test_refresh_overhead_is_trfc_over_trefi_plus_the_pipeline_refill():
    """A refresh idles the data bus for tRFC plus closing and reopening the pipeline: precharge after the
    last read (tRTP, or tRAS after the last ACT), tRP before REF, and tRCD after the next ACT."""
    on = device(ranks=1, refresh="all_bank")
    off = device(ranks=1)
    t = on.timing
    with_ref = run_stream(on, pattern("seq", on.atom, on.capacity, 400_000))
    without = run_stream(off, pattern("seq", off.atom, off.capacity, 400_000))
    overhead = 1 - with_ref.bandwidth_gbps / without.bandwidth_gbps
    low = t.tRFC / t.tREFI
    high = (t.tRFC + max(t.tRAS, t.tRTP_S) + t.tRPab + t.tRCDRD) / t.tREFI
    report("refresh overhead vs tRFC/tREFI", overhead, low)
    report("refresh overhead vs (tRFC + tRAS + tRPab + tRCDRD)/tREFI", overhead, high)
    assert low <= overhead <= high


def test_2kib_stride_misses_every_row_that_64b_stride_hits():
    """HBM2 rows are 1 KiB: a 2 KiB stride lands every access in another bank or row (hit rate 0, one ACT
    per read), where consecutive 64 B accesses hit 15 of every 16."""
    d = device(ranks=1, refresh="none")
    stride = run_stream(d, pattern("stride:2048", d.atom, d.capacity, 20_000))
    seq = run_stream(d, pattern("seq", d.atom, d.capacity, 20_000))
    report("2 KiB stride row-hit rate", stride.row_hit_rate + 1, 1)       # printed as 1 + rate
    assert stride.row_hit_rate == 0 and stride.commands["ACT"] == stride.requests
    assert seq.row_hit_rate == pytest.approx(15 / 16, abs=1e-3)
    assert stride.bandwidth_gbps < seq.bandwidth_gbps / 2
