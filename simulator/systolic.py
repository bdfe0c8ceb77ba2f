"""Exact cycle counts of a systolic array, per dataflow, as closed forms.

The array has R x C PEs; data moves one PE per cycle to the right along rows and down along columns.
A GEMM tile Z[m,n] = sum_k A[m,k] B[k,n] is cut into *folds*: one fold is what fits the array at once.

    dataflow  stationary   rows hold  cols hold  streamed (t, one vector per cycle)
    ws        B (weights)  k          n          m   (rows of A enter from the left)
    os        Z (outputs)  m          n          k   (A from the left, B from the top)
    is        A (inputs)   k          m          n   (columns of B enter from the left)

A fold using r <= R rows and c <= C columns takes

    preload  P = r         (ws, is: the stationary operand shifts in one row per cycle; os: 0)
    fill     F = r + c - 2 (the skewed wavefront reaches the far corner r + c - 2 cycles after it starts)
    stream   S = t         (one vector enters per cycle)
    drain    D = r         (os: the outputs shift out of the array one row per cycle; ws, is: 0,
                            outputs leave the bottom edge while the wavefront passes)

    cycles(fold) = P + F + S + D
        ws: 2r + c + m - 2        os: 2r + c + k - 2        is: 2r + c + n - 2

Derivation (ws): weights for rows 0..r-1 are in place after r cycles. Row i receives A[x,k_i] at
cycle r + x + i (the usual input skew), PE(i,j) does its MAC for vector x at r + x + i + j, so the
last MAC (x = t-1, i = r-1, j = c-1) happens at cycle 2r + c + t - 3 and the fold occupies
2r + c + t - 2 cycles. os: PE(i,j) does MAC k at cycle k + i + j; the last at k + r + c - 3 with
k = K-1, then r cycles shift the r rows of results out. is mirrors ws with A stationary. These equal
SCALE-Sim's per-fold count (2*Sr + Sc + T - 2); `tests/test_systolic.py` checks them against a
register-level, cycle-by-cycle model of the array for every dataflow.

Folds run back to back (no overlap of one fold's drain with the next fold's preload). A rank that is
not a multiple of the array dimension gives a last, partial fold with fewer rows or columns.
"""
from __future__ import annotations

from dataclasses import dataclass

DATAFLOWS = ("ws", "os", "is")


@dataclass(frozen=True)
class FoldCycles:
    preload: int
    fill: int
    stream: int
    drain: int

    @property
    def total(self) -> int:
        return self.preload + self.fill + self.stream + self.drain


def fold_cycles(dataflow: str, r: int, c: int, t: int) -> FoldCycles:
    """Cycles of one fold using r rows and c columns, streaming t vectors."""
    if dataflow not in DATAFLOWS:
        raise ValueError(f"unknown dataflow {dataflow!r}")
    if min(r, c, t) <= 0:
        raise ValueError(f"fold dimensions must be positive, got r={r} c={c} t={t}")
    if dataflow == "os":
        return FoldCycles(0, r + c - 2, t, r)
    return FoldCycles(r, r + c - 2, t, 0)


def fold_dims(dataflow: str, m: int, n: int, k: int) -> tuple[int, int, int]:
    """(rows rank size, cols rank size, streamed size) of a GEMM tile under a dataflow."""
    if dataflow == "ws":
        return k, n, m
    if dataflow == "os":
        return m, n, k
    if dataflow == "is":
        return k, m, n
    raise ValueError(f"unknown dataflow {dataflow!r}")


def _pieces(size: int, cap: int) -> list[tuple[int, int]]:
    """Cut `size` into pieces of at most `cap`: [(piece, how many)]."""
    full, rem = divmod(size, cap)
    return [(p, n) for p, n in ((cap, full), (rem, 1 if rem else 0)) if n]


def folds(dataflow: str, rows: int, cols: int, m: int, n: int, k: int) -> list[tuple[int, int, int, int]]:
    """Distinct folds of a tile as (r, c, t, how many)."""
    ru, cu, t = fold_dims(dataflow, m, n, k)
    return [(r, c, t, nr * nc) for r, nr in _pieces(ru, rows) for c, nc in _pieces(cu, cols)]


def tile_cycles(dataflow: str, rows: int, cols: int, m: int, n: int, k: int) -> int:
    """Cycles for the whole tile: the sum of its folds."""
    return sum(count * fold_cycles(dataflow, r, c, t).total for r, c, t, count in folds(dataflow, rows, cols, m, n, k))


def tile_breakdown(dataflow: str, rows: int, cols: int, m: int, n: int, k: int) -> FoldCycles:
    """Preload, fill, stream and drain cycles summed over the folds of a tile."""
    p = f = s = d = 0
    for r, c, t, count in folds(dataflow, rows, cols, m, n, k):
        fc = fold_cycles(dataflow, r, c, t)
        p, f, s, d = p + count * fc.preload, f + count * fc.fill, s + count * fc.stream, d + count * fc.drain
    return FoldCycles(p, f, s, d)


@dataclass(frozen=True)
class TileTraffic:
    """Elements the array reads from and writes to its local memory for one tile."""

    a_reads: int
    b_reads: int
    z_reads: int
    z_writes: int


def tile_traffic(dataflow: str, rows: int, cols: int, m: int, n: int, k: int, accumulate: bool) -> TileTraffic:
    """Operand elements moved between the SRAM and the array for one tile.

    The stationary operand is read once; a streamed operand is read once per fold across the other
    stationary dimension; outputs are written once per fold along k and, when a fold adds to earlier
    partial sums (any fold after the first along k, or every fold if `accumulate`), read first.
    """
    ceil = lambda a, b: -(-a // b)  # noqa: E731
    if dataflow == "ws":      # rows <- k, cols <- n
        kf, nf = ceil(k, rows), ceil(n, cols)
        a, b = m * k * nf, k * n
        zw = m * n * kf
    elif dataflow == "is":    # rows <- k, cols <- m
        kf, mf = ceil(k, rows), ceil(m, cols)
        a, b = m * k, k * n * mf
        zw = m * n * kf
    elif dataflow == "os":    # rows <- m, cols <- n
        mf, nf = ceil(m, rows), ceil(n, cols)
        a, b = m * k * nf, k * n * mf
        zw = m * n
    else:
        raise ValueError(f"unknown dataflow {dataflow!r}")
    zr = zw - m * n + (m * n if accumulate else 0)
    return TileTraffic(a, b, zr, zw)
