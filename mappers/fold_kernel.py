"""numba closed forms of a systolic array's folds: the mapper's copy of `simulator/systolic.py`.

Scalar-only helpers (inlined into `cost_kernel._evaluate_rows`) and two jitted entry points for tests.
`tests/test_cost_kernel.py` holds them equal to the simulator's closed forms in both fold-pipelining
modes, with and without power-of-two shifts.
"""
from __future__ import annotations

from numba import njit


@njit(cache=True, inline="always")
def _cdiv_s(a, b, shift):
    """ceil(a / b), by shifting when b is a power of two (shift >= 0): divisions dominate the kernel."""
    if shift >= 0:
        return (a + b - 1) >> shift
    return (a + b - 1) // b


@njit(cache=True, inline="always")
def _fold(dataflow, rows, cols, m, n, k, rs, cs):
    """(cycles, A read, B read, Z written) of one GEMM tile on a rows x cols systolic array.

    Cycles: the sum over folds of 2r + c + t - 2. Traffic in elements between the SRAM and the array:
    the stationary operand is read once, a streamed one once per fold across the other array
    dimension; outputs are written once per fold along the reduction (and read as often, less the
    first fold of a first visit, when accumulating).
    """
    if dataflow == 0:      # ws: rows <- k, cols <- n, stream m
        nr, nc = _cdiv_s(k, rows, rs), _cdiv_s(n, cols, cs)
        return 2 * k * nc + n * nr + nr * nc * (m - 2), m * k * nc, k * n, m * n * nr
    if dataflow == 1:      # os: rows <- m, cols <- n, stream k
        nr, nc = _cdiv_s(m, rows, rs), _cdiv_s(n, cols, cs)
        return 2 * m * nc + n * nr + nr * nc * (k - 2), m * k * nc, k * n * nr, m * n
    nr, nc = _cdiv_s(k, rows, rs), _cdiv_s(m, cols, cs)      # is: rows <- k, cols <- m, stream n
    return 2 * k * nc + m * nr + nr * nc * (n - 2), m * k, k * n * nc, m * n * nr


@njit(cache=True, inline="always")
def _pipe(dataflow, rows, cols, m, n, k, bm, rs, cs):
    """One double-buffered run of bm GEMM tiles (`simulator/systolic.py`'s closed form), as what the next
    task in the array's pipeline needs: (E, P0, A, t, D) = the run's cycles, its first fold's preload, the
    cycles from its first fold's stream start to its last fold's, the vectors each fold streams, and the
    last fold's drain (os: its rows; ws, is: 0).

    Folds go rows rank outer, columns rank inner, full pieces before the partial one. A boundary into
    a fold costs max(t, D_prev + P) (ws, is: P = r, D = 0; os: P = 0, D = r); the run ends at the
    latest fold end s + t + r + c - 2 + D, which is the last fold of one of at most four shapes.
    """
    if dataflow == 0:
        ru, cu, t = k, n, m
    elif dataflow == 1:
        ru, cu, t = m, n, k
    else:
        ru, cu, t = k, m, n
    nrf = ru >> rs if rs >= 0 else ru // rows
    ncf = cu >> cs if cs >= 0 else cu // cols
    rp, cp = ru - nrf * rows, cu - ncf * cols
    nc = ncf + (1 if cp > 0 else 0)
    s, end, prev_d, first_p = -1, 0, 0, 0
    for piece in range(2):
        r = rows if piece == 0 else rp
        nr = nrf if piece == 0 else (1 if rp > 0 else 0)
        if nr == 0:
            continue
        p = 0 if dataflow == 1 else r
        d = r if dataflow == 1 else 0
        step = max(t, d + p)
        if s < 0:
            start = p
            first_p = p
        else:
            start = s + max(t, prev_d + p)
        if ncf > 0:
            end = max(end, start + ((nr - 1) * nc + ncf - 1) * step + t + r + cols - 2 + d)
        if cp > 0:
            end = max(end, start + (nr * nc - 1) * step + t + r + cp - 2 + d)
        s = start + (nr * nc - 1) * step
        prev_d = d
    period = s - first_p + max(t, prev_d + first_p)      # one repetition's advance, into the next one
    return end + (bm - 1) * period, first_p, s - first_p + (bm - 1) * period, t, prev_d


@njit(cache=True, inline="always")
def _pipelined(dataflow, rows, cols, m, n, k, bm, rs, cs):
    """Cycles of bm GEMM tiles run as one double-buffered run."""
    return _pipe(dataflow, rows, cols, m, n, k, bm, rs, cs)[0]


@njit(cache=True)
def fold_cycles(dataflow, rows, cols, m, n, k, rs=-1, cs=-1, bm=1, pipelined=0):
    """Cycles of bm GEMM tiles on a rows x cols systolic array: bm x the sum over folds of 2r + c + t - 2,
    or (pipelined) one double-buffered run."""
    if pipelined:
        return _pipelined(dataflow, rows, cols, m, n, k, bm, rs, cs)
    return bm * _fold(dataflow, rows, cols, m, n, k, rs, cs)[0]


@njit(cache=True)
def fold_traffic(dataflow, rows, cols, m, n, k, rs=-1, cs=-1):
    """Elements one tile moves between the SRAM and the array: (A read, B read, Z written)."""
    _, a, b, z = _fold(dataflow, rows, cols, m, n, k, rs, cs)
    return a, b, z
