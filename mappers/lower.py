"""Lower a mapping to simulator tasks: the walker's events become transfers and compute tasks with dependencies.

The tile walk is `cost_reference.walk` (the same walk the cost kernel is tested against), so what the
simulator executes is what the kernel counted. Each tensor has one buffer slot per level, two when
the level double-buffers it, used round robin:

- a load into a slot waits for the task that last read the slot's previous tile (a compute task at
  level 0, or a transfer that filled a level below from it) and for the load of its source tile;
- a compute task waits for its operands' loads and for its output tile (a reload of partial sums, or
  a free slot);
- a store waits for the last task that wrote the tile; a reload waits for the store that left it.

Loads of a tensor from the DRAM wait for `after[tensor]` (the producer's last stores, in a cascade).
A tensor resident in the outermost SRAM (fusion) is never loaded: its first use waits for
`after[tensor]` (its producer's last write there), and the first write of a resident output waits for
`release[tensor]` (the tasks that last read its previous contents, in an earlier member or step).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from loomsim.mappers.cost_reference import Group, Move, gemm_dims, walk
from loomsim.mappers.problem import KIND_SYSTOLIC, EinsumProblem, Target
from loomsim.mappers.program import MatmulTile, Transfer, VectorOp
from loomsim.mappers.space import Mapping


@dataclass
class Lowered:
    """Tasks of one Einsum, and what later Einsums must wait for."""

    tasks: list
    produced: dict = field(default_factory=dict)   # tensor -> ids of the tasks that finished writing it
    readers: dict = field(default_factory=dict)    # resident tensor -> id of the last task that read it


class _Slots:
    """Round-robin buffer slots of one tensor at one level, each remembering its last reader."""

    def __init__(self, n: int):
        self.release: list[int | None] = [None] * n
        self.next = 0
        self.current = 0

    def take(self) -> int | None:
        slot = self.next
        self.next = (self.next + 1) % len(self.release)
        self.current = slot
        return self.release[slot]

    def used_by(self, task_id: int) -> None:
        self.release[self.current] = task_id


def lower(p: EinsumProblem, target: Target, mp: Mapping, first_id: int = 0,
          after: dict | None = None, release: dict | None = None) -> Lowered:
    after, release = after or {}, release or {}
    L, T, out = target.L, p.T, p.T - 1
    names = p.tensors
    lv_name = [lev.name for lev in target.levels]
    slots = {(t, lv): _Slots(2 if (mp.db[lv] >> t) & 1 else 1) for t in range(T) for lv in range(L - 1)}
    ready = {}        # (t, level) -> id of the task that put the current tile there (None: made in place)
    last_write = {}   # (t, level) -> id of the last task that wrote the current output tile
    stored = {}       # (t, level, key) -> id of the store that left that output tile in the parent
    tasks: list = []
    produced: dict = {}
    readers: dict = {}
    unit = target.unit.name
    top = L - 2
    resident = [bool((mp.resident >> t) & 1) for t in range(T)]
    for t in range(T):
        if resident[t]:     # in place already: reads wait for its writer, a write for the last readers too
            ready[(t, top)] = tuple(after.get(names[t], ())) + (tuple(release.get(names[t], ())) if t == out else ())

    def emit(task) -> int:
        tasks.append(task)
        return task.id

    def nid() -> int:
        return first_id + len(tasks)

    def deps(*ids) -> tuple:
        flat = []
        for i in ids:
            if isinstance(i, tuple):
                flat += i
            elif i is not None:
                flat.append(i)
        return tuple(dict.fromkeys(flat))

    for ev in walk(p, target, mp):
        if isinstance(ev, Move):
            t, c, par = ev.t, ev.child, ev.parent
            path = target.paths[(c, par)]
            nbytes = p.nbytes(t, prod(ev.extents))
            tile = f"{names[t]}{list(ev.key)}"
            if ev.kind == "start":             # a fresh output tile: it needs a free slot, nothing moves
                ready[(t, c)] = last_write[(t, c)] = slots[(t, c)].take()
                continue
            if ev.kind == "fill" or ev.kind == "reload":
                free = slots[(t, c)].take()
                src = ready.get((t, par))
                extra = after.get(names[t], ()) if par == L - 1 else ()
                back = stored.get((t, par, ev.key)) if ev.kind == "reload" else None
                tid = emit(Transfer(nid(), path.link, deps(free, src, back, *extra), names[t], lv_name[par], lv_name[c],
                                    nbytes, f"{ev.kind} {tile} {lv_name[par]}->{lv_name[c]}"))
                ready[(t, c)] = tid
                last_write[(t, c)] = tid
                if par < L - 1:
                    slots[(t, par)].used_by(tid)
                if resident[t] and par == top and t != out:
                    readers[names[t]] = tid
            else:
                src = last_write.get((t, c))
                into = ready.get((t, par)) if par < L - 1 else None
                tid = emit(Transfer(nid(), path.link, deps(src, into), names[t], lv_name[c], lv_name[par], nbytes,
                                    f"store {tile} {lv_name[c]}->{lv_name[par]}"))
                slots[(t, c)].used_by(tid)
                stored[(t, par, ev.key)] = tid
                if par < L - 1:
                    last_write[(t, par)] = tid
                else:
                    produced.setdefault(names[t], {})[path.link] = tid
            continue
        # a compute group: a fresh output tile (first visit) waits for its slot to be free
        g: Group = ev
        first = g.tiles[0].first
        z_dep = ready.get((out, 0))
        operand_deps = [ready.get((t, 0)) for t in range(T - 1)]
        label = f"{names[out]}{list(g.key)}" + ("" if first else " +=")
        if target.kind == KIND_SYSTOLIC:
            pieces = tuple(gemm_dims(p, mp.swap, s.extents) for s in g.tiles)
            a, b = (names[1], names[0]) if mp.swap else (names[0], names[1])
            bm, m, n, k = pieces[0]
            task = MatmulTile(nid(), unit, deps(*operand_deps, z_dep), m, n, k, a, b, names[out], lv_name[0],
                              not first, label, batch=bm, parts=pieces if len(pieces) > 1 else ())
        else:
            elems = tuple(prod(s.extents) for s in g.tiles)
            reads = tuple((names[t], prod(e for e, rel in zip(s.extents, p.relevant[t]) if rel))
                          for s in g.tiles for t in range(T - 1))
            zel = [prod(e for e, rel in zip(s.extents, p.relevant[out]) if rel) for s in g.tiles]
            if not first:
                reads += tuple((names[out], z) for z in zel)
            task = VectorOp(nid(), unit, deps(*operand_deps, z_dep), sum(elems), p.ops_per_point, label,
                            sram=lv_name[0], reads=reads, writes=tuple((names[out], z) for z in zel),
                            parts=elems if len(elems) > 1 else ())
        tid = emit(task)
        for t in range(T - 1):
            slots[(t, 0)].used_by(tid)
            if resident[t] and top == 0:
                readers[names[t]] = tid
        slots[(out, 0)].used_by(tid)
        ready[(out, 0)] = tid
        last_write[(out, 0)] = tid
    # a resident output never leaves its SRAM: the consumer waits for its last writer there
    if (mp.resident >> out) & 1:
        top = L - 2
        if (out, top) in last_write:
            produced.setdefault(names[out], {})["resident"] = last_write[(out, top)]
    return Lowered(tasks, {t: tuple(ids.values()) for t, ids in produced.items()}, readers)
