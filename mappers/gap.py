"""The strategy gap report: how close each search strategy gets to the best mapping known, at fixed budgets.

On spaces too large to search exhaustively (a 4096^3 GEMM: 3.7e14 mappings; a decode attention Einsum:
1.2e16) the optimum is unknown, so each strategy is measured against two references:

- the best mapping any run of the report found (`best_known`): every strategy and seed, at the largest
  budget; a gap of 0 means the strategy found it;
- a roofline floor no mapping can beat (`floor`): the larger of the work at the unit's peak rate and the
  compulsory DRAM traffic (every operand once) at the DRAM's bandwidth. It ignores the array's fill
  and drain, so it is not attainable; it says how much room any search could still have.

The gap at budget N is read off one run per (strategy, seed) at the largest budget: the best latency
among the evaluations up to N (anytime performance), so smaller budgets cost nothing extra.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from loomsim.mappers.problem import KIND_SYSTOLIC, EinsumProblem, Target
from loomsim.workloads import Cascade, gemm

STRATEGIES = ("random", "loop-order", "evolutionary")


def gap_cases() -> dict[str, Cascade]:
    """The two problems of the issue: a 4096^3 GEMM and the score Einsum of a decode step (Llama-2-7B-like:
    32 heads of 128, a batch of 8 requests with 4096 keys each, one query each)."""
    return {"gemm4096": gemm(M=4096, N=4096, K=4096),
            "decode_qk": Cascade.from_text("decode_qk", "QK[b,h,m,p] = QS[b,h,e,p] * K[b,h,e,m]",
                                           {"b": 8, "h": 32, "m": 4096, "p": 1, "e": 128})}


def floor_ps(problem: EinsumProblem, target: Target) -> float:
    """Latency no mapping can beat: work at the unit's peak rate, or compulsory DRAM bytes at its bandwidth."""
    u = target.unit
    per_cycle = (u.rows * u.cols if target.kind == KIND_SYSTOLIC else u.lanes * u.ops_per_cycle / problem.ops_per_point)
    compute = problem.points / (per_cycle * target.count) * 1e12 / u.clock
    compulsory = sum(problem.nbytes(t, problem.elements(t)) for t in range(problem.T))
    return max(compute, compulsory * 1e12 / target.levels[-1].bandwidth)


def best_by_budget(trace: list, budgets) -> list[float]:
    """The best latency within the first N evaluations of a run, from its improvement trace."""
    out = []
    for n in budgets:
        seen = [lat for evaluated, lat, _ in trace if evaluated <= n]
        out.append(min(seen) if seen else np.inf)
    return out


def gap_report(arch, budgets=(10_000, 100_000, 1_000_000), seeds=(0, 1, 2), strategies=STRATEGIES,
               cases: dict[str, Cascade] | None = None, objective: str = "latency") -> pd.DataFrame:
    """Tidy rows (case, strategy, budget, stat, unit, value): the median and worst gap over seeds to the best
    known mapping and to the floor, and the references themselves."""
    from loomsim.mappers.cost import CostModel
    from loomsim.mappers.search import parse_objective, run_search
    from loomsim.mappers.space import MapSpace
    from loomsim.mappers.strategies import make_strategy

    obj = parse_objective(objective)
    rows = []
    for name, cascade in (cases or gap_cases()).items():
        problem = EinsumProblem.from_einsum(cascade, cascade.einsums[0])
        target = Target.from_arch(arch)
        space = MapSpace(problem, target)
        cm = CostModel(space)
        found = {}
        for s in strategies:
            for seed in seeds:
                r = run_search(space, cm, make_strategy(s, space, obj, seed), budget=max(budgets), batch=1024)
                found[(s, seed)] = best_by_budget(r.trace, budgets)
        best = min(min(v) for v in found.values())
        floor = floor_ps(problem, target)
        rows += [(name, "-", 0, "space_size", "mappings", float(space.size)),
                 (name, "-", 0, "best_known_latency", "ps", best), (name, "-", 0, "floor_latency", "ps", floor)]
        for s in strategies:
            for j, n in enumerate(budgets):
                lat = np.array([found[(s, seed)][j] for seed in seeds])
                rows += [(name, s, n, "gap_to_best_known_median", "ratio", float(np.median(lat) / best - 1)),
                         (name, s, n, "gap_to_best_known_worst", "ratio", float(lat.max() / best - 1)),
                         (name, s, n, "gap_to_floor_median", "ratio", float(np.median(lat) / floor - 1))]
    return pd.DataFrame(rows, columns=["case", "strategy", "budget", "stat", "unit", "value"])


def gap_table(frame: pd.DataFrame) -> str:
    """The report as a readable table: median (worst) gap to the best known, per strategy and budget."""
    lines = []
    for case, f in frame.groupby("case", sort=False):
        ref = dict(zip(f["stat"], f["value"]))
        lines.append(f"{case}: {ref['space_size']:.3g} mappings; best known {ref['best_known_latency'] / 1e6:.1f} us, "
                     f"floor {ref['floor_latency'] / 1e6:.1f} us")
        g = f[f["strategy"] != "-"]
        budgets = sorted(g["budget"].unique())
        lines.append("  strategy      " + "".join(f"{b:>22,d}" for b in budgets))
        for s, fs in g.groupby("strategy", sort=False):
            cells = []
            for b in budgets:
                v = dict(zip(fs[fs["budget"] == b]["stat"], fs[fs["budget"] == b]["value"]))
                cells.append(f"{v['gap_to_best_known_median']:+8.1%} ({v['gap_to_best_known_worst']:+7.1%})")
            lines.append(f"  {s:12s}  " + "".join(f"{c:>22s}" for c in cells))
    return "\n".join(lines)
