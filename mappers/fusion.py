"""Fusion planning: which Einsums run together, under which shared loops, and which intermediates stay on chip.

A `Group` is a run of consecutive Einsums of a cascade executed as a loop tree (Fast & Fusiest Mapper's
LoopTree, FuseMax's one pass): an outer nest of loops over ranks the members share, each loop walking
tiles of its rank, and every member run once per step of the loops that enclose it. A member encloses
the longest prefix of the nest whose ranks all iterate it, so in FuseMax's 1-pass attention

    for b, h, p (tiles):           QS, the initial RM, RD, RNV          (depth 3)
        for m1 (one step each):    BQK, LM, RM, SLN, ..., RNV            (depth 4)
                                   AV                                    (depth 3)

Per step a member is an ordinary Einsum on a sub-problem (the enclosing ranks cut to one tile), mapped
by the usual search onto the unit and its memories. A *resident* intermediate lives in the outermost
SRAM from its producer to its last consumer and never reaches the DRAM; an intermediate the planner
*spills* is stored by its producer and loaded by its consumers, like any tensor. Carried values of a
recurrence (`RM[m1+1,p] = max(RM[m1,p], LM[m1,p])`) are intermediates like any other, so the
iterative rank is always a loop of the nest, one step at a time: that is what lets `SPD[m1]` see
`RD[m1]` from the step before.

On-chip footprint of a resident tensor: along a dimension walked by a loop, one tile (plus the spread
of the offsets that access it, `RM[m1]` and `RM[m1+1]`: two positions) when every access to the tensor
happens inside one run of that loop, or at its first or last position from outside it (the initial
`RM[0,p]`, the final `RNV[f,M1,p]`); the whole dimension otherwise (a tensor made in one pass over m
and read in the next holds every m). Along other dimensions, the whole dimension (within the
sub-problem). A tensor is live from its first to its last access, over whole loop runs when it is
carried across their steps; the planner keeps the sum over live tensors within the SRAM's budget.

The planner (`plan_groups`) is a heuristic, stated here so its choices can be checked:
- without fusion, every Einsum is its own group, except a recurrence's body (every Einsum that
  iterates the iterative rank, which must be consecutive), which steps its rank with every
  intermediate spilled: the unfused way to run a recurrence;
- with fusion, consecutive Einsums form one group as long as it holds at most one iterative rank;
- the nest: ranks every member iterates and none reduces (in the first member's order), each tiled by
  a divisor of its size (powers of two and the size itself), then the iterative rank, one step;
- intermediates eligible to stay on chip: made in the group, read only in the group, not state (a
  KV cache lives in DRAM) and not a cascade output; the rest are spilled with that reason;
- for each nest, the eligible intermediates are made resident largest-footprint-last: while the peak
  exceeds the budget, the largest resident tensor live at the peak is spilled (reason `capacity`);
- the nest with the least DRAM traffic (sum over member runs of what each moves, resident tensors
  excluded) wins; ties go to the fewest member runs.
The budget is the outermost SRAM's capacity less a share kept for the members' streamed tiles
(`reserve`); a member whose search then finds no legal mapping spills more (see `map.py`).
"""
from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from math import prod

from loomsim.errors import LoomError
from loomsim.workloads import Cascade, Einsum
from loomsim.workloads.einsum import Access

RESERVE = 0.25
"""Share of the outermost SRAM the planner leaves for the members' own (streamed) tiles. A planning
knob, not a hardware number: a member that still finds no room makes the planner spill more."""


@dataclass(frozen=True)
class Loop:
    """One loop of a group's outer nest: `count` steps over tiles of `tile` along `rank`."""

    rank: str
    tile: int
    count: int

    def __str__(self) -> str:
        return f"{self.rank}:{self.tile}x{self.count}"


