"""The loop-order heuristic (Timeloop's "hybrid"): a random tiling, then every canonical loop order of it."""
from __future__ import annotations

import numpy as np

from loomsim.mappers.search import Strategy
from loomsim.mappers.strategies import strategy
from loomsim.mappers.strategies.pruning import canonical_perms, unit_masks


@strategy("loop-order")
class LoopOrderHeuristic(Strategy):
    """Draws a per-rank tiling at random (one that fits the innermost SRAM, when one can be found in a
    few draws) and proposes all its canonical loop orders, every SRAM keeping and double-buffering
    every tensor, with both operand roles. Tiling is the hard choice; for a given tiling, the loop
    orders are few enough to try them all."""

    def __init__(self, space, objective, seed: int = 0):
        super().__init__(space, objective, seed)
        self._pending = np.zeros((0, len(space.radices)), np.int64)

    def _block(self) -> np.ndarray:
        sp = self.space
        R, L, T = sp.problem.R, sp.target.L, sp.problem.T
        for _ in range(32):
            tiling = sp.sample_digits(self.rng, 1)[0, :R]
            if self._fits(tiling):
                break
        units = unit_masks(sp, tiling[None, :])[0]
        canon = canonical_perms(R)
        per_level = [np.nonzero(canon[units[lv]])[0] for lv in range(1, L)]
        grids = np.meshgrid(*per_level, np.arange(sp.radices[-1]), indexing="ij")
        combos = np.stack([g.ravel() for g in grids], axis=1)
        n = len(combos)
        all_t = (1 << T) - 1
        block = np.concatenate([np.tile(tiling, (n, 1)), combos[:, :L - 1],
                                np.full((n, max(L - 2, 0)), all_t), np.full((n, L - 1), all_t), combos[:, -1:]],
                               axis=1).astype(np.int64)
        return block

    def _fits(self, tiling) -> bool:
        p, cap = self.space.problem, self.space.target.levels[0].capacity
        ext = [min(int(self.space.choices[r][d, 0] * self.space.choices[r][d, 1] * self.space.choices[r][d, 2]),
                   p.sizes[r]) for r, d in enumerate(tiling)]
        need = sum(2 * p.nbytes(t, int(np.prod([e for e, rel in zip(ext, p.relevant[t]) if rel] or [1])))
                   for t in range(p.T))
        return need <= cap

    def ask(self, n: int) -> np.ndarray:
        while len(self._pending) < n:
            self._pending = np.concatenate([self._pending, self._block()])
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

