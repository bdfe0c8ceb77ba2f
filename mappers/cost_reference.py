"""The plain-Python loop-nest walker: literally iterates a mapping's loops and records every data movement.

`walk` runs the nest step by step (one step per spatial group of compute tiles) and yields what a
machine executing the mapping would do: tile loads (`fill`), output stores (`store`) and reloads of
partial sums (`reload`) between levels, and the compute group itself. Nothing here is derived
analytically; it is the reference the numba kernel (`cost_kernel.py`) is tested against, and the
lowering (`lower.py`) turns the same events into the simulator's tasks, so the kernel, this walk and
the simulated program must all agree.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from math import prod

import numpy as np

from loomsim.mappers.cost_kernel import (FILLS, NCOUNT, RD_ACC, RD_BYTES, READS, UPDATES, WR_ACC, WR_BYTES,
                                         XFER_IN, XFER_OUT)
from loomsim.mappers.problem import KIND_SYSTOLIC, ROLE_BATCH, ROLE_K, ROLE_M, ROLE_N, EinsumProblem, Target
from loomsim.mappers.space import Mapping
from loomsim.simulator.models import union_ps
from loomsim.simulator.systolic import pipelined_run, tile_cycles, tile_traffic


@dataclass(frozen=True)
class Move:
    """A tile of tensor `t` moving between `child` and `parent` level (kind: fill, store or reload), or an
    output tile starting from zero in `child` (kind: start; nothing moves)."""

    kind: str
    t: int
    child: int
    parent: int
    key: tuple           # the tile's index per rank of the tensor (level-`child` tile indices)
    extents: tuple       # per rank of the problem (1 for ranks that do not index the tensor)


@dataclass(frozen=True)
class SubTile:
    """One instance's compute tile: per-rank start and extent, and whether it first touches its output."""

    starts: tuple
    extents: tuple
    first: bool


@dataclass(frozen=True)
class Group:
    """One step of the walk: the compute tiles the `count` instances run together."""

    key: tuple           # compute-tile index per rank of the group's first sub-tile
    tiles: tuple         # SubTile, one per instance used


