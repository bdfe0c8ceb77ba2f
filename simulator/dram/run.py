"""Run a request stream through the engine and summarise it: what `loom dram run` prints and writes.

Streams are fed chunk by chunk; after each chunk the engine is run up to the chunk's last arrival
(commands before it are final; see `kernel.py`), so memory holds one chunk plus the controller state.
Read latency is measured from a request's entry into the controller queue to its last data beat, in
a histogram of one bin per cycle (exact mean and percentiles up to 2^20 cycles).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np

from loomsim.arch.dram_device import DramDevice
from loomsim.simulator.dram.engine import DramEngine, simplifications
from loomsim.simulator.dram.state import INF
from loomsim.simulator.dram.trace import Chunk

HIST_BINS = 1 << 20


@dataclass
class RunStats:
    """One run's results, in units a reader can check against the datasheet."""

    device: str
    requests: int
    reads: int
    writes: int
    cycles: int
    tck_ps: int
    transactions_per_cycle: float
    bandwidth_gbps: float
    peak_gbps: float
    commands: dict[str, int]
    row_hit_rate: float
    read_latency_mean: float
    read_latency_p99: float
    energy_pj: dict[str, float]
    energy_model: str
    wall_seconds: float
    commands_per_second: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class _Latency:
    """Per-cycle histogram of read latencies."""

    def __init__(self):
        self.hist = np.zeros(HIST_BINS, dtype=np.int64)
        self.n = 0
        self.total = 0

    def add(self, lat: np.ndarray) -> None:
        if lat.size:
            self.hist += np.bincount(np.minimum(lat, HIST_BINS - 1), minlength=HIST_BINS)
            self.n += lat.size
            self.total += int(lat.sum())

    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    def percentile(self, q: float) -> float:
        if not self.n:
            return 0.0
        return float(np.searchsorted(np.cumsum(self.hist), q / 100 * self.n))


def run_stream(device: DramDevice, chunks: Iterable[Chunk], cycles: int | None = None) -> RunStats:
    """Simulate every request of `chunks` (or up to cycle `cycles`) and summarise."""
    engine = DramEngine(device)
    lat = _Latency()
    completed = reads = writes = last_done = 0
    limit = INF if cycles is None else cycles
    wall0 = time.perf_counter()

    def absorb(out):
        nonlocal completed, reads, writes, last_done
        w = out.write.astype(bool)
        last_done = max(last_done, int(out.done.max()) if out.done.size else 0)
        completed += out.id.size
        writes += int(w.sum())
        reads += int((~w).sum())
        lat.add((out.done - out.enter)[~w])

    for chunk in chunks:
        if chunk.arrival.size == 0:
            continue
        if chunk.arrival[0] >= limit:
            break
        keep = chunk.arrival < limit
        engine.submit(chunk.addr[keep], chunk.write[keep], chunk.arrival[keep])
        absorb(engine.run(until=min(int(chunk.arrival[keep][-1]), limit)))
    absorb(engine.run(until=limit))
    wall = time.perf_counter() - wall0
    end = max(last_done, engine.now + 1) if cycles is None else cycles     # the last data beat ends the run
    counts = engine.counts()
    col = counts["RD"] + counts["WR"] + counts["RDA"] + counts["WRA"]
    rep = engine.energy(end)
    nbytes = completed * device.atom
    return RunStats(
        device=device.name, requests=completed, reads=reads, writes=writes, cycles=end, tck_ps=device.tck_ps,
        transactions_per_cycle=completed / end if end else 0.0,
        bandwidth_gbps=nbytes / (end * device.tck_ps * 1e-12) / 1e9 if end else 0.0,
        peak_gbps=device.peak_bandwidth / 1e9, commands=counts,
        row_hit_rate=max(0.0, 1 - counts["ACT"] / col) if col else 0.0,
        read_latency_mean=lat.mean(), read_latency_p99=lat.percentile(99),
        energy_pj=dict(rep.pj), energy_model=rep.model, wall_seconds=wall,
        commands_per_second=engine.commands / wall if wall > 0 else 0.0,
        notes=list(simplifications(device)) + rep.notes)
