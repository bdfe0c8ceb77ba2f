"""Which points of a map space are equivalent to others (so an exhaustive search may skip them)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from loomsim.mappers.space import permutations


@lru_cache(maxsize=16)
def canonical_perms(R: int) -> np.ndarray:
    """canon[unit_mask, perm]: is the permutation canonical when the ranks in unit_mask have factor 1?

    Loops of factor 1 do nothing, so their place in the order changes no count; the canonical order
    puts them last, in rank order. Every loop order is equivalent to exactly one canonical one.
    """
    perms = permutations(R)
    canon = np.zeros((1 << R, len(perms)), bool)
    for mask in range(1 << R):
        for i, p in enumerate(perms):
            units = [r for r in p if (mask >> r) & 1]
            tail = list(p[len(p) - len(units):])
            canon[mask, i] = tail == sorted(units)
    return canon


def unit_masks(space, rank_digits: np.ndarray) -> np.ndarray:
    """[n, L] bit masks of ranks whose factor is 1 at each level, for rows of per-rank choice digits."""
    L, R = space.target.L, space.problem.R
    out = np.zeros((len(rank_digits), L), np.int64)
    for r in range(R):
        f = space.choices[r][rank_digits[:, r]][:, 2:]          # [n, L] factors of rank r
        out |= (f == 1).astype(np.int64) << r
    return out


def canonical(space, digits: np.ndarray) -> np.ndarray:
    """Mask of digit rows that are the canonical representative of their equivalence class.

    Equivalent mappings: loop orders that differ only in where unit loops sit, and double-buffering
    bits of tensors a level does not keep (or, in the outermost SRAM, of resident tensors).
    """
    R, L, T = space.problem.R, space.target.L, space.problem.T
    canon = canonical_perms(R)
    units = unit_masks(space, digits[:, :R])
    ok = np.ones(len(digits), bool)
    j = R
    for lv in range(1, L):
        ok &= canon[units[:, lv], digits[:, j]]
        j += 1
    keep = np.full((len(digits), L), (1 << T) - 1, np.int64)
    for lv in range(1, L - 1):
        keep[:, lv] = digits[:, j]
        j += 1
    for lv in range(0, L - 1):
        ok &= (digits[:, j] & ~keep[:, lv]) == 0
        if lv == L - 2:                     # a resident tensor is never refilled: its buffering bit is moot
            ok &= (digits[:, j] & space.resident) == 0
        j += 1
    return ok
