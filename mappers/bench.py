"""`loom bench mapper`: mapping evaluations per second of the numba cost kernel, against the plain-Python
loop-nest walker measured in the same run, for a 4096^3 GEMM on a three-level hierarchy."""
from __future__ import annotations

import statistics
import time

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


def bench_space(M=4096, N=4096, K=4096):
    from loomsim.arch import parse_arch
    from loomsim.mappers.cost import CostModel
    from loomsim.mappers.problem import EinsumProblem, Target
    from loomsim.mappers.space import MapSpace
    from loomsim.workloads import gemm

    c = gemm(M=M, N=N, K=K)
    space = MapSpace(EinsumProblem.from_einsum(c, c.einsums[0]), Target.from_arch(parse_arch(BENCH_ARCH, "bench")))
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


@benchmark("mapper", "cost-model evaluations/s: numba kernel vs the Python loop-nest walker, 4096^3 GEMM, 3 levels")
def mapper_bench(quick: bool = False) -> pd.DataFrame:
    from loomsim.mappers.cost_reference import reference_counts

    space, cm = bench_space()
    n = 20_000 if quick else 200_000
    rows = legal_rows(space, cm, n)
    cm.evaluate(rows[:16])                        # compile (or load the cache) outside the timing
    runs = []
    for _ in range(3 if quick else 7):
        t0 = time.process_time()
        cm.evaluate(rows)
        runs.append(n / (time.process_time() - t0))
    kernel = statistics.median(runs)
    # The walker's time grows with the steps of the nest, so it is timed (and the kernel with it) on the
    # mappings of the same problem with 256^3 compute tiles (4096 tasks, every loop order, single and double buffered); the kernel's time does not depend on that.
    from itertools import permutations

    from loomsim.mappers.space import Mapping
    few = np.array([space.row(Mapping.tiled(space.problem, space.target, {"m": 256, "n": 256, "k": 256}, order, db))
                    for order in permutations("mnk") for db in (True, False)])
    t0 = time.process_time()
    for row in few:
        reference_counts(space.problem, space.target, space.mapping(row))
    python = len(few) / (time.process_time() - t0)
    reps = np.repeat(few, max(1, 100_000 // len(few)), axis=0)
    runs_few = []
    for _ in range(3):
        t0 = time.process_time()
        cm.evaluate(reps)
        runs_few.append(len(reps) / (time.process_time() - t0))
    kernel_few = statistics.median(runs_few)
    rows_out = [
        ("gemm4096_3level", "kernel_evaluations_per_s", "1/s", kernel),
        ("gemm4096_3level", "kernel_evaluations_per_s_min", "1/s", min(runs)),
        ("gemm4096_3level", "space_size", "mappings", float(space.size)),
        ("gemm4096_3level_tiles256", "kernel_evaluations_per_s", "1/s", kernel_few),
        ("gemm4096_3level_tiles256", "python_walker_evaluations_per_s", "1/s", python),
        ("gemm4096_3level_tiles256", "kernel_over_python", "ratio", kernel_few / python),
    ]
    return pd.DataFrame(rows_out, columns=["case", "stat", "unit", "value"])
