"""Benchmarks of the modelled designs (`loom bench NAME`): where a serving iteration's wall time goes."""
from __future__ import annotations

import cProfile
import pstats
import time

import pandas as pd

from loomsim.benchmarks import benchmark

# Where time is spent, by the source folder of the function entered from the glue (designs, SimPy,
# the component models). A call from one of these folders into another stays with the first.
PARTS = {"mapping": "/mappers/", "dram_engine": "/simulator/dram/", "workload_build": "/workloads/"}


def _part(filename: str) -> str | None:
    f = filename.replace("\\", "/")
    return next((p for p, folder in PARTS.items() if folder in f), None)


def split_profile(stats: pstats.Stats) -> dict[str, float]:
    """Seconds spent in each part: the cumulative time of every call edge that enters the part from
    code outside all parts (so nested calls between parts are not counted twice). Comprehensions and
    generator expressions (`<genexpr>`, ...) are entered through built-ins (`any`, `max`) from code of
    their own module, so edges into them are never entries. SimPy resumes a part's generator through
    the built-in `send`, which is an entry."""
    out = dict.fromkeys(PARTS, 0.0)
    for func, (_, _, _, _, callers) in stats.stats.items():
        part = _part(func[0])
        if part is None or func[2].startswith("<"):
            continue
        for caller, edge in callers.items():
            # generated code (a dataclass's `__init__`, file "<string>") runs for its caller, which we do
            # not see here: the part that built the object already counts it
            if _part(caller[0]) is None and not caller[0].startswith("<"):
                out[part] += edge[3]
    return out


def _active(batch: int, seed: int = 0, fast_forward: int = 2048):
    """The batch of the main job: the steady state of continuous batching (see simulator/serving.py)."""
    from loomsim.designs.neupims import DEFAULT, trace_size
    from loomsim.simulator.serving import StepResult, serve_decode
    from loomsim.workloads.serving import requests
    setup = {**DEFAULT, "batch": batch, "fast_forward": fast_forward}
    trace = requests(trace_size(setup), rng=seed, dataset_name="sharegpt", max_total=DEFAULT["max_total"])
    seen = []
    serve_decode(trace, batch, lambda active: seen.append(list(active)) or StepResult(1.0), warmup=0, measure=1,
                 fast_forward=fast_forward)
    return seen[0]


@benchmark("neupims", "NeuPIMs serving: wall time of one decode iteration per system, and its split "
                      "between mapping, the DRAM engine, workload building and SimPy/component models")
def neupims(quick: bool = False, batch: int | None = None,
            systems: tuple[str, ...] = ("neupims", "npu_only", "npu_pim_blocked", "gpu_only")) -> pd.DataFrame:
    """Per system, on a steady-state batch like the main job's (batch 64 by default, 16 with `quick`; the
    main job's is 256, `batch=256`): a first iteration (mapping searches included), then a second one of
    the same batch one token later, timed plainly (`wall_s`) and then again under cProfile for the split (profiling
    inflates Python-heavy parts more than numba ones, so the split is indicative; the plain time is the
    figure to quote). Also simulated picoseconds per wall second and tasks per wall second."""
    from loomsim.designs.neupims import make_system

    batch = batch or (16 if quick else 64)
    setup = {"model": "gpt3-7b-neupims", "tp": 4, "batch": batch}
    rows = []
    for name in systems:
        system = make_system(name, setup)
        active = _active(batch)
        t0 = time.perf_counter()
        system.step(active)
        first = time.perf_counter() - t0
        active = [(r, k + 1) for r, k in active]
        t0 = time.perf_counter()
        step = system.step(active)
        wall = time.perf_counter() - t0
        tasks = len(system.last_layer.tasks["id"])
        prof = cProfile.Profile()
        prof.enable()
        system.step([(r, k + 1) for r, k in active])
        prof.disable()
        stats = pstats.Stats(prof)
        total = stats.total_tt
        parts = split_profile(stats)
        case = f"{name}_b{batch}"
        rows += [(case, "first_iteration_wall_s", "s", first), (case, "wall_s", "s", wall),
                 (case, "simulated_ps_per_wall_s", "ps/s", step.time_s * 1e12 / wall),
                 (case, "tasks_per_wall_s", "1/s", tasks / wall)]
        for p, sec in parts.items():
            rows.append((case, f"share_{p}", "ratio", sec / total))
        rows.append((case, "share_simpy_and_models", "ratio", max(0.0, 1 - sum(parts.values()) / total)))
    return pd.DataFrame(rows, columns=["case", "stat", "unit", "value"])
