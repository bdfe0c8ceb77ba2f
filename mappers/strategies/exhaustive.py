"""Exhaustive search with pruning: every canonical mapping, skipping whole sub-spaces that cannot fit."""
from __future__ import annotations

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
    Tilings are taken a chunk at a time and checked with numpy, so the walk costs little beside the
    cost model.
    """

    chunk = 4096          # tilings checked at once

    def __init__(self, space, objective, seed: int = 0):
        super().__init__(space, objective, seed)
        R = space.problem.R
        self._rank_radices = np.array(space.radices[:R], np.int64)
        self._tilings = prod(space.radices[:R])
        self._next = 0
        self._inner_radices = space.radices[R:]
        self._inner = prod(self._inner_radices)
        self._inner_digits = None
        self._pending = np.zeros((0, len(space.radices)), np.int64)
        self._skipped = Counter()
        p = space.problem
        # level 0 holds at least one single-buffered compute tile (times the spatial split) of every tensor
        self._ext = [np.minimum(c[:, 0] * c[:, 1] * c[:, 2], n) for c, n in zip(space.choices, p.sizes)]
        arr = p.arrays()
        self._num, self._den = arr["bits_num"], arr["bits_den"]

    def _tiling_digits(self, start: int, n: int) -> np.ndarray:
        """Per-rank choice digits of tilings start .. start+n-1 (mixed radix, last rank fastest)."""
        idx = np.arange(start, start + n, dtype=np.int64)
        out = np.zeros((n, len(self._rank_radices)), np.int64)
        for j in range(len(self._rank_radices) - 1, -1, -1):
            out[:, j] = idx % self._rank_radices[j]
            idx //= self._rank_radices[j]
        return out

    def _fits(self, digits: np.ndarray) -> np.ndarray:
        p, cap = self.space.problem, self.space.target.levels[0].capacity
        need = np.zeros(len(digits), np.int64)
        for t in range(p.T):
            e = np.ones(len(digits), np.int64)
            for r in range(p.R):
                if p.relevant[t][r]:
                    e *= self._ext[r][digits[:, r]]
            need += (e * self._num[t] + self._den[t] * 8 - 1) // (self._den[t] * 8)
        return need <= cap

    def _inner_block(self) -> np.ndarray:
        if self._inner_digits is None:
            grids = np.meshgrid(*(np.arange(k) for k in self._inner_radices), indexing="ij")
            self._inner_digits = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
        return self._inner_digits

    def ask(self, n: int) -> np.ndarray:
        level0 = f"capacity:{self.space.target.levels[0].name}"
        while len(self._pending) < n and self._next < self._tilings:
            k = min(self.chunk, self._tilings - self._next, max(1, (4 * n) // max(1, self._inner)))
            tilings = self._tiling_digits(self._next, k)
            self._next += k
            ok = self._fits(tilings)
            self._skipped[level0] += int((~ok).sum()) * self._inner
            tilings = tilings[ok]
            if not len(tilings):
                continue
            inner = self._inner_block()
            block = np.concatenate([np.repeat(tilings, len(inner), axis=0), np.tile(inner, (len(tilings), 1))], axis=1)
            keep = canonical(self.space, block)
            self._skipped["equivalent"] += int((~keep).sum())
            self._pending = np.concatenate([self._pending, block[keep]])
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def skipped(self) -> Counter:
        return Counter(self._skipped)
