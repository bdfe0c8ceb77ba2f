"""The mapper's front door: a cascade and an architecture in, a `Program` (and why) out.

The cascade runs as groups (`fusion.py`): single Einsums, the body of a recurrence stepping its rank,
or, with `fuse=True`, planned runs of Einsums under a shared loop nest with their intermediates on
chip. For each member of a group: a placement policy picks the compute unit, the member's sub-problem
is searched on that unit and its memories (exhaustively when small, else by the chosen strategy within a
budget) with the outermost SRAM's capacity reduced by the resident tensors live beside it, and the
best mapping is lowered once per run of the member, in the group's loop-tree order. Identical
sub-problems (the Q, K and V projections; every bias add of one shape) are searched once per call.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from loomsim.arch import ArchSpec
from loomsim.errors import LoomError
from loomsim.mappers.cost import Cost, CostModel
from loomsim.mappers.fusion import RESERVE, Group, plan_groups, plan_span
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
    "Mapper: each run of an Einsum has its own buffer slots, so the next run's first loads may start while "
    "the previous run computes (as if double-buffered between runs).",
    "Mapper: '+=' reads the prior values of what it writes, so a KV-cache append written '+=' reads the "
    "slots it fills.",
)
FUSION_SIMPLIFICATIONS = (
    "Fusion: shared (outer) tiles divide their ranks; the iterative rank steps one position at a time and is "
    "the innermost shared loop.",
    "Fusion: a resident tensor holds its whole footprint from its first to its last use (no finer reuse of "
    "its space within a step).",
    "Fusion: a tensor written only by '+=' is state (a KV cache, an MoE combine) and stays in the DRAM.",
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
    reused: bool = False        # the search of an identical sub-problem earlier in the same call

    def render(self) -> str:
        text = render(self.problem, self.target, self.mapping)
        return text + (f"\n(run {self.repeat} times, once per fused tile)" if self.repeat > 1 else "")


@dataclass(frozen=True)
class Mapped:
    program: Program
    einsums: tuple[EinsumMapping, ...]
    objective: tuple[str, ...]
    groups: tuple[Group, ...] = field(default=())

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

    @property
    def fused(self) -> tuple[Group, ...]:
        return tuple(g for g in self.groups if g.fused)


def search_einsum(problem: EinsumProblem, target: Target, objective, strategy: str | None = None,
                  budget: int | None = None, seconds: float | None = None, seed: int = 0,
                  resident: int = 0, mapping: Mapping | None = None) -> EinsumMapping | None:
    """Search (or check and cost the given mapping); None when no legal mapping was found."""
    space = MapSpace(problem, target, resident)
    cm = CostModel(space)
    why = target.check_dtypes(problem)
    if why:
        raise LoomError(f"no mapping of '{problem.einsum}' on '{target.unit.name}': {why}; all "
                        f"{space.size:.3g} candidates rejected (dtype). Give the workload dtype={target.unit.dtype} "
                        "or change the unit's dtype.")
    if mapping is not None:
        row = space.row(dataclasses.replace(mapping, resident=resident))
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


def _signature(p: EinsumProblem) -> tuple:
    """What a search result depends on in a problem (not its tensor names)."""
    return (p.sizes, p.relevant, tuple(d.name for d in p.dtypes), p.ops_per_point, p.accumulate, p.is_mac)


def _with_capacity(target: Target, level: int, capacity: int) -> Target:
    levels = list(target.levels)
    levels[level] = dataclasses.replace(levels[level], capacity=capacity)
    return dataclasses.replace(target, levels=tuple(levels))


def map_workload(arch: ArchSpec, cascade: Cascade, objective: str = "latency", mapping: Mapping | None = None,
                 strategy: str | None = None, budget: int | None = None, seconds: float | None = None,
                 seed: int = 0, placement: str = "by-kind", fuse: bool = False, reserve: float = RESERVE,
                 searches: dict | None = None) -> Mapped:
    """Plan groups, place, search and lower every Einsum of `cascade`; the result holds the Program, each
    member's mapping and the groups (what was fused, what stayed on chip).

    `searches`, a dict the caller keeps, carries search results over to later calls with the same
    architecture (a serving loop maps every iteration's layer; most of its sub-problems recur)."""
    obj = parse_objective(objective)
    units = place(arch, cascade, placement)
    targets: dict[str, Target] = {}

    def target_of(e) -> Target:
        name = units[e.output.tensor]
        if name not in targets:
            targets[name] = Target.from_arch(arch, name)
        return targets[name]

    top = target_of(cascade.einsums[0]).L - 2
    capacity = target_of(cascade.einsums[0]).levels[top].capacity
    budget_bytes = int(capacity * (1 - reserve))
    given = mapping if len(cascade.einsums) == 1 else None
    memo: dict = {} if searches is None else searches
    arch_hash = arch.content_hash() if searches is not None else ""

    def map_member(g: Group, i: int, live: set[str]) -> EinsumMapping | None:
        e = g.einsums[i]
        problem = EinsumProblem.from_einsum(cascade, e, g.sizes(i))
        base = target_of(e)
        held = sum(g.footprint[t] for t in live)      # resident tensors beside this member
        target = _with_capacity(base, top, max(0, capacity - held)) if held else base
        mask = sum(1 << k for k, t in enumerate(problem.tensors) if t in g.resident)
        key = (arch_hash, base.unit.name, _signature(problem), target.levels[top].capacity, mask, obj,
               strategy, budget, seconds, seed)
        if key in memo and given is None:
            first = memo[key]
            if first is None:
                return None
            cost = dataclasses.replace(first.cost, tensors=problem.labels, names=problem.tensors)
            return EinsumMapping(problem, target, first.mapping, cost, first.search, first.space_size,
                                 g.repeat(i), reused=True)
        em = search_einsum(problem, target, obj, strategy, budget, seconds, seed, resident=mask, mapping=given)
        memo[key] = em
        return None if em is None else dataclasses.replace(em, repeat=g.repeat(i))

    planned = []
    for g in plan_groups(cascade, fuse, capacity, reserve):
        while True:
            live = g.live(cascade)
            members, failed = [], None
            for i in range(len(g.einsums)):
                em = map_member(g, i, live[i])
                if em is None:
                    failed = i
                    break
                members.append(em)
            if failed is None:
                break
            held = [t for t in live[failed] if t in g.resident]
            if not held:
                e = g.einsums[failed]
                raise LoomError(_empty_space_message(EinsumProblem.from_einsum(cascade, e, g.sizes(failed)),
                                                     target_of(e), arch))
            # no room for the member's own tiles beside the resident tensors: spill the largest, re-plan
            victim = max(held, key=lambda t: (g.footprint[t], t))
            spill = frozenset(t for t, why in g.spilled.items() if why == "capacity") | {victim}
            g = plan_span(cascade, g.first, g.first + len(g.einsums) - 1, budget_bytes, spill)
        planned.append((g, members))
    chosen = tuple(em for _, members in planned for em in members)
    return Mapped(_program(cascade, planned, obj), chosen, obj, tuple(g for g, _ in planned))


def _empty_space_message(problem, target, arch) -> str:
    space = MapSpace(problem, target)
    return (f"no legal mapping of '{problem.einsum}' on '{arch.name}' was found; even the smallest tiles may not fit "
            f"the {target.levels[0].name} SRAM ({target.levels[0].capacity} B). Try a larger budget or --strategy "
            f"exhaustive (the space has {space.size:.3g} mappings).")


def _program(cascade: Cascade, planned: list, objective) -> Program:
    tasks: list = []
    after: dict = {}      # tensor -> tasks that last wrote it (stores to DRAM, or the writer of a resident tensor)
    release: dict = {}    # resident tensor -> tasks that read its current contents
    for g, members in planned:
        for i, _ in g.order():
            em = members[i]
            low = lower(em.problem, em.target, em.mapping, first_id=len(tasks), after=after, release=release)
            tasks += low.tasks
            after.update(low.produced)
            if em.problem.output in g.resident:
                release[em.problem.output] = ()
            for name, tid in low.readers.items():
                release[name] = release.get(name, ()) + (tid,)
    chosen = [em for _, members in planned for em in members]
    tensors = {name: t.dtype.name for name, t in cascade.tensors.items()}
    first = chosen[0]
    searched = [m for m in chosen if not m.reused]
    fused = [g for g, _ in planned if g.fused and (g.resident or len(g.einsums) > 1)]
    info = {"simplifications": list(SIMPLIFICATIONS) + (list(FUSION_SIMPLIFICATIONS) if fused else []),
            "objective": ",".join(objective),
            "einsums": [str(m.problem.einsum) for m in chosen],
            "description": "; ".join(describe(m.problem, m.mapping) for m in chosen),
            "evaluated": sum(m.search.evaluated for m in searched),
            "rejected_total": sum(sum(m.search.rejected.values()) for m in searched),
            "rejected": dict(sum((m.search.rejected for m in searched), start=first.search.rejected.__class__())),
            "searches": len(searched), "searches_reused": len(chosen) - len(searched),
            "estimated_latency_ps": sum(m.cost.latency_ps * m.repeat for m in chosen),
            "estimated_energy_pj": sum(m.cost.energy_pj * m.repeat for m in chosen),
            "space_size": float(sum(m.space_size for m in chosen)),
            "groups": [g.describe() for g, _ in planned if g.fused],
            "loop_nests": [m.render() for m in chosen]}
    return Program(tuple(tasks), tensors, info)