@dataclass(frozen=True)
class Group:
    """Consecutive Einsums run as one loop tree, with the tensors that stay on chip."""

    first: int                                   # index of the first member in the cascade
    einsums: tuple[Einsum, ...]
    nest: tuple[Loop, ...] = ()
    depth: tuple[int, ...] = ()                  # loops of the nest enclosing each member
    resident: frozenset = frozenset()
    spilled: dict = field(default_factory=dict)  # intermediate -> why it goes to DRAM
    footprint: dict = field(default_factory=dict)  # resident tensor -> bytes on chip
    peak: int = 0                                # bytes of resident tensors live at once, at most
    rejected: Counter = field(default_factory=Counter)  # candidate nests tried
    budget: int = 0

    @property
    def fused(self) -> bool:
        return len(self.einsums) > 1 or bool(self.nest)

    def sizes(self, i: int) -> dict[str, int]:
        """Rank sizes of member i's sub-problem: the enclosing loops' ranks cut to one tile."""
        return {lp.rank: lp.tile for lp in self.nest[:self.depth[i]]}

    def repeat(self, i: int) -> int:
        return prod(lp.count for lp in self.nest[:self.depth[i]])

    def live(self, cascade: Cascade) -> list[set[str]]:
        """Resident tensors live at each member."""
        return [set(s) & set(self.resident) for s in _live_sets(self, cascade)]

    def order(self):
        """(member index, step of each enclosing loop) in execution order: the loop tree, walked."""
        yield from _walk_tree(self, 0, len(self.einsums), 0, ())

    def describe(self) -> dict:
        return {"einsums": [str(e) for e in self.einsums], "nest": [str(lp) for lp in self.nest],
                "depth": list(self.depth), "resident": sorted(self.resident), "spilled": dict(sorted(self.spilled.items())),
                "footprint_bytes": dict(sorted(self.footprint.items())), "peak_bytes": self.peak,
                "budget_bytes": self.budget, "nests_tried": self.rejected.get("nests", 0),
                "spilled_by_reason": dict(Counter(self.spilled.values()))}


def _walk_tree(g: Group, lo: int, hi: int, k: int, steps: tuple):
    i = lo
    while i < hi:
        if g.depth[i] <= k:
            yield i, steps
            i += 1
            continue
        j = i
        while j < hi and g.depth[j] > k:
            j += 1
        for s in range(g.nest[k].count):
            yield from _walk_tree(g, i, j, k + 1, steps + (s,))
        i = j


# ---- the structure of a cascade ------------------------------------------------------------------

def accesses(e: Einsum) -> tuple[Access, ...]:
    return (e.output, *e.inputs)


def recurrence_bodies(cascade: Cascade) -> list[tuple[int, int, str]]:
    """(first, last, rank) of every Einsum run that iterates an iterative rank; they must be consecutive."""
    out = []
    for r in cascade.iterative_ranks:
        idx = [i for i, e in enumerate(cascade.einsums) if r in e.ranks]
        lo, hi = idx[0], idx[-1]
        gap = [cascade.einsums[i] for i in range(lo, hi + 1) if i not in idx]
        if gap:
            raise LoomError(f"cascade '{cascade.name}': '{gap[0]}' sits between Einsums that step the iterative rank "
                            f"'{r}' but does not iterate it; the mapper runs a recurrence as one loop over '{r}', so "
                            "list it before or after the recurrence.")
        out.append((lo, hi, r))
    return out


def plain_groups(cascade: Cascade) -> list[Group]:
    """Without fusion: one group per Einsum, and one per recurrence body (its rank stepped, all spilled)."""
    bodies = {lo: (hi, r) for lo, hi, r in recurrence_bodies(cascade)}
    groups, i = [], 0
    n = len(cascade.einsums)
    while i < n:
        if i in bodies:
            hi, r = bodies[i]
            members = cascade.einsums[i:hi + 1]
            loop = Loop(r, 1, cascade.rank_sizes[r])
            made = {e.output.tensor for e in members}
            spilled = {t: "unfused" for t in made}
            groups.append(Group(i, tuple(members), (loop,), (1,) * len(members), frozenset(), spilled))
            i = hi + 1
        else:
            groups.append(Group(i, (cascade.einsums[i],), (), (0,)))
            i += 1
    return groups


def fusion_spans(cascade: Cascade) -> list[tuple[int, int]]:
    """Runs of consecutive Einsums that may be fused: each holds at most one recurrence, and whole."""
    bodies = recurrence_bodies(cascade)
    spans, start, rank_in = [], 0, None
    for lo, hi, r in bodies:
        if rank_in is not None and r != rank_in:
            spans.append((start, lo - 1))
            start = lo
        rank_in = r
    spans.append((start, len(cascade.einsums) - 1))
    return [(a, b) for a, b in spans if a <= b]


# ---- footprints and liveness ------------------------------------------------------------------------

