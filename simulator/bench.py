"""Benchmarks of the simulator layer (`loom bench NAME`): the cycle-level DRAM engine."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from loomsim.benchmarks import benchmark


def _requests(kind: str, device, n: int, seed: int = 1) -> np.ndarray:
    if kind == "seq":
        return np.arange(n, dtype=np.int64) * device.atom
    return np.random.default_rng(seed).integers(0, device.capacity // device.atom, n) * device.atom


@benchmark("dram", "DRAM engine: commands and simulated cycles per second (sequential, random), vs the Python reference")
def dram(quick: bool = False, preset: str = "HBM2") -> pd.DataFrame:
    """Median of 3 runs of the numba engine per trace (compile excluded), and one run of the plain-Python
    reference on a shorter trace of the same kind; the ratio compares commands per second."""
    from loomsim.arch.dram_presets import load_device
    from loomsim.simulator.dram.engine import DramEngine
    from loomsim.simulator.dram.reference import ReferenceController

    device = load_device(preset)
    n, n_ref = (100_000, 500) if quick else (1_000_000, 3_000)
    warm = DramEngine(device)
    warm.submit(_requests("random", device, 2000), 0, 0)
    warm.run()                                        # compile (or load the cache) outside the timing
    rows = []
    for kind in ("seq", "random"):
        addr = _requests(kind, device, n)
        samples = []
        for _ in range(3):
            e = DramEngine(device, fifo=1 << 12)
            t0 = time.perf_counter()
            for start in range(0, n, 1 << 16):       # fed in chunks, as `loom dram run` does
                e.submit(addr[start:start + (1 << 16)], 0, 0)
                e.run(until=0)
            e.run()
            wall = time.perf_counter() - t0
            samples.append((wall, e.commands, e.now + 1))
        wall, cmds, cycles = sorted(samples)[1]
        ref = ReferenceController(device)
        ref_addr = _requests(kind, device, n_ref)
        ref.submit(ref_addr, np.zeros(n_ref, dtype=np.int64), np.zeros(n_ref, dtype=np.int64))
        t0 = time.perf_counter()
        ref.run()
        ref_wall = time.perf_counter() - t0
        ref_rate = len(ref.log) / ref_wall
        case = f"{preset} {kind}"
        rows += [(case, "requests", "count", n), (case, "commands", "count", cmds),
                 (case, "commands_per_second", "1/s", cmds / wall),
                 (case, "simulated_cycles_per_second", "cycle/s", cycles / wall),
                 (case, "reference_commands_per_second", "1/s", ref_rate),
                 (case, "speedup_vs_reference", "ratio", cmds / wall / ref_rate)]
    return pd.DataFrame(rows, columns=["case", "stat", "unit", "value"])
