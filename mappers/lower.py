"""Lower a GEMM mapping to a `Program`: the tile walk, buffer slots and the dependencies between them.

Each tensor has one buffer slot per stage (two when double buffered), used round robin. A load into a
slot waits for the last task that used the slot; a compute tile waits for its operand tiles; a store
waits for the last compute on its output tile. Transfers are emitted in the order a DMA engine would
queue them: a step's operand loads first, then the store of the output tile just finished, then a
reload of a partial output, so stores never hold back the next step's prefetch.
"""
from __future__ import annotations

import itertools

from loomsim.mappers.gemm import RANKS, GemmMapping, GemmProblem, GemmTarget
from loomsim.mappers.program import MatmulTile, Program, Transfer


def _tiles(size: int, tile: int) -> list[tuple[int, int]]:
    return [(s, min(tile, size - s)) for s in range(0, size, tile)]


class _Slots:
    """Round-robin buffer slots of one tensor, each remembering the task that last used it."""

    def __init__(self, n: int):
        self.release: list[int | None] = [None] * n
        self.next = 0
        self.current = 0

    def take(self) -> tuple[int, int | None]:
        slot = self.next
        self.next = (self.next + 1) % len(self.release)
        self.current = slot
        return slot, self.release[slot]

    def used_by(self, task_id: int) -> None:
        self.release[self.current] = task_id


def lower(p: GemmProblem, t: GemmTarget, mp: GemmMapping, mapping_info: dict | None = None) -> Program:
    tiles = {r: _tiles(p.size(r), mp.tile(r)) for r in RANKS}
    n_slots = 2 if mp.double_buffer else 1
    sram, dram, link, array = t.sram.name, t.dram.name, t.link.name, t.array.name
    tasks: list = []

    def emit(task):
        tasks.append(task)
        return task.id

    slots = {role: _Slots(n_slots) for role in ("A", "B", "Z")}
    resident = {"A": None, "B": None}
    load_of = {"A": None, "B": None}
    z_key = z_last = z_dep = None
    z_size = (0, 0)
    contributions: dict = {}   # z key -> k tiles accumulated so far
    stored: dict = {}          # z key -> id of the store holding its latest partial

    def store_current():
        nonlocal z_key
        if z_key is None:
            return
        sid = emit(Transfer(len(tasks), link, (z_last,), p.z, sram, dram, p.nbytes("Z", z_size[0] * z_size[1]),
                            f"store {p.z}[m{z_key[0]},n{z_key[1]}]"))
        slots["Z"].used_by(sid)
        stored[z_key] = sid

    loops = [list(enumerate(tiles[r])) for r in mp.order]
    for step in itertools.product(*loops):
        idx = {r: step[i] for i, r in enumerate(mp.order)}
        (im, (m0, sm)), (in_, (n0, sn)), (ik, (k0, sk)) = idx["m"], idx["n"], idx["k"]
        for role, key, nbytes, tensor in (("A", (im, ik), p.nbytes("A", sm * sk), p.a),
                                          ("B", (ik, in_), p.nbytes("B", sk * sn), p.b)):
            if resident[role] != key:
                _, free_after = slots[role].take()
                deps = () if free_after is None else (free_after,)
                label = f"load {tensor}[" + ("m%d,k%d" % key if role == "A" else "k%d,n%d" % key) + "]"
                load_of[role] = emit(Transfer(len(tasks), link, deps, tensor, dram, sram, nbytes, label))
                resident[role] = key
        zk = (im, in_)
        if zk != z_key:
            store_current()
            _, free_after = slots["Z"].take()
            z_key, z_size = zk, (sm, sn)
            z_dep = free_after           # the slot must be free (its last store done)
            if zk in stored:             # a partial result comes back from DRAM
                deps = tuple(d for d in (free_after, stored[zk]) if d is not None)
                z_dep = emit(Transfer(len(tasks), link, deps, p.z, dram, sram, p.nbytes("Z", sm * sn),
                                      f"reload {p.z}[m{im},n{in_}] (partial)"))
        deps = tuple(d for d in (load_of["A"], load_of["B"], z_dep) if d is not None)
        accumulate = contributions.get(zk, 0) > 0
        cid = emit(MatmulTile(len(tasks), array, tuple(dict.fromkeys(deps)), sm, sn, sk, p.a, p.b, p.z, sram,
                              accumulate, f"{p.z}[m{im},n{in_}] += {p.a}[m{im},k{ik}] * {p.b}[k{ik},n{in_}]"))
        contributions[zk] = contributions.get(zk, 0) + 1
        slots["A"].used_by(cid)
        slots["B"].used_by(cid)
        z_last = z_dep = cid
    store_current()
    info = {"simplifications": ["Mapper: partial sums are kept and spilled at the output's data type "
                                "(no wider accumulator precision).",
                                "Mapper: one DMA queue per link, in program order."],
            "tm": mp.tm, "tn": mp.tn, "tk": mp.tk, "order": mp.order, "double_buffer": mp.double_buffer,
            "description": mp.describe()}
    info.update(mapping_info or {})
    tensors = {p.a: p.dtypes["A"].name, p.b: p.dtypes["B"].name, p.z: p.dtypes["Z"].name}
    return Program(tuple(tasks), tensors, info)