def walk(p: EinsumProblem, target: Target, mp: Mapping):
    """Yield Move and Group events in the order the mapping executes them."""
    R, L, T = p.R, target.L, p.T
    N, C, S = p.sizes, mp.C, mp.S
    # compute tiles per level-l tile, along each rank
    per = [[S[r] * prod(mp.F[j][r] for j in range(lv + 1)) for r in range(R)] for lv in range(L)]
    ext = [[C[r] * per[lv][r] for r in range(R)] for lv in range(L)]
    # the loops, outermost first: (rank, factor, stride in compute tiles)
    loops = []
    for lv in range(L - 1, -1, -1):
        for r in mp.perm[lv]:
            stride = S[r] * prod(mp.F[j][r] for j in range(lv))
            loops.append((r, mp.F[lv][r], stride))
    keeps = [[lv for lv in range(L) if (mp.keep[lv] >> t) & 1] for t in range(T)]
    resident = [bool((mp.resident >> t) & 1) for t in range(T)]
    # per tensor, the chain of (child, parent) pairs data moves over
    chains = []
    for t in range(T):
        levels = [lv for lv in keeps[t] if not (resident[t] and lv > L - 2)]
        pairs = list(zip(levels, levels[1:]))
        chains.append(pairs)
    out = T - 1
    current = [dict() for _ in range(T)]      # level -> key of the tile it holds
    seen = [dict() for _ in range(T)]         # level -> set of keys visited (output only)
    z_started = set()

    def tile_of(t, lv, idx):
        key = tuple(idx[r] // per[lv][r] for r in range(R) if p.relevant[t][r])
        extents = tuple(min(ext[lv][r], N[r] - (idx[r] // per[lv][r]) * ext[lv][r]) if p.relevant[t][r] else 1
                        for r in range(R))
        return key, extents

    for digits in itertools.product(*(range(f) for _, f, _ in loops)):
        base = [0] * R
        for (r, _, stride), d in zip(loops, digits):
            base[r] += d * stride
        # inputs: load every level whose tile changed, outermost first
        for t in range(T - 1):
            for child, parent in reversed(chains[t]):
                key, extents = tile_of(t, child, base)
                if current[t].get(child) != key:
                    current[t][child] = key
                    yield Move("fill", t, child, parent, key, extents)
        # the output: store what is left (innermost first), then reload revisited tiles (outermost first)
        changed = []
        for child, parent in chains[out]:
            key, extents = tile_of(out, child, base)
            if current[out].get(child) != key:
                changed.append((child, parent, key, extents))
        for child, parent, _, _ in changed:
            if child in current[out]:
                old = current[out][child]
                yield Move("store", out, child, parent, old, _extents_of(p, out, child, old, ext, N))
        for child, parent, key, extents in reversed(changed):
            current[out][child] = key
            visited = seen[out].setdefault(child, set())
            # a `+=` Einsum reads the prior values on its first visit too
            yield Move("reload" if key in visited or p.accumulate else "start", out, child, parent, key, extents)
            visited.add(key)
        tiles = []
        for offs in itertools.product(*(range(S[r]) for r in range(R))):
            idx = [base[r] + offs[r] for r in range(R)]
            starts = tuple(i * C[r] for r, i in enumerate(idx))
            extents = tuple(min(C[r], N[r] - starts[r]) for r in range(R))
            zkey = tuple(idx[r] for r in range(R) if p.relevant[out][r])
            tiles.append(SubTile(starts, extents, zkey not in z_started and not p.accumulate))
            z_started.add(zkey)
        yield Group(tuple(base), tuple(tiles))
    for child, parent in chains[out]:
        if child in current[out]:
            key = current[out][child]
            yield Move("store", out, child, parent, key, _extents_of(p, out, child, key, ext, N))


def _extents_of(p, t, lv, key, ext, N):
    it = iter(key)
    return tuple(min(ext[lv][r], N[r] - next(it) * ext[lv][r]) if p.relevant[t][r] else 1 for r in range(p.R))


def gemm_dims(p: EinsumProblem, swap: int, extents) -> tuple[int, int, int, int]:
    """(batch, m, n, k) of a compute tile: the product of its extents over the ranks of each role."""
    dims = {ROLE_BATCH: 1, ROLE_M: 1, ROLE_N: 1, ROLE_K: 1}
    for role, e in zip(p.roles(bool(swap)), extents):
        dims[role] *= e
    return dims[ROLE_BATCH], dims[ROLE_M], dims[ROLE_N], dims[ROLE_K]


def unit_traffic(p: EinsumProblem, target: Target, swap: int, tile: SubTile) -> tuple[dict, dict, int]:
    """({tensor: elements read}, {tensor: elements written}, cycles) of one instance's compute tile."""
    u = target.unit
    zel = prod(e for e, rel in zip(tile.extents, p.relevant[-1]) if rel)
    if target.kind == KIND_SYSTOLIC:
        bm, m, n, k = gemm_dims(p, swap, tile.extents)
        tr = tile_traffic(u.dataflow, u.rows, u.cols, m, n, k, accumulate=not tile.first)
        a, b = (1, 0) if swap else (0, 1)
        reads = {a: bm * tr.a_reads, b: bm * tr.b_reads, p.T - 1: bm * tr.z_reads}
        cycles = tile_cycles(u.dataflow, u.rows, u.cols, m, n, k, bm, u.fold_pipelining)
        return reads, {p.T - 1: bm * tr.z_writes}, cycles
    reads = {t: prod(e for e, rel in zip(tile.extents, p.relevant[t]) if rel) for t in range(p.T - 1)}
    reads[p.T - 1] = 0 if tile.first else zel
    ops = prod(tile.extents) * p.ops_per_point
    lanes = u.lanes * u.ops_per_cycle
    return reads, {p.T - 1: zel}, -(-ops // lanes)


def reference_counts(p: EinsumProblem, target: Target, mp: Mapping) -> tuple[np.ndarray, int, int]:
    """(counts[T, L, NCOUNT], unit cycles summed over instances, groups) by walking the nest."""
    T, L = p.T, target.L
    counts = np.zeros((T, L, NCOUNT), np.int64)
    port = [lev.port_width for lev in target.levels]
    cycles = groups = 0

    def add(t, lv, what, acc, bytes_, elements):
        counts[t, lv, what] += elements
        counts[t, lv, acc] += -(-bytes_ // port[lv])
        counts[t, lv, RD_BYTES if what == READS else WR_BYTES] += bytes_

    for ev in walk(p, target, mp):
        if isinstance(ev, Move):
            if ev.kind == "start":
                continue
            e = prod(ev.extents)
            b = p.nbytes(ev.t, e)
            if ev.kind in ("fill", "reload"):
                add(ev.t, ev.child, FILLS, WR_ACC, b, e)
                add(ev.t, ev.parent, READS, RD_ACC, b, e)
                counts[ev.t, ev.child, XFER_IN] += 1
            else:
                add(ev.t, ev.child, READS, RD_ACC, b, e)
                add(ev.t, ev.parent, UPDATES, WR_ACC, b, e)
                counts[ev.t, ev.child, XFER_OUT] += 1
            continue
        groups += 1
        for tile in ev.tiles:
            reads, writes, cyc = unit_traffic(p, target, mp.swap, tile)
            cycles += cyc
            for t, e in reads.items():
                if e:
                    add(t, 0, READS, RD_ACC, p.nbytes(t, e), e)
            for t, e in writes.items():
                add(t, 0, UPDATES, WR_ACC, p.nbytes(t, e), e)
    return counts, cycles, groups


def chained(p: EinsumProblem, target: Target, mp: Mapping, moves: list) -> bool:
    """Whether the next compute group must wait for the previous one to finish (its last output to leave
    the array), given the moves the walk made between them: what the lowering (`lower.py`) makes it depend
    on, when every transfer that does not wait for that compute is done already (a fast memory).

    It waits when it writes the same innermost output tile (no output move at level 0), when an input it
    reads replaces a tile in a single-buffered level-0 slot (the slot's last reader is that compute), when
    its output tile takes a single-buffered level-0 slot (freed by the store of the previous one), and
    when it reloads partial sums over the link the previous output tile is stored through (the link
    runs its transfers in program order, and that store waits for the compute).
    """
    out = p.T - 1
    if not any(m.t == out and m.child == 0 and m.kind in ("start", "reload") for m in moves):
        return True
    for m in moves:
        single = not (mp.db[m.child] >> m.t) & 1
        if m.child == 0 and single and (m.kind == "fill" or (m.t == out and m.kind in ("start", "reload"))):
            return True
        if m.kind == "reload" and any(s.kind == "store" and s.child == m.child for s in moves):
            return True
    return False


def reference_busy_cycles(p: EinsumProblem, target: Target, mp: Mapping) -> int:
    """Cycles the unit is busy (the union of its tasks' intervals) for the walk's groups, timed as the
    simulator's models time them (`SystolicArrayModel`, `VectorUnitModel`), with a memory fast enough
    that no transfer delays a compute beyond what `chained` says.

    Folds back to back (or a vector unit): each group lasts as long as its largest sub-tile. A
    double-buffered array is a pipeline across groups: each instance continues its own run of folds
    (boundary max(t, D + P)) unless the group is chained, when it starts after the previous group's
    last output has left.
    """
    u = target.unit
    pipelined = target.kind == KIND_SYSTOLIC and u.fold_pipelining == "double_buffered"
    busy, moves = 0, []
    pipes: dict = {}                 # instance -> (last fold's stream start, t, D)
    release = finish = 0             # of the previous group
    intervals = []
    for ev in walk(p, target, mp):
        if isinstance(ev, Move):
            moves.append(ev)
            continue
        if not pipelined:
            busy += max(unit_traffic(p, target, mp.swap, tile)[2] for tile in ev.tiles)
            continue
        chain = bool(pipes) and chained(p, target, mp, moves)
        moves = []
        ready = finish if chain else 0
        now = max(release, ready)
        begin, release, finish = None, now, now
        for i, tile in enumerate(ev.tiles):
            bm, m, n, k = gemm_dims(p, mp.swap, tile.extents)
            run = pipelined_run(u.dataflow, u.rows, u.cols, m, n, k, bm)
            p0 = run.first_preload
            if i not in pipes:
                load, s0 = now, now + p0
            else:
                last_s, last_t, last_d = pipes[i]
                load = max(ready, last_s)
                s0 = max(load + p0, last_s + max(last_t, last_d + p0), now)
            base = s0 - p0
            pipes[i] = (base + run.stream_end - run.stream, run.stream, run.last_drain)
            begin = load if begin is None else min(begin, load)
            release, finish = max(release, base + run.stream_end), max(finish, base + run.total)
        intervals.append((begin, finish))
    return union_ps(intervals) if pipelined else busy
