"""The mapper's front door: a cascade and an architecture in, a `Program` (and why) out.

For each Einsum: a placement policy picks the compute unit, the map space of the Einsum on that unit
and its memories is searched (exhaustively when small, else by the chosen strategy within a budget),
and the best mapping is lowered to tasks; Einsums are chained in program order, each waiting for the
tensors it reads. With `fuse=True`, consecutive Einsums whose intermediate can stay on chip are mapped
together when that is cheaper: NOT YET IMPLEMENTED (the kernel supports resident tensors; the planner
is missing), so `fuse=True` raises.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from loomsim.arch import ArchSpec
from loomsim.errors import LoomError
from loomsim.mappers.cost import Cost, CostModel
from loomsim.mappers.lower import lower
from loomsim.mappers.placement import place
from loomsim.mappers.problem import EinsumProblem, Target
from loomsim.mappers.program import Program
from loomsim.mappers.render import describe, render
from loomsim.mappers.search import SearchResult, parse_objective, run_search
from loomsim.mappers.space import MapSpace, Mapping
from loomsim.mappers.strategies import make_strategy
from loomsim.workloads import Cascade

EXHAUSTIVE_UP_TO = 200_000
DEFAULT_BUDGET = 50_000
SIMPLIFICATIONS = (
    "Mapper: partial sums are kept and spilled at the output's data type (no wider accumulator precision).",
    "Mapper: the unit re-reads a compute tile's operands from the innermost SRAM for every tile (no reuse "
    "across tiles inside the array), so the innermost level's loop order changes no count.",
    "Mapper: a tile split across identical arrays gives each array its own SRAM reads (no broadcast).",
)


@dataclass(frozen=True)
class EinsumMapping:
    """The chosen mapping of one Einsum (or of a fused sub-problem, repeated `repeat` times)."""

    problem: EinsumProblem
    target: Target
    mapping: Mapping
    cost: Cost
    search: SearchResult
    space_size: int
    repeat: int = 1

    def render(self) -> str:
        text = render(self.problem, self.target, self.mapping)
        return text + (f"\n(run {self.repeat} times, once per fused tile)" if self.repeat > 1 else "")


@dataclass(frozen=True)
class Mapped:
    program: Program
    einsums: tuple[EinsumMapping, ...]
    objective: tuple[str, ...]
    fused: tuple = field(default=())

    @property
    def mapping(self) -> Mapping:
        return self.einsums[0].mapping

    @property
    def cost(self) -> Cost:
        return self.einsums[0].cost

    @property
    def search(self) -> SearchResult:
        return self.einsums[0].search

    @property
    def latency_ps(self) -> float:
        return sum(m.cost.latency_ps * m.repeat for m in self.einsums)

    @property
    def energy_pj(self) -> float:
        return sum(m.cost.energy_pj * m.repeat for m in self.einsums)


def search_einsum(problem: EinsumProblem, target: Target, objective, strategy: str | None = None,
                  budget: int | None = None, seconds: float | None = None, seed: int = 0,
                  resident: int = 0, mapping: Mapping | None = None) -> EinsumMapping | None:
    """Search (or check and cost the given mapping); None when no legal mapping was found."""
    space = MapSpace(problem, target, resident)
    cm = CostModel(space)
    why = target.check_dtypes(problem)
    if why:
        result = SearchResult(None, None, strategy="none", evaluated=0)
        result.rejected["dtype"] = space.size
        raise LoomError(f"no mapping of '{problem.einsum}' on '{target.unit.name}': {why}; all "
                        f"{space.size:.3g} candidates rejected (dtype). Give the workload dtype={target.unit.dtype} "
                        "or change the unit's dtype.")
    if mapping is not None:
        row = space.row(mapping)
        reason, lat, en, _ = cm.evaluate(row[None, :])
        if reason[0]:
            raise LoomError(f"the given mapping of '{problem.einsum}' is not legal: {cm.reason_name(int(reason[0]))}.")
        result = SearchResult(row, (float(lat[0]), float(en[0])), evaluated=1, strategy="given")
    else:
        if strategy is None:
            strategy = "exhaustive" if space.size <= EXHAUSTIVE_UP_TO else "evolutionary"
        if strategy != "exhaustive" and budget is None and seconds is None:
            budget = DEFAULT_BUDGET
        result = run_search(space, cm, make_strategy(strategy, space, objective, seed), budget, seconds)
        if result.best_row is None:
            return None
    mp = space.mapping(result.best_row)
    return EinsumMapping(problem, target, mp, cm.cost(result.best_row), result, space.size)


def map_workload(arch: ArchSpec, cascade: Cascade, objective: str = "latency", mapping: Mapping | None = None,
                 strategy: str | None = None, budget: int | None = None, seconds: float | None = None,
                 seed: int = 0, placement: str = "by-kind", fuse: bool = False) -> Mapped:
    """Place, search and lower every Einsum of `cascade`; the result holds the Program and each mapping."""
    obj = parse_objective(objective)
    units = place(arch, cascade, placement)
    chosen: list[EinsumMapping] = []
    groups = []
    if fuse:
        # The kernel supports it (a tensor resident in the outermost SRAM: `MapSpace(resident=...)`), but the
        # planner that picks fused groups and their shared outer tiling is not written yet.
        raise LoomError("fusion across Einsums is not implemented yet (the mapper issue leaves it open); map "
                        "without --fuse.")
    fused_outputs = {e for g in groups for e in g.outputs}
    for e in cascade.einsums:
        if e.output.tensor in fused_outputs:
            g = next(g for g in groups if e.output.tensor in g.outputs)
            if e.output.tensor == g.outputs[0]:
                chosen += list(g.mappings)
            continue
        problem = EinsumProblem.from_einsum(cascade, e)
        target = Target.from_arch(arch, units[e.output.tensor])
        em = search_einsum(problem, target, obj, strategy, budget, seconds, seed,
                           mapping=mapping if len(cascade.einsums) == 1 else None)
        if em is None:
            raise LoomError(_empty_space_message(problem, target, arch))
        chosen.append(em)
    return Mapped(_program(cascade, chosen, obj), tuple(chosen), obj, tuple(groups))


def _empty_space_message(problem, target, arch) -> str:
    space = MapSpace(problem, target)
    return (f"no legal mapping of '{problem.einsum}' on '{arch.name}' was found; even the smallest tiles may not fit "
            f"the {target.levels[0].name} SRAM ({target.levels[0].capacity} B). Try a larger budget or --strategy "
            f"exhaustive (the space has {space.size:.3g} mappings).")


def _program(cascade: Cascade, chosen: list[EinsumMapping], objective) -> Program:
    tasks, after = [], {}
    for em in chosen:
        for _ in range(em.repeat):
            low = lower(em.problem, em.target, em.mapping, first_id=len(tasks), after=after)
            tasks += low.tasks
            after.update(low.produced)
    tensors = {name: t.dtype.name for name, t in cascade.tensors.items()}
    first = chosen[0]
    info = {"simplifications": list(SIMPLIFICATIONS), "objective": ",".join(objective),
            "einsums": [str(m.problem.einsum) for m in chosen],
            "description": "; ".join(describe(m.problem, m.mapping) for m in chosen),
            "evaluated": sum(m.search.evaluated for m in chosen),
            "rejected_total": sum(sum(m.search.rejected.values()) for m in chosen),
            "rejected": dict(sum((m.search.rejected for m in chosen), start=first.search.rejected.__class__())),
            "estimated_latency_ps": sum(m.cost.latency_ps * m.repeat for m in chosen),
            "estimated_energy_pj": sum(m.cost.energy_pj * m.repeat for m in chosen),
            "space_size": float(sum(m.space_size for m in chosen)),
            "loop_nests": [m.render() for m in chosen]}
    return Program(tuple(tasks), tensors, info)
