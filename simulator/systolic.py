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

A rank that is not a multiple of the array dimension gives a last, partial fold with fewer rows or
columns. A fold occupies the top-left r x c PEs and its outputs leave from its last row, r - 1.

Fold pipelining (the array's `fold_pipelining` parameter) says how consecutive folds meet:

none: folds run back to back, each paying P + F + S + D (no overlap of a fold's drain with the next
    fold's preload; no second bank of stationary registers). A tile of b batched GEMMs costs
    b x sum over folds.

double_buffered: every PE holds two banks of the stationary operand; the data carries a one-bit bank
    tag, so each PE switches bank exactly when the new fold's first vector reaches it (TPU v1, Jouppi
    et al., ISCA'17, sec. 2: the matrix unit holds one tile of weights plus one for double-buffering,
    to hide the cycles it takes to shift a tile in, and new weights take effect with the advancing
    wave). Let s_f be the cycle fold f's first vector enters row 0 (row i gets vector x at s_f + x + i,
    PE(i,j) works on it at s_f + x + i + j).
  ws, is: the next fold's stationary operand shifts into the idle bank with the same skew as the data
    (column j starts j cycles late; row i first latches i cycles into the shift, and all r_f rows
    hold their values after r_f shift cycles). It starts when fold f starts streaming (L_{f+1} = s_f,
    the cycle fold f-1's wave began leaving that bank), so
      stream:   s_{f+1} >= s_f + t_f          (one vector per cycle enters each row)
      preload:  s_{f+1} >= L_{f+1} + r_{f+1}   (PE(i,j)'s weight is in place at L + r - 1 + j)
      bank:     L_{f+2} + i + j >= s_f + t_f - 1 + i + j   (fold f's last use precedes the overwrite)
    and with L_{f+1} = s_f all three hold at s_{f+1} = s_f + max(t_f, P_{f+1}), P = r.
  os: each PE has a second output register; at its last MAC of fold f, PE(i,j) moves its sum there
    (cycle s_f + t_f - 1 + i + j) and starts fold f+1 from zero. Column j's shadow chain shifts the
    sums down and out of row r_f - 1: the bottom one leaves at s_f + t_f + r_f - 1 + j, one per cycle
    after it, so row i's shadow is free at s_f + t_f + r_f - 1 + i + j, which fold f+1's sum needs at
    s_{f+1} + t_{f+1} - 1 + i + j: s_{f+1} >= s_f + D_f with D = r, so s_{f+1} = s_f + max(t_f, D_f).
    (Physically right for os: the accumulators are the stationary operand, and draining them through
    a second register is the output-side twin of shifting weights into a second one.)
  Both: boundary(f -> f+1) = max(t_f, D_f + P_{f+1}); s_0 = P_0; fold f ends at
      e_f = s_f + t_f + (r_f + c_f - 2) + D_f
  and a run of folds takes E = max_f e_f cycles: the fill/drain wavefront is paid once per run (its
  last fold's, or an earlier, larger fold's when a small partial fold ends the run). For one fold E
  equals the per-fold form above. Fold order: the rows rank outer, the columns rank inner (full
  pieces first, the partial one last); b batched GEMMs are one run of b repetitions, so
  E(b) = E(1) + (b - 1) x (s-advance of one repetition), each repetition's first fold after a
  boundary. Every e_f grows with f among folds of one shape, so only the last fold of each of the
  (at most four) shapes can be the latest: O(1) per tile.
  Named simplifications: when a shorter partial fold follows a taller one, their outputs may leave one
  column in the same cycle from different rows (assumed accepted, as if every row had an output tap,
  consistently with the per-fold r-row fill); a preload could legally start one cycle earlier than
  L_{f+1} = s_f in rare alternations of t and r (not modelled). The form covers one task (a
  MatmulTile); across tasks the simulator (SystolicArrayModel) pipelines the same way, and the mapper
  costs that (mappers/pipeline_kernel.py).
`tests/test_systolic.py` checks both modes cycle by cycle against `tests/systolic_rtl.py`.
"""
from __future__ import annotations

from dataclasses import dataclass

DATAFLOWS = ("ws", "os", "is")
FOLD_PIPELINING = ("none", "double_buffered")


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


def _check_pipelining(pipelining: str) -> None:
    if pipelining not in FOLD_PIPELINING:
        raise ValueError(f"unknown fold pipelining {pipelining!r}; valid: {', '.join(FOLD_PIPELINING)}")


def tile_cycles(dataflow: str, rows: int, cols: int, m: int, n: int, k: int, batch: int = 1,
                pipelining: str = "none") -> int:
    """Cycles for `batch` GEMM tiles of this shape run one after the other on one array."""
    _check_pipelining(pipelining)
    if pipelining == "double_buffered":
        return pipelined_run(dataflow, rows, cols, m, n, k, batch).total
    return batch * sum(count * fold_cycles(dataflow, r, c, t).total
                       for r, c, t, count in folds(dataflow, rows, cols, m, n, k))


def tile_breakdown(dataflow: str, rows: int, cols: int, m: int, n: int, k: int, batch: int = 1,
                   pipelining: str = "none") -> FoldCycles:
    """Preload, fill, stream and drain cycles of `batch` tiles; they add up to `tile_cycles`.

    Double-buffered, only exposed cycles count: preload (ws, is) or drain (os) is the time the
    array's left edge waits between streams, plus (os) the last fold's drain; fill is the rest.
    """
    _check_pipelining(pipelining)
    if pipelining == "double_buffered":
        run = pipelined_run(dataflow, rows, cols, m, n, k, batch)
        return run.breakdown
    p = f = s = d = 0
    for r, c, t, count in folds(dataflow, rows, cols, m, n, k):
        fc = fold_cycles(dataflow, r, c, t)
        p, f, s, d = p + count * fc.preload, f + count * fc.fill, s + count * fc.stream, d + count * fc.drain
    return FoldCycles(batch * p, batch * f, batch * s, batch * d)


@dataclass(frozen=True)
class PipelinedRun:
    """A double-buffered run of folds: when its last stream ends and when its last output leaves."""

    stream_end: int      # s_last + t: the cycle after the last vector entered the array
    total: int           # E = max over folds of e_f
    streamed: int        # sum of t over the folds
    last_drain: int      # D of the last fold (os: its rows; ws, is: 0)
    dataflow: str
    first_preload: int = 0   # P of the first fold: s_0 (the run starts its first preload at cycle 0)
    stream: int = 0          # t, the same for every fold of a tile

    @property
    def breakdown(self) -> FoldCycles:
        waited = self.stream_end - self.streamed          # cycles the left edge took no vector
        tail = self.total - self.stream_end               # wavefront (+ the os drain) after it
        if self.dataflow == "os":
            return FoldCycles(0, tail - self.last_drain, self.streamed, waited + self.last_drain)
        return FoldCycles(waited, tail, self.streamed, 0)


def pipelined_run(dataflow: str, rows: int, cols: int, m: int, n: int, k: int, batch: int = 1) -> PipelinedRun:
    """The double-buffered closed form (module docstring) for `batch` tiles, in O(1)."""
    ru, cu, t = fold_dims(dataflow, m, n, k)
    if min(ru, cu, t, batch) <= 0:
        raise ValueError(f"tile dimensions must be positive, got m={m} n={n} k={k} batch={batch}")
    stationary_in = dataflow != "os"            # ws, is preload P = r; os drains D = r
    row_pieces, col_pieces = _pieces(ru, rows), _pieces(cu, cols)
    nc = sum(n for _, n in col_pieces)
    s = None             # start of the latest fold placed so far
    prev_d = 0
    end = 0
    first_p = 0
    for r, nr in row_pieces:
        p, d = (r, 0) if stationary_in else (0, r)
        step = max(t, d + p)                    # boundary between two folds of this row piece
        start = p if s is None else s + max(t, prev_d + p)
        if s is None:
            first_p = p
        # the last fold of each column shape in this row piece: position in the piece's folds
        pos, last = 0, {}
        for c, ncp in col_pieces:
            pos += ncp
            last[c] = (nr - 1) * nc + pos - 1
        for c, at in last.items():
            end = max(end, start + at * step + t + r + c - 2 + d)
        s = start + (nr * nc - 1) * step
        prev_d = d
    # repetitions: the next one's first fold follows this one's last across one boundary
    period = s - first_p + max(t, prev_d + first_p)
    folds_per = sum(n for _, n in row_pieces) * nc
    return PipelinedRun(stream_end=s + t + (batch - 1) * period, total=end + (batch - 1) * period,
                        streamed=batch * folds_per * t, last_drain=prev_d, dataflow=dataflow,
                        first_preload=first_p, stream=t)


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
