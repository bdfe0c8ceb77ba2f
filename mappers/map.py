"""The mapper's front door: a workload and an architecture in, a `Program` (and why) out."""
from __future__ import annotations

from dataclasses import dataclass

from loomsim.arch import ArchSpec
from loomsim.errors import LoomError
from loomsim.mappers.gemm import GemmCost, GemmMapping, GemmMapSpace, GemmProblem, GemmTarget, evaluate
from loomsim.mappers.lower import lower
from loomsim.mappers.program import Program
from loomsim.mappers.search import Exhaustive, SearchResult, run_search
from loomsim.workloads import Cascade


@dataclass(frozen=True)
class Mapped:
    program: Program
    mapping: GemmMapping
    cost: GemmCost
    search: SearchResult


def map_workload(arch: ArchSpec, cascade: Cascade, objective: str = "latency",
                 mapping: GemmMapping | None = None) -> Mapped:
    """Find the best GEMM mapping by the analytic cost (or use the one given) and lower it."""
    problem = GemmProblem.from_cascade(cascade)
    target = GemmTarget.from_arch(arch)
    target.check_dtypes(problem)
    space = GemmMapSpace(problem, target)
    if mapping is not None:
        reason = space.check(mapping)
        if reason is not None:
            raise LoomError(f"the given mapping ({mapping.describe()}) is not legal: {reason}.")
        result = SearchResult(mapping, evaluate(problem, target, mapping), evaluated=1)
    else:
        result = run_search(space, lambda mp: evaluate(problem, target, mp), Exhaustive(space), objective)
        if result.best is None:
            raise LoomError(
                f"no legal mapping of '{problem.einsum}' on '{arch.name}': all {sum(result.rejected.values())} "
                f"candidates were rejected ({dict(result.rejected)}); even the smallest tiles do not fit "
                f"the {target.sram.name} SRAM.")
    cost = result.best_cost
    info = {"einsum": problem.einsum, "objective": objective, "M": problem.M, "N": problem.N, "K": problem.K,
            "estimated_latency_ps": cost.latency_ps, "estimated_energy_pj": cost.energy_pj,
            "estimated_compute_cycles": cost.compute_cycles, "estimated_dram_bytes": cost.dram_bytes,
            "space_size": len(space), **result.summary()}
    return Mapped(lower(problem, target, result.best, info), result.best, cost, result)