def _dim_subscripts(cascade: Cascade, acc: Access) -> list[tuple]:
    """Per canonical dimension of the accessed tensor, the subscripts that address it (two for a
    partitioned pair such as K[e,m1,m0] on K's m)."""
    pairs = {pair: parent for parent, pair in cascade.partitions.items()}
    ix, out, i = acc.indices, [], 0
    while i < len(ix):
        if i + 1 < len(ix) and (ix[i].rank, ix[i + 1].rank) in pairs and ix[i].plain and ix[i + 1].plain:
            out.append((ix[i], ix[i + 1]))
            i += 2
        else:
            out.append((ix[i],))
            i += 1
    return out


def _runs(depth: tuple[int, ...], k: int) -> list[int | None]:
    """Per member, the id of the run of loop k it sits in (None when outside loop k)."""
    out, run, prev_in = [], -1, False
    for d in depth:
        inside = d > k
        if inside and not prev_in:
            run += 1
        out.append(run if inside else None)
        prev_in = inside
    return out


def footprint(cascade: Cascade, g: Group, tensor: str) -> int:
    """Bytes of `tensor` on chip under the group's nest (see the module docstring)."""
    info = cascade.tensors[tensor]
    uses = [(i, a) for i, e in enumerate(g.einsums) for a in accesses(e) if a.tensor == tensor]
    extents = []
    for j, (dim, size) in enumerate(zip(info.ranks, info.shape)):
        extent = size
        for k, lp in enumerate(g.nest):
            inner = cascade.partitions.get(dim)
            if not (dim == lp.rank or (inner and inner[0] == lp.rank)):
                continue
            runs = _runs(g.depth, k)
            inside = {runs[i] for i, _ in uses if runs[i] is not None}
            offsets, ok = [], len(inside) <= 1
            for i, a in uses:
                subs = _dim_subscripts(cascade, a)
                if len(subs) != len(info.ranks):
                    ok = False
                    break
                s = subs[j]
                if runs[i] is None:       # outside the loop: only its first or last position
                    ok &= len(s) == 1 and (s[0].fixed == 0 or (isinstance(s[0].fixed, str)
                                                              and s[0].fixed.lower() == lp.rank))
                elif len(s) == 2:
                    ok &= s[0].rank == lp.rank
                    offsets.append(0)
                else:
                    ok &= s[0].via is None and s[0].fixed is None and s[0].rank == lp.rank
                    offsets.append(s[0].offset)
            if ok and offsets:
                step = lp.tile * (cascade.rank_sizes[inner[1]] if inner and inner[0] == lp.rank else 1)
                extent = min(size, step + max(offsets) - min(offsets))
            break
        extents.append(extent)
    return info.dtype.nbytes(prod(extents))


def _live_sets(g: Group, cascade: Cascade) -> list[set[str]]:
    """Tensors made or read in the group that are live at each member (first to last access, widened to
    whole loop runs when the tensor is carried across their steps)."""
    n = len(g.einsums)
    span: dict[str, list[int]] = {}
    shifted: dict[str, set[str]] = {}        # tensor -> ranks it is accessed at an offset of (carried along)
    for i, e in enumerate(g.einsums):
        for a in accesses(e):
            s = span.setdefault(a.tensor, [i, i])
            s[1] = i
            shifted.setdefault(a.tensor, set()).update(ix.rank for ix in a.indices if ix.offset)
    for k, lp in enumerate(g.nest):
        runs = _runs(g.depth, k)
        bounds: dict[int, list[int]] = {}
        for i, rid in enumerate(runs):
            if rid is not None:
                b = bounds.setdefault(rid, [i, i])
                b[1] = i
        for t, s in span.items():
            a, b = runs[s[0]], runs[s[1]]
            if b is not None and (a != b or lp.rank in shifted[t]):
                s[1] = bounds[b][1]      # read in a run it was not made in, or carried: held across its steps
            if a is not None and (a != b or lp.rank in shifted[t]):
                s[0] = bounds[a][0]      # made in a run and read after it, or carried: held across its steps
    live = [set() for _ in range(n)]
    for t, (lo, hi) in span.items():
        for i in range(lo, hi + 1):
            live[i].add(t)
    return live


# ---- planning --------------------------------------------------------------------------------------

def depths(einsums, nest) -> tuple[int, ...]:
    out = []
    for e in einsums:
        d = 0
        while d < len(nest) and nest[d].rank in e.ranks:
            d += 1
        out.append(d)
    return tuple(out)


def _tile_choices(n: int) -> list[int]:
    return sorted({d for d in (1 << i for i in range(n.bit_length())) if n % d == 0} | {n})


