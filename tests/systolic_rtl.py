"""A register-level, cycle-by-cycle model of a systolic array: the oracle for the closed forms.

Every cycle, each PE latches the operand from its left neighbour and the partial sum (or operand)
from the PE above, as registers do; values are tagged with the vector they belong to so the model
checks its own skew. Cycle counts here emerge from moving data; nothing is computed by formula.
It is slow (pure Python over every PE and cycle) and meant for small arrays.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

NONE = -1


def stationary_fold(W: np.ndarray, X: np.ndarray, moves: Counter | None = None) -> tuple[np.ndarray, int]:
    """One fold with W (r x c) stationary and X (t x r) streamed: returns (X @ W, cycles).

    Cycle 0..r-1: W shifts in from the top, one row per cycle (the last row first).
    Then row i receives X[x, i] at its left edge in cycle r + x + i; each PE adds its product to the
    partial sum arriving from above and passes both on; column j's bottom PE emits Y[x, j].
    """
    r, c = W.shape
    t = X.shape[0]
    w = np.zeros((r, c))
    cycle = 0
    for s in range(r):                       # preload: shift down, feed row r-1-s at the top
        w[1:] = w[:-1].copy()
        w[0] = W[r - 1 - s]
        if moves is not None:
            moves["stationary"] += c
        cycle += 1
    assert np.array_equal(w, W)
    a_val, a_tag = np.zeros((r, c)), np.full((r, c), NONE)
    p_val, p_tag = np.zeros((r, c)), np.full((r, c), NONE)
    Y = np.full((t, c), np.nan)
    collected, last_active = 0, cycle - 1
    while collected < t * c:
        in_val, in_tag = np.zeros(r), np.full(r, NONE)
        for i in range(r):                    # skewed injection at the left edge
            x = cycle - r - i
            if 0 <= x < t:
                in_val[i], in_tag[i] = X[x, i], x
                if moves is not None:
                    moves["streamed"] += 1
        new_a_val = np.concatenate([in_val[:, None], a_val[:, :-1]], axis=1)
        new_a_tag = np.concatenate([in_tag[:, None], a_tag[:, :-1]], axis=1)
        up_val = np.concatenate([np.zeros((1, c)), p_val[:-1]], axis=0)
        up_tag = np.concatenate([np.full((1, c), NONE), p_tag[:-1]], axis=0)
        active = new_a_tag != NONE
        # the partial sum from above must belong to the same vector (row 0 starts a new sum)
        bad = active[1:] & (up_tag[1:] != new_a_tag[1:])
        assert not bad.any(), "skew error: partial sum and input from different vectors"
        new_p_val = np.where(active, up_val + new_a_val * w, 0.0)
        new_p_tag = np.where(active, new_a_tag, NONE)
        if active.any():
            last_active = cycle
        a_val, a_tag, p_val, p_tag = new_a_val, new_a_tag, new_p_val, new_p_tag
        for j in range(c):                    # bottom edge
            if p_tag[r - 1, j] != NONE:
                Y[p_tag[r - 1, j], j] = p_val[r - 1, j]
                collected += 1
                if moves is not None:
                    moves["outputs"] += 1
        cycle += 1
    return Y, last_active + 1


def output_stationary_fold(A: np.ndarray, B: np.ndarray, moves: Counter | None = None) -> tuple[np.ndarray, int]:
    """One fold with Z (r x c) stationary: A (r x K) from the left, B (K x c) from the top.

    Row i receives A[i, q] in cycle q + i, column j receives B[q, j] in cycle q + j. After the last
    MAC the results shift down and out of the bottom edge, one row per cycle.
    """
    r, K = A.shape
    c = B.shape[1]
    a_val, a_tag = np.zeros((r, c)), np.full((r, c), NONE)
    b_val, b_tag = np.zeros((r, c)), np.full((r, c), NONE)
    acc, done = np.zeros((r, c)), np.zeros((r, c), dtype=int)
    cycle = 0
    last_mac = -1
    while done.min() < K:
        ia_val, ia_tag = np.zeros(r), np.full(r, NONE)
        for i in range(r):
            q = cycle - i
            if 0 <= q < K:
                ia_val[i], ia_tag[i] = A[i, q], q
                if moves is not None:
                    moves["a"] += 1
        ib_val, ib_tag = np.zeros(c), np.full(c, NONE)
        for j in range(c):
            q = cycle - j
            if 0 <= q < K:
                ib_val[j], ib_tag[j] = B[q, j], q
                if moves is not None:
                    moves["b"] += 1
        a_val = np.concatenate([ia_val[:, None], a_val[:, :-1]], axis=1)
        a_tag = np.concatenate([ia_tag[:, None], a_tag[:, :-1]], axis=1)
        b_val = np.concatenate([ib_val[None, :], b_val[:-1]], axis=0)
        b_tag = np.concatenate([ib_tag[None, :], b_tag[:-1]], axis=0)
        meet = (a_tag != NONE) & (b_tag != NONE)
        assert np.array_equal(a_tag[meet], b_tag[meet]), "skew error: operands of different k meet"
        assert not ((a_tag != NONE) ^ (b_tag != NONE)).any(), "skew error: an operand arrives alone"
        acc += np.where(meet, a_val * b_val, 0.0)
        done += meet
        if meet.any():
            last_mac = cycle
        cycle += 1
    Z = np.zeros((r, c))
    regs = acc.copy()
    for s in range(r):                        # drain: shift down, the bottom row leaves
        Z[r - 1 - s] = regs[r - 1]
        if moves is not None:
            moves["outputs"] += c
        regs[1:] = regs[:-1].copy()
        regs[0] = 0.0
        cycle += 1
    assert cycle == last_mac + 1 + r
    return Z, cycle


def rtl_tile(dataflow: str, rows: int, cols: int, A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, int, Counter]:
    """Run a whole GEMM tile fold by fold on a rows x cols array.

    Returns (Z, total cycles, element moves): how many A and B elements entered the array and how
    many output (partial) sums left it, counted as the registers move them.
    """
    m, k = A.shape
    n = B.shape[1]
    Z = np.zeros((m, n))
    cycles = 0
    mv: Counter = Counter()
    if dataflow == "ws":          # B[k-block, n-block] stationary, rows of A streamed
        for k0 in range(0, k, rows):
            for n0 in range(0, n, cols):
                Y, cyc = stationary_fold(B[k0:k0 + rows, n0:n0 + cols], A[:, k0:k0 + rows], mv)
                Z[:, n0:n0 + cols] += Y
                cycles += cyc
    elif dataflow == "is":        # A^T[k-block, m-block] stationary, columns of B streamed
        for k0 in range(0, k, rows):
            for m0 in range(0, m, cols):
                Y, cyc = stationary_fold(A[m0:m0 + cols, k0:k0 + rows].T, B[k0:k0 + rows, :].T, mv)
                Z[m0:m0 + cols, :] += Y.T
                cycles += cyc
    elif dataflow == "os":        # Z[m-block, n-block] stationary
        for m0 in range(0, m, rows):
            for n0 in range(0, n, cols):
                Zf, cyc = output_stationary_fold(A[m0:m0 + rows, :], B[:, n0:n0 + cols], mv)
                Z[m0:m0 + rows, n0:n0 + cols] = Zf
                cycles += cyc
    else:
        raise ValueError(dataflow)
    names = {"ws": {"streamed": "a", "stationary": "b"}, "is": {"streamed": "b", "stationary": "a"}}.get(dataflow, {})
    moves = Counter({names.get(key, key): v for key, v in mv.items()})
    return Z, cycles, moves
