"""Exhaustive search with pruning: every canonical mapping, skipping whole sub-spaces that cannot fit."""
from __future__ import annotations

import itertools
from collections import Counter
from math import prod

import numpy as np

from loomsim.mappers.search import Strategy
from loomsim.mappers.strategies import strategy
from loomsim.mappers.strategies.pruning import canonical


@strategy("exhaustive")
class Exhaustive(Strategy):
    """Walks the per-rank tilings in order; for each, every canonical loop order and buffer choice.

    Pruned without evaluation (and counted): a tiling whose compute tiles alone overflow the
    innermost SRAM (no order or buffer choice can fix that), and mappings equivalent to one already
    visited (see `pruning.canonical`). What remains is evaluated, so the best found is the optimum.
    """

    def __init__(self, space, objective, seed: int = 0):
        super().__init__(space, objective, seed)
        R = space.problem.R
        self._tilings = itertools.product(*(range(len(c)) for c in space.choices))
        self._inner_radices = space.radices[R:]
        self._inner = prod(self._inner_radices)
        self._pending = np.zeros((0, len(space.radices)), np.int64)
        self._skipped = Counter()
        self._min_l0 = self._level0_bytes()

    def _level0_bytes(self):
        """Per rank and choice, the compute tile's extent (times the spatial split): level 0 holds at least
        one single-buffered tile of every tensor."""
        return [c[:, 0] * c[:, 1] * c[:, 2] for c in self.space.choices]

    def _fits(self, tiling) -> bool:
        p, cap = self.space.problem, self.space.target.levels[0].capacity
        ext = [min(int(self._min_l0[r][d]), p.sizes[r]) for r, d in enumerate(tiling)]
        need = sum(p.nbytes(t, prod(e for e, rel in zip(ext, p.relevant[t]) if rel)) for t in range(p.T))
        return need <= cap

    def _inner_digits(self) -> np.ndarray:
        grids = np.meshgrid(*(np.arange(k) for k in self._inner_radices), indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)

    def ask(self, n: int) -> np.ndarray:
        R = self.space.problem.R
        inner = None
        while len(self._pending) < n:
            tiling = next(self._tilings, None)
            if tiling is None:
                break
            if not self._fits(tiling):
                self._skipped[f"capacity:{self.space.target.levels[0].name}"] += self._inner
                continue
            if inner is None:
                inner = self._inner_digits()
            block = np.concatenate([np.tile(np.array(tiling, np.int64), (len(inner), 1)), inner], axis=1)
            keep = canonical(self.space, block)
            self._skipped["equivalent"] += int((~keep).sum())
            self._pending = np.concatenate([self._pending, block[keep]])
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def skipped(self) -> Counter:
        return Counter(self._skipped)