def eligible(cascade: Cascade, einsums, first: int) -> tuple[set[str], dict[str, str]]:
    """Intermediates of the run that may stay on chip, and why the others may not."""
    made = {e.output.tensor for e in einsums}
    last = first + len(einsums)
    read_after = {a.tensor for e in cascade.einsums[last:] for a in e.inputs}
    state, outputs = cascade.state, set(cascade.outputs)
    ok, why = set(), {}
    for t in made:
        if t in state:
            why[t] = "state"
        elif t in outputs:
            why[t] = "output"
        elif t in read_after:
            why[t] = "read_later"
        else:
            ok.add(t)
    return ok, why


def _traffic(cascade: Cascade, g: Group, resident: set[str]) -> int:
    """Bytes each member run moves to or from the DRAM at least (every operand once), resident ones free."""
    total = 0
    for i, e in enumerate(g.einsums):
        sizes = {**cascade.rank_sizes, **g.sizes(i)}
        moved = 0
        for a in dict.fromkeys(accesses(e)):
            if a.tensor not in resident:
                moved += cascade.tensors[a.tensor].dtype.nbytes(prod(sizes[r] for r in a.ranks))
        total += moved * g.repeat(i)
    return total


def _resident_plan(cascade: Cascade, g: Group, ok: set[str], why: dict, budget: int):
    """Keep every eligible intermediate on chip, then spill the largest one live at the peak until the
    peak fits the budget: (resident, spilled with reasons, footprints, peak)."""
    resident, spilled = set(ok), dict(why)
    sizes = {t: footprint(cascade, g, t) for t in resident}
    live = _live_sets(g, cascade)
    while True:
        loads = [sum(sizes[t] for t in s if t in resident) for s in live]
        peak = max(loads, default=0)
        if peak <= budget:
            return resident, spilled, {t: sizes[t] for t in sorted(resident)}, peak
        at = loads.index(peak)
        victim = max((t for t in live[at] if t in resident), key=lambda t: (sizes[t], t))
        resident.discard(victim)
        spilled[victim] = "capacity"


def plan_span(cascade: Cascade, lo: int, hi: int, budget: int, force_spill: frozenset = frozenset()) -> Group:
    """The best nest and residency for Einsums lo..hi (inclusive) under `budget` bytes of resident tensors."""
    einsums = cascade.einsums[lo:hi + 1]
    bodies = [(a, b, r) for a, b, r in recurrence_bodies(cascade) if lo <= a and b <= hi]
    iterative = bodies[0][2] if bodies else None
    common = [r for r in einsums[0].ranks if all(r in e.ranks for e in einsums)
              and not any(r in e.reduced_ranks for e in einsums) and r != iterative]
    ok, why = eligible(cascade, einsums, lo)
    for t in force_spill & ok:
        why[t] = "capacity"
    ok -= force_spill
    step = (Loop(iterative, 1, cascade.rank_sizes[iterative]),) if iterative is not None else ()
    candidates = [()]           # untiled first: if everything fits it wins (least traffic, fewest runs)
    best, best_key, tried = None, None, 0
    for tiles in itertools.chain(candidates, itertools.product(*(_tile_choices(cascade.rank_sizes[r])
                                                                 for r in common))):
        nest = tuple(Loop(r, t, cascade.rank_sizes[r] // t) for r, t in zip(common, tiles)
                     if t < cascade.rank_sizes[r]) + step
        g = Group(lo, einsums, nest, depths(einsums, nest))
        resident, spilled, sizes, peak = _resident_plan(cascade, g, ok, why, budget)
        tried += 1
        key = (_traffic(cascade, g, resident), sum(g.repeat(i) for i in range(len(einsums))))
        if best_key is None or key < best_key:
            best_key = key
            best = Group(lo, einsums, nest, g.depth, frozenset(resident), spilled, sizes, peak, budget=budget)
        if tiles == () and len(resident) == len(ok):
            break               # nothing spilled without tiling the shared ranks
    return Group(best.first, best.einsums, best.nest, best.depth, best.resident, best.spilled, best.footprint,
                 best.peak, Counter(nests=tried), budget)


def plan_groups(cascade: Cascade, fuse: bool, capacity: int, reserve: float = RESERVE) -> list[Group]:
    """The groups a cascade runs as: single Einsums and recurrences (no fusion), or planned fused runs."""
    if not fuse:
        return plain_groups(cascade)
    budget = int(capacity * (1 - reserve))
    return [plan_span(cascade, a, b, budget) for a, b in fusion_spans(cascade)]
