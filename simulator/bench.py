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
    reference on a shorter trace of the same kind; the ratio compares commands per second. The
    sequential trace has 4x the requests of the random one (it issues ~1.1 commands a request against
    ~3), so that each run lasts about as long (~0.25 s): a 60 ms run could not tell changes of 10%
    apart on a shared machine."""
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
        addr = _requests(kind, device, n * 4 if kind == "seq" else n)
        samples = []
        for _ in range(3):
            e = DramEngine(device, fifo=1 << 12)
            t0 = time.perf_counter()
            for start in range(0, len(addr), 1 << 16):   # fed in chunks, as `loom dram run` does
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
        rows += [(case, "requests", "count", len(addr)), (case, "commands", "count", cmds),
                 (case, "commands_per_second", "1/s", cmds / wall),
                 (case, "simulated_cycles_per_second", "cycle/s", cycles / wall),
                 (case, "reference_commands_per_second", "1/s", ref_rate),
                 (case, "speedup_vs_reference", "ratio", cmds / wall / ref_rate)]
    return pd.DataFrame(rows, columns=["case", "stat", "unit", "value"])


@benchmark("dram_decode", "DRAM address decode: requests queued per second (DramEngine.submit), a power-of-two "
                          "map (HBM2) against the A100's 40 channels (HBM2-A100)")
def dram_decode(quick: bool = False) -> pd.DataFrame:
    """Median of 5 submissions of n sequential and n random addresses into an engine with room for all
    (decode, count per channel, append to the arrival rings); nothing is simulated. The ratio is each
    case's rate over HBM2's of the same pattern."""
    from loomsim.arch.dram_presets import load_device
    from loomsim.simulator.dram.engine import DramEngine

    n = 1 << (17 if quick else 20)
    rates, rows = {}, []
    for preset in ("HBM2", "HBM2-A100"):
        device = load_device(preset)
        DramEngine(device).submit(_requests("seq", device, 1000), 0, 0)     # compile outside the timing
        for kind in ("seq", "random"):
            addr = _requests(kind, device, n)
            fifo = 1 << int(DramEngine(device).channel_counts(addr).max()).bit_length()   # rings with room
            walls = []
            for _ in range(5):
                e = DramEngine(device, fifo=fifo)
                e.st.fifo[:] = 0                 # touch the rings' pages outside the timing
                t0 = time.perf_counter()
                e.submit(addr, 0, 0)
                walls.append(time.perf_counter() - t0)
            rates[preset, kind] = n / float(np.median(walls))
            case = f"{preset} {kind}"
            rows += [(case, "requests_per_second", "1/s", rates[preset, kind]),
                     (case, "ratio_vs_HBM2", "ratio", rates[preset, kind] / rates["HBM2", kind])]
    return pd.DataFrame(rows, columns=["case", "stat", "unit", "value"])


def _overlap_run(device, n: int, kind: str, seed: int = 3):
    """One requester submits `n` streams (1 KiB each, or, for kind "pim", every fourth a GEMV bundle on a
    random channel), one per cycle and without waiting, then waits for all: the DRAM falls behind, so
    about `n` submissions are in flight at once. Returns (wall seconds, DramSystem)."""
    import simpy

    from loomsim.simulator.dram.component import DramSystem
    from loomsim.simulator.dram.pim import gemv

    rng = np.random.default_rng(seed)
    per = 1024 // device.atom
    starts = rng.integers(0, device.capacity // 1024, n) * 1024
    env = simpy.Environment()
    system = DramSystem(env, device)

    def requester():
        events = []
        for i in range(n):
            if kind == "pim" and i % 4 == 3:
                events.append(system.bundle(gemv(device, int(rng.integers(0, device.org.channels)),
                                                 [int(rng.integers(0, 256))], 4, vector=(1, 5))))
            else:
                events.append(system.stream(starts[i] + np.arange(per) * device.atom, 0))
            yield env.timeout(device.tck_ps)
        for e in events:
            yield e

    env.process(requester())
    t0 = time.perf_counter()                           # the DramSystem (and its engine) is built already
    env.run()
    return time.perf_counter() - t0, system


@benchmark("dram_overlap", "DRAM under SimPy: submissions per second as 10 .. 10,000 submissions overlap")
def dram_overlap(quick: bool = False, preset: str = "HBM2-PIM") -> pd.DataFrame:
    """The SimPy component's cost per submission while n submissions are in flight (n = 10 .. 10,000),
    streams alone and streams with PIM bundles: median of 3 runs (1 for the largest n). The baseline in
    the same run is the engine alone given the same requests up front (`engine_share`: the fraction of
    the component's wall time the engine alone needs), so the look-ahead's overhead is visible apart
    from the commands it must simulate anyway."""
    from loomsim.arch.dram_presets import load_device
    from loomsim.simulator.dram.engine import DramEngine

    device = load_device(preset)
    _overlap_run(device, 20, "pim")                    # compile (or load the cache) outside the timing
    sizes = (10, 100, 1000) if quick else (10, 100, 1000, 10_000)
    rows = []
    for kind in ("streams", "pim"):
        for n in sizes:
            runs = [_overlap_run(device, n, kind) for _ in range(1 if n >= 10_000 else 3)]
            wall, system = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
            e = system.engine
            alone = DramEngine(device)                # built outside the timing, as the component's is
            per = 1024 // device.atom
            starts = np.random.default_rng(3).integers(0, device.capacity // 1024, n) * 1024
            addr = (starts[:, None] + np.arange(per)[None, :] * device.atom).reshape(-1)
            t0 = time.perf_counter()
            alone.submit(addr, 0, np.repeat(np.arange(n), per))
            alone.run()
            engine_wall = time.perf_counter() - t0
            case = f"{preset} {kind} n={n}"
            rows += [(case, "submissions_per_second", "1/s", n / wall),
                     (case, "commands_per_second", "1/s", e.commands / wall),
                     (case, "lookahead_commands_per_command", "ratio", system.ahead.commands / e.commands),
                     (case, "wall_seconds", "s", wall)]
            if kind == "streams":
                rows.append((case, "engine_share", "ratio", engine_wall / wall))
    return pd.DataFrame(rows, columns=["case", "stat", "unit", "value"])
