"""The map space of one Einsum on one `Target`: how a mapping is encoded as integers, and what is legal.

A mapping is a loop nest. From the outside in: the DRAM's loops, each SRAM's loops (outermost SRAM
first), a spatial split across the unit's `count` identical instances, and the compute tile that one
instance runs as one task. Per rank r it chooses

    C[r]        the compute tile's extent (need not divide the rank: the last tile is partial)
    S[r]        instances the rank is split across (the spatial unrolling across arrays)
    F[l][r]     how many level-(l-1) tiles (or spatial groups, for l = 0) level l's loop walks

with S[r] * prod_l F[l][r] = ceil(N[r] / C[r]) exactly, so every loop runs its full count and only the
last compute tile of a rank is partial ("imperfect factors"). Per level it chooses a loop order
(`perm[l]`, outermost first), which tensors the level keeps (a bypassed tensor is filled straight from
the next memory out), and which it double-buffers. For a systolic array, `swap` picks which input is
streamed (A) and which is stationary (B); with the dataflow that fixes the spatial unrolling on the
array: rows take the reduced ranks, columns the other input's output ranks (see `problem.roles`).

Everything is one row of int64 (`Layout`), so a batch of mappings is one 2-D array the numba kernel
evaluates in one call. The space itself is a mixed-radix product of independent choices
(`MapSpace.radices`): a mapping index, or one digit per choice, decodes to a row without ever
materialising the space, which is how a search over 10^12 mappings stays within its batch's memory.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from math import factorial, prod

import numpy as np
from numba import njit

from loomsim.mappers.problem import KIND_SYSTOLIC, EinsumProblem, Target

# rejection reasons, as the kernel returns them; capacity reasons are CAPACITY + level index
LEGAL, FANOUT, CAPACITY = 0, 1, 2


def reason_name(code: int, target: Target) -> str:
    if code == FANOUT:
        return "fanout"
    return f"capacity:{target.levels[code - CAPACITY].name}"


@dataclass(frozen=True)
class Layout:
    """Offsets of each field in a mapping row (R ranks, L levels)."""

    R: int
    L: int

    @property
    def C(self) -> int:
        return 0

    @property
    def S(self) -> int:
        return self.R

    def F(self, level: int) -> int:
        return 2 * self.R + level * self.R

    def P(self, level: int) -> int:
        return 2 * self.R + self.L * self.R + level * self.R

    def keep(self, level: int) -> int:
        return 2 * self.R + 2 * self.L * self.R + level

    def db(self, level: int) -> int:
        return 2 * self.R + 2 * self.L * self.R + self.L + level

    @property
    def swap(self) -> int:
        return 2 * self.R + 2 * self.L * self.R + 2 * self.L

    @property
    def resident(self) -> int:
        """Bit mask of tensors that live in the outermost SRAM for the whole run (fusion)."""
        return self.swap + 1

    @property
    def width(self) -> int:
        return self.resident + 1


@dataclass(frozen=True)
class Mapping:
    """A readable view of one mapping row."""

    C: tuple[int, ...]
    S: tuple[int, ...]
    F: tuple[tuple[int, ...], ...]      # [level][rank]
    perm: tuple[tuple[int, ...], ...]   # [level] rank indices, outermost first
    keep: tuple[int, ...]               # [level] bit mask over tensors
    db: tuple[int, ...]                 # [level] bit mask over tensors
    swap: int = 0
    resident: int = 0

    @staticmethod
    def from_row(row, layout: Layout) -> "Mapping":
        R, L = layout.R, layout.L
        row = [int(x) for x in row]
        return Mapping(tuple(row[0:R]), tuple(row[R:2 * R]),
                       tuple(tuple(row[layout.F(lv):layout.F(lv) + R]) for lv in range(L)),
                       tuple(tuple(row[layout.P(lv):layout.P(lv) + R]) for lv in range(L)),
                       tuple(row[layout.keep(0):layout.keep(0) + L]), tuple(row[layout.db(0):layout.db(0) + L]),
                       row[layout.swap], row[layout.resident])

    @staticmethod
    def tiled(problem: EinsumProblem, target: Target, tiles: dict, order: str | tuple | None = None,
              double_buffer: bool = True, swap: int = 0) -> "Mapping":
        """The simple mapping most people write by hand: compute tiles of `tiles` (rank -> extent, the
        rest whole) held in the innermost SRAM, walked by DRAM-level loops in `order` (rank names,
        outermost first); every level keeps every tensor; all SRAMs double-buffer or none do."""
        R, L, T = problem.R, target.L, problem.T
        C = tuple(min(int(tiles.get(r, n)), n) for r, n in zip(problem.ranks, problem.sizes))
        F = [[1] * R for _ in range(L)]
        F[L - 1] = [-(-n // c) for n, c in zip(problem.sizes, C)]
        order = tuple(order) if order is not None else problem.ranks
        perm_top = tuple(problem.ranks.index(r) for r in order)
        perm_top += tuple(r for r in range(R) if r not in perm_top)
        ident = tuple(range(R))
        all_t = (1 << T) - 1
        db = all_t if double_buffer else 0
        return Mapping(C, (1,) * R, tuple(tuple(f) for f in F), tuple(ident for _ in range(L - 1)) + (perm_top,),
                       (all_t,) * L, (db,) * (L - 1) + (0,), swap)

    def to_row(self, layout: Layout) -> np.ndarray:
        row = np.zeros(layout.width, np.int64)
        R = layout.R
        row[0:R], row[R:2 * R] = self.C, self.S
        for lv in range(layout.L):
            row[layout.F(lv):layout.F(lv) + R] = self.F[lv]
            row[layout.P(lv):layout.P(lv) + R] = self.perm[lv]
            row[layout.keep(lv)], row[layout.db(lv)] = self.keep[lv], self.db[lv]
        row[layout.swap], row[layout.resident] = self.swap, self.resident
        return row


# ---- per-rank choices: (C, S, F_0 .. F_{L-1}) ---------------------------------------------------

def _ordered_factorizations(q: int, k: int) -> list[tuple[int, ...]]:
    """Every way to write q as an ordered product of k positive factors."""
    if k == 1:
        return [(q,)]
    out = []
    for d in range(1, q + 1):
        if q % d == 0:
            out += [(d, *rest) for rest in _ordered_factorizations(q // d, k - 1)]
    return out


def tile_candidates(n: int) -> list[int]:
    """Compute-tile extents worth trying for a rank of size n.

    Up to n = 1024: every extent that gives a distinct tile count (ceil(n / Q) for Q = 1..n), which
    includes every imperfect tiling. Larger ranks: the divisors of n, the powers of two below it, and
    ceil(n / Q) for Q <= 256 (coarse imperfect tilings), so the list stays a few hundred long.
    """
    if n <= 1024:
        return sorted({-(-n // q) for q in range(1, n + 1)})
    out = {d for d in range(1, int(n ** 0.5) + 1) if n % d == 0}
    out |= {n // d for d in out}
    out |= {1 << i for i in range(n.bit_length()) if (1 << i) <= n}
    out |= {-(-n // q) for q in range(1, 257)}
    return sorted(out)


@lru_cache(maxsize=256)
def rank_choices(n: int, levels: int, max_spatial: int) -> np.ndarray:
    """Rows (C, S, F_0..F_{L-1}) for one rank; S <= max_spatial (1 when the rank may not be split)."""
    rows = []
    for c in tile_candidates(n):
        q = -(-n // c)
        for fac in _ordered_factorizations(q, levels + 1):
            if fac[0] <= max_spatial:
                rows.append((c, *fac))
    return np.array(rows, np.int64).reshape(len(rows), levels + 2)


@lru_cache(maxsize=16)
def permutations(R: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(R))), np.int64).reshape(factorial(R), R)


class MapSpace:
    """Every mapping of `problem` on `target`, as a mixed-radix product of independent choices."""

    def __init__(self, problem: EinsumProblem, target: Target, resident: int = 0):
        self.problem, self.target = problem, target
        self.layout = Layout(problem.R, target.L)
        self.resident = resident
        L, T = target.L, problem.T
        self.choices = []
        for r in range(problem.R):
            split = target.count if not problem.reduced(r) else 1   # a reduced rank is never split (no cross-array sum)
            self.choices.append(rank_choices(problem.sizes[r], L, split))
        self.perms = permutations(problem.R)
        all_t = (1 << T) - 1
        swaps = 2 if target.kind == KIND_SYSTOLIC and problem.is_mac else 1
        # Radices: rank choices; loop orders of levels 1..L-1 (level 0's order changes no count: the unit
        # reads each compute tile's operands afresh); keep masks of the middle levels; double-buffer masks
        # of the SRAMs; the operand swap.
        self.radices = ([len(c) for c in self.choices] + [len(self.perms)] * (L - 1)
                        + [1 << T] * max(L - 2, 0) + [1 << T] * (L - 1) + [swaps])
        self._all = all_t
        offsets = np.cumsum([0] + [len(c) for c in self.choices])
        self._table = np.concatenate(self.choices)
        self._offsets = offsets.astype(np.int64)

    def __len__(self) -> int:
        n = self.size
        return n if n < (1 << 63) else (1 << 63) - 1

    @property
    def size(self) -> int:
        return prod(self.radices)

    def sample_digits(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n random points of the space, one digit per choice, uniform per choice."""
        return rng.integers(0, np.array(self.radices, np.int64), size=(n, len(self.radices)), dtype=np.int64)

    def index_digits(self, start: int, n: int) -> np.ndarray:
        """Digits of the mappings numbered start .. start+n-1 (mixed radix, last choice fastest)."""
        n = max(0, min(n, self.size - start))
        out = np.zeros((n, len(self.radices)), np.int64)
        idx = [start + i for i in range(n)] if self.size >= (1 << 62) else np.arange(start, start + n, dtype=np.int64)
        for j in range(len(self.radices) - 1, -1, -1):
            k = self.radices[j]
            if isinstance(idx, list):
                out[:, j] = [i % k for i in idx]
                idx = [i // k for i in idx]
            else:
                out[:, j] = idx % k
                idx = idx // k
        return out

    def decode(self, digits: np.ndarray) -> np.ndarray:
        """Mapping rows for a (n, len(radices)) array of digits."""
        rows = np.zeros((len(digits), self.layout.width), np.int64)
        _decode(digits, self._table, self._offsets, self.perms, self.problem.R, self.target.L, self.problem.T,
                self.resident, rows)
        return rows

    def row(self, mapping: Mapping) -> np.ndarray:
        return mapping.to_row(self.layout)

    def mapping(self, row) -> Mapping:
        return Mapping.from_row(row, self.layout)


@njit(cache=True)
def _decode(digits, table, offsets, perms, R, L, T, resident, rows):
    all_t = (1 << T) - 1
    for i in range(digits.shape[0]):
        d = digits[i]
        row = rows[i]
        for r in range(R):
            c = table[offsets[r] + d[r]]
            row[r] = c[0]
            row[R + r] = c[1]
            for lv in range(L):
                row[2 * R + lv * R + r] = c[2 + lv]
        j = R
        base_p = 2 * R + L * R
        for r in range(R):                       # level 0: a fixed order
            row[base_p + r] = r
        for lv in range(1, L):
            p = perms[d[j]]
            j += 1
            for r in range(R):
                row[base_p + lv * R + r] = p[r]
        base_k = 2 * R + 2 * L * R
        row[base_k] = all_t                      # the innermost SRAM keeps everything the unit reads
        for lv in range(1, L - 1):
            row[base_k + lv] = d[j]
            j += 1
        row[base_k + L - 2] |= resident          # a resident tensor lives in the outermost SRAM
        row[base_k + L - 1] = all_t & ~resident  # the DRAM keeps all but resident tensors
        base_d = base_k + L
        for lv in range(0, L - 1):
            row[base_d + lv] = d[j]
            j += 1
        row[base_d + L - 1] = 0
        row[base_d + L] = d[j]                   # swap
        row[base_d + L + 1] = resident
