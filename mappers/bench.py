"""`loom bench mapper`: mapping evaluations per second of the numba cost kernel, against plain-Python cost
models measured in the same run, for a 4096^3 GEMM on a three-level hierarchy; `loom bench mapper-gap`:
how close each search strategy gets to the best mapping at a fixed budget (see `gap.py`)."""
from __future__ import annotations

import statistics
import time
import types

import numpy as np
import pandas as pd

from loomsim.benchmarks import benchmark

# A benchmark hierarchy, not a modelled design: a 128x128 array under a 1 MiB SRAM, a 32 MiB SRAM
# and an HBM-class DRAM, so the map space has three levels of tiling.
BENCH_ARCH = """\
name: bench-3level
clock: 1GHz
components:
  pe: {type: systolic_array, rows: 128, cols: 128, dataflow: ws}
  l1: {type: sram, capacity: 1MiB, banks: 8, port_width: 64B}
  l2: {type: sram, capacity: 32MiB, banks: 16, port_width: 64B}
  mem: {type: dram, bandwidth: 1TB/s, latency: 100ns}
links:
  - {from: mem, to: l2, bandwidth: 1TB/s}
  - {from: l2, to: l1, bandwidth: 2TB/s}
"""


def bench_space(M=4096, N=4096, K=4096, fold_pipelining="none"):
    from loomsim.arch import parse_arch
    from loomsim.mappers.cost import CostModel
    from loomsim.mappers.problem import EinsumProblem, Target
    from loomsim.mappers.space import MapSpace
    from loomsim.workloads import gemm

    c = gemm(M=M, N=N, K=K)
    text = BENCH_ARCH.replace("dataflow: ws}", f"dataflow: ws, fold_pipelining: {fold_pipelining}}}")
    space = MapSpace(EinsumProblem.from_einsum(c, c.einsums[0]), Target.from_arch(parse_arch(text, "bench")))
    return space, CostModel(space)


def legal_rows(space, cm, n: int, seed: int = 0) -> np.ndarray:
    """n legal mapping rows, drawn at random (rejected draws are discarded)."""
    rng = np.random.default_rng(seed)
    out = []
    have = 0
    while have < n:
        rows = space.decode(space.sample_digits(rng, 65536))
        ok = rows[cm.evaluate(rows)[0] == 0]
        out.append(ok)
        have += len(ok)
    return np.concatenate(out)[:n]


def interpreted(dispatcher):
    """The plain-Python function behind a numba kernel, with every numba helper it calls replaced by its
    own plain-Python function: the same cost model, run by the interpreter."""
    import numba

    module_globals = dispatcher.py_func.__globals__
    env = dict(module_globals)
    for name, value in module_globals.items():
        if isinstance(value, numba.core.registry.CPUDispatcher):
            env[name] = value.py_func
    f = dispatcher.py_func
    return types.FunctionType(f.__code__, env, f.__name__, f.__defaults__, f.__closure__)


def _rate(fn, n: int, repeats: int) -> list[float]:
    runs = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        runs.append(n / (time.process_time() - t0))
    return runs


@benchmark("mapper", "cost-model evaluations/s: numba kernel vs the same model in plain Python and vs the "
                     "loop-nest walker, 4096^3 GEMM, 3 levels")
def mapper_bench(quick: bool = False) -> pd.DataFrame:
    from loomsim.mappers import cost_kernel as K
    from loomsim.mappers.cost_reference import reference_counts

    space, cm = bench_space()
    n = 20_000 if quick else 200_000
    rows = legal_rows(space, cm, n)
    cm.evaluate(rows[:16])                        # compile (or load the cache) outside the timing
    runs = _rate(lambda: cm.evaluate(rows), n, 3 if quick else 7)
    kernel = statistics.median(runs)
    # the same rows on a double-buffered array: the pipeline across tasks is counted per loop and partial
    # tile pattern (`pipeline_kernel.py`), which the back-to-back folds above do not need
    _, cm_db = bench_space(fold_pipelining="double_buffered")
    cm_db.evaluate(rows[:16])
    kernel_db = statistics.median(_rate(lambda: cm_db.evaluate(rows), n, 3 if quick else 5))
    # The same analytic model run by the interpreter, on a slice of the same rows.
    py_eval = interpreted(K._evaluate_rows)
    few_rows = rows[:100 if quick else 400]
    k = len(few_rows)
    outs = (np.empty(k, np.int64), np.empty(k), np.empty(k), np.empty(k, np.int64))
    counts = np.zeros((space.problem.T, space.target.L, K.NCOUNT), np.int64)
    summary = np.zeros(K.NSUM)
    python_model = statistics.median(_rate(lambda: py_eval(few_rows, *cm._args, *outs, False, counts, summary), k, 3))
    # The walker's time grows with the steps of the nest, so it is timed (and the kernel with it) on the
    # mappings of the same problem with 256^3 compute tiles (4096 tasks, every loop order, single and double
    # buffered); the kernel's time does not depend on that.
    from itertools import permutations

    from loomsim.mappers.space import Mapping
    tiled = np.array([space.row(Mapping.tiled(space.problem, space.target, {"m": 256, "n": 256, "k": 256}, order, db))
                      for order in permutations("mnk") for db in (True, False)])
    t0 = time.process_time()
    for row in tiled:
        reference_counts(space.problem, space.target, space.mapping(row))
    walker = len(tiled) / (time.process_time() - t0)
    reps = np.repeat(tiled, max(1, 100_000 // len(tiled)), axis=0)
    kernel_tiled = statistics.median(_rate(lambda: cm.evaluate(reps), len(reps), 3))
    out = [
        ("gemm4096_3level", "kernel_evaluations_per_s", "1/s", kernel),
        ("gemm4096_3level", "kernel_evaluations_per_s_min", "1/s", min(runs)),
        ("gemm4096_3level", "kernel_ns_per_evaluation", "ns", 1e9 / kernel),
        ("gemm4096_3level", "python_model_evaluations_per_s", "1/s", python_model),
        ("gemm4096_3level", "kernel_over_python_model", "ratio", kernel / python_model),
        ("gemm4096_3level", "space_size", "mappings", float(space.size)),
        ("gemm4096_3level_double_buffered", "kernel_evaluations_per_s", "1/s", kernel_db),
        ("gemm4096_3level_double_buffered", "kernel_over_back_to_back_folds", "ratio", kernel_db / kernel),
        ("gemm4096_3level_tiles256", "kernel_evaluations_per_s", "1/s", kernel_tiled),
        ("gemm4096_3level_tiles256", "python_walker_evaluations_per_s", "1/s", walker),
        ("gemm4096_3level_tiles256", "kernel_over_python_walker", "ratio", kernel_tiled / walker),
    ]
    return pd.DataFrame(out, columns=["case", "stat", "unit", "value"])


@benchmark("mapper-gap", "each strategy's gap to the best mapping known at 10^4, 10^5 and 10^6 evaluations, "
                         "4096^3 GEMM and a decode attention Einsum, 3 levels")
def mapper_gap_bench(quick: bool = False) -> pd.DataFrame:
    from loomsim.arch import parse_arch
    from loomsim.mappers.gap import gap_report

    arch = parse_arch(BENCH_ARCH, "bench")
    if quick:
        return gap_report(arch, budgets=(10_000, 50_000), seeds=(0,))
    return gap_report(arch)
