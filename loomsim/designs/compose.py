"""Joining programs: several mapped pieces into one `Program`, with dependencies between the pieces.

A design composes its iteration from pieces (the GEMMs before attention, attention, the GEMMs after
it, two sub-batches, two layers); each piece is a Program numbered from 0. `Composer.add` renumbers a
piece, makes its first tasks wait for the given earlier tasks, and returns the piece's *sinks* (the
tasks no other task of the piece waits for), which later pieces then wait for.
"""
from __future__ import annotations

import dataclasses

from loomsim.mappers.program import Program


class Composer:
    """Accumulates renumbered tasks of several pieces in program order."""

    def __init__(self):
        self.tasks: list = []
        self.tensors: dict[str, str] = {}
        self.mapping: dict = {}
        self.next_id = 0

    def add(self, piece: Program | list, after: tuple[int, ...] = ()) -> tuple[int, ...]:
        """Append a piece (a Program, or tasks already numbered from `self.next_id`); its tasks with no
        dependency inside the piece wait for `after`. Returns the piece's sinks."""
        if isinstance(piece, Program):
            tasks = piece.tasks
            self.tensors.update(piece.tensors)
            for k, v in piece.mapping.items():
                if k == "simplifications":
                    self.mapping.setdefault(k, [])
                    self.mapping[k] += [s for s in v if s not in self.mapping[k]]
            renum = {t.id: self.next_id + i for i, t in enumerate(tasks)}
            self.next_id += len(tasks)
        else:
            tasks = piece
            renum = {t.id: t.id for t in tasks}
            self.next_id = max([self.next_id] + [t.id + 1 for t in tasks])
        used = set()
        for t in tasks:
            deps = tuple(renum[d] for d in t.deps)
            if not t.deps:
                deps = tuple(after)
            used.update(t.deps)
            self.tasks.append(dataclasses.replace(t, id=renum[t.id], deps=deps))
        return tuple(renum[t.id] for t in tasks if t.id not in used)

    def program(self) -> Program:
        return Program(tuple(self.tasks), dict(self.tensors), dict(self.mapping))
