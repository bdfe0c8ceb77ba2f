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


# ---- double-buffered runs: two banks of stationary registers per PE ------------------------------

def stationary_run(R: int, C: int, folds: list, moves: Counter | None = None, early: int = 0) -> tuple[list, int]:
    """Folds (W_g r_g x c_g stationary, X_g t_g x r_g streamed) run back to back on an R x C array whose
    PEs hold two weight banks. Returns ([X_g @ W_g], cycles until the last output has left).

    Registers: bank value and the fold it belongs to (wv, wt [2, R, C]); the operand moving right
    (value, fold, vector); the partial sum moving down (value, fold, vector). Fold g uses bank g % 2.
    Preload of fold g into its bank: column j's top is fed W_g[r-1-u, j] at cycle L_g + j + u
    (u < r_g); row i latches from the row above for u >= i, so the values move down as a skewed wave.
    The sequencer starts preload g when fold g-1 starts streaming (L_0 = 0), and streams fold g when
    the left edge is free and its preload has shifted r_g times (`early` starts the stream that many
    cycles sooner: a fault injection for the tightness tests). A MAC checks its weight's fold tag, so
    a bank overwritten too soon, or read before it is filled, fails loudly or gives a wrong product.
    """
    G = len(folds)
    wv, wt = np.zeros((2, R, C)), np.full((2, R, C), NONE)
    a_val, a_f, a_x = np.zeros((R, C)), np.full((R, C), NONE), np.full((R, C), NONE)
    p_val, p_f, p_x = np.zeros((R, C)), np.full((R, C), NONE), np.full((R, C), NONE)
    outs = [np.full((X.shape[0], W.shape[1]), np.nan) for W, X in folds]
    left = [X.shape[0] * W.shape[1] for W, X in folds]
    L = [None] * G                       # preload start per fold
    S = [None] * G                       # stream start per fold
    L[0] = 0
    edge_free = 0                        # first cycle row 0's left edge takes a new fold's vector
    cycle, last_out = 0, -1
    while sum(left):
        # sequencer: start the next stream when the edge is free and its bank has been filled
        g = next((h for h in range(G) if S[h] is None), None)
        if g is not None and L[g] is not None:
            r = folds[g][0].shape[0]
            if cycle >= max(edge_free, L[g] + r - early):
                S[g] = cycle
                edge_free = cycle + folds[g][1].shape[0]
                if g + 1 < G:             # preload the next fold while this one streams
                    L[g + 1] = max(cycle, L[g] + r)   # (the max only matters with `early`)
        # preload waves (all in flight at once, each writing its own bank)
        new_wv, new_wt = wv.copy(), wt.copy()
        fed = np.zeros(C, dtype=bool)
        for h in range(G):
            if L[h] is None:
                continue
            W = folds[h][0]
            r, c = W.shape
            b = h % 2
            for j in range(c):
                u = cycle - L[h] - j
                if not 0 <= u < r:
                    continue
                assert not fed[j], "two preloads feed one column in the same cycle"
                fed[j] = True
                new_wv[b, 1:u + 1, j], new_wt[b, 1:u + 1, j] = wv[b, :u, j], wt[b, :u, j]
                new_wv[b, 0, j], new_wt[b, 0, j] = W[r - 1 - u, j], h
                if moves is not None:
                    moves["stationary"] += 1
        # the streamed operand: skewed injection at the left edge
        in_val, in_f, in_x = np.zeros(R), np.full(R, NONE), np.full(R, NONE)
        for h in range(G):
            if S[h] is None:
                continue
            X = folds[h][1]
            t, r = X.shape
            for i in range(r):
                x = cycle - S[h] - i
                if 0 <= x < t:
                    assert in_f[i] == NONE, "two folds inject into one row in the same cycle"
                    in_val[i], in_f[i], in_x[i] = X[x, i], h, x
                    if moves is not None:
                        moves["streamed"] += 1
        a_val = np.concatenate([in_val[:, None], a_val[:, :-1]], axis=1)
        a_f = np.concatenate([in_f[:, None], a_f[:, :-1]], axis=1)
        a_x = np.concatenate([in_x[:, None], a_x[:, :-1]], axis=1)
        up_val = np.concatenate([np.zeros((1, C)), p_val[:-1]], axis=0)
        up_f = np.concatenate([np.full((1, C), NONE), p_f[:-1]], axis=0)
        up_x = np.concatenate([np.full((1, C), NONE), p_x[:-1]], axis=0)
        new_p_val, new_p_f, new_p_x = np.zeros((R, C)), np.full((R, C), NONE), np.full((R, C), NONE)
        for i, j in zip(*np.nonzero(a_f != NONE)):
            h = a_f[i, j]
            r, c = folds[h][0].shape
            if j >= c:                   # the operand passes the fold's last column unused
                continue
            b = h % 2
            assert wt[b, i, j] == h, f"PE({i},{j}) fold {h} finds bank {b} holding fold {wt[b, i, j]}'s weight"
            if i > 0:
                assert (up_f[i, j], up_x[i, j]) == (h, a_x[i, j]), "skew error: partial sum of another vector"
            new_p_val[i, j] = (up_val[i, j] if i > 0 else 0.0) + a_val[i, j] * wv[b, i, j]
            new_p_f[i, j], new_p_x[i, j] = h, a_x[i, j]
            if i == r - 1:               # the fold's output tap
                outs[h][a_x[i, j], j] = new_p_val[i, j]
                left[h] -= 1
                last_out = cycle
                if moves is not None:
                    moves["outputs"] += 1
        p_val, p_f, p_x = new_p_val, new_p_f, new_p_x
        wv, wt = new_wv, new_wt
        cycle += 1
    return outs, last_out + 1


def output_stationary_run(R: int, C: int, folds: list, moves: Counter | None = None, early: int = 0) -> tuple[list, int]:
    """Folds (A_g r_g x K, B_g K x c_g) accumulate in place on an R x C array whose PEs have a second,
    shadow output register. Returns ([A_g @ B_g], cycles until the last output has left).

    At its last MAC of a fold a PE moves the sum into its shadow register and starts the next fold
    from zero. Shadow registers form a chain down each column: a sum leaves at its fold's last row
    (r_g - 1), otherwise moves down whenever the register below is free after this cycle. The
    sequencer streams fold g+1 when the left edge is free and r_g cycles after fold g began (`early`:
    that many cycles sooner). Moving a sum into an occupied shadow register fails loudly.
    """
    G = len(folds)
    a_val, a_f, a_q = np.zeros((R, C)), np.full((R, C), NONE), np.full((R, C), NONE)
    b_val, b_f, b_q = np.zeros((R, C)), np.full((R, C), NONE), np.full((R, C), NONE)
    acc, acc_f = np.zeros((R, C)), np.full((R, C), NONE)
    sh, sh_f, sh_i = np.zeros((R, C)), np.full((R, C), NONE), np.full((R, C), NONE)   # value, fold, home row
    outs = [np.full((A.shape[0], B.shape[1]), np.nan) for A, B in folds]
    left = [A.shape[0] * B.shape[1] for A, B in folds]
    S = [None] * G
    edge_free = gate = 0
    cycle, last_out = 0, -1
    while sum(left):
        g = next((h for h in range(G) if S[h] is None), None)
        if g is not None and cycle >= max(edge_free, gate):
            S[g] = cycle
            edge_free = cycle + folds[g][0].shape[1]
            gate = cycle + folds[g][0].shape[0] - early
        ia_val, ia_f, ia_q = np.zeros(R), np.full(R, NONE), np.full(R, NONE)
        ib_val, ib_f, ib_q = np.zeros(C), np.full(C, NONE), np.full(C, NONE)
        for h in range(G):
            if S[h] is None:
                continue
            A, B = folds[h]
            r, K = A.shape
            for i in range(r):
                q = cycle - S[h] - i
                if 0 <= q < K:
                    assert ia_f[i] == NONE, "two folds inject into one row in the same cycle"
                    ia_val[i], ia_f[i], ia_q[i] = A[i, q], h, q
                    if moves is not None:
                        moves["a"] += 1
            for j in range(B.shape[1]):
                q = cycle - S[h] - j
                if 0 <= q < K:
                    assert ib_f[j] == NONE, "two folds inject into one column in the same cycle"
                    ib_val[j], ib_f[j], ib_q[j] = B[q, j], h, q
                    if moves is not None:
                        moves["b"] += 1
        a_val = np.concatenate([ia_val[:, None], a_val[:, :-1]], axis=1)
        a_f = np.concatenate([ia_f[:, None], a_f[:, :-1]], axis=1)
        a_q = np.concatenate([ia_q[:, None], a_q[:, :-1]], axis=1)
        b_val = np.concatenate([ib_val[None, :], b_val[:-1]], axis=0)
        b_f = np.concatenate([ib_f[None, :], b_f[:-1]], axis=0)
        b_q = np.concatenate([ib_q[None, :], b_q[:-1]], axis=0)
        for h in set(a_f[a_f != NONE]) | set(b_f[b_f != NONE]):   # operands stop at their fold's edge
            r, c = folds[h][0].shape[0], folds[h][1].shape[1]
            a_f[:, c:][a_f[:, c:] == h] = NONE
            b_f[r:, :][b_f[r:, :] == h] = NONE
        # MACs where both operands meet; a fold's last MAC hands the sum to the shadow register
        meet = (a_f != NONE) & (b_f != NONE)
        assert not ((a_f != NONE) ^ (b_f != NONE)).any(), "skew error: an operand arrives alone"
        swap = {}
        for i, j in zip(*np.nonzero(meet)):
            h, q = a_f[i, j], a_q[i, j]
            assert (b_f[i, j], b_q[i, j]) == (h, q), "skew error: operands of different folds or k meet"
            if q == 0:
                assert acc_f[i, j] == NONE, f"PE({i},{j}) starts fold {h} over fold {acc_f[i, j]}'s sum"
                acc[i, j], acc_f[i, j] = 0.0, h
            assert acc_f[i, j] == h
            acc[i, j] += a_val[i, j] * b_val[i, j]
            if q == folds[h][0].shape[1] - 1:
                swap[i, j] = (acc[i, j], h)
                acc_f[i, j] = NONE
        # the shadow chain, bottom row first: a sum at its fold's last row leaves; another moves down
        # when the register below is free at the end of this cycle (its own sum arriving counts)
        new_sh, new_sh_f, new_sh_i = sh.copy(), sh_f.copy(), sh_i.copy()
        for j in range(C):
            for i in range(R - 1, -1, -1):
                h = sh_f[i, j]
                if h != NONE:
                    if i == folds[h][0].shape[0] - 1:
                        outs[h][sh_i[i, j], j] = sh[i, j]
                        left[h] -= 1
                        last_out = cycle
                        if moves is not None:
                            moves["outputs"] += 1
                        new_sh_f[i, j] = NONE
                    elif new_sh_f[i + 1, j] == NONE:
                        new_sh[i + 1, j], new_sh_f[i + 1, j], new_sh_i[i + 1, j] = sh[i, j], h, sh_i[i, j]
                        new_sh_f[i, j] = NONE
                if (i, j) in swap:
                    assert new_sh_f[i, j] == NONE, (f"PE({i},{j}) finishes fold {swap[i, j][1]} but its shadow "
                                                    f"register still holds fold {new_sh_f[i, j]}'s sum")
                    new_sh[i, j], new_sh_f[i, j], new_sh_i[i, j] = swap[i, j][0], swap[i, j][1], i
        sh, sh_f, sh_i = new_sh, new_sh_f, new_sh_i
        cycle += 1
    return outs, last_out + 1


def rtl_tile_pipelined(dataflow: str, rows: int, cols: int, A: np.ndarray, B: np.ndarray, batch: int = 1,
                       early: int = 0) -> tuple[np.ndarray, int, Counter]:
    """Like `rtl_tile`, with double-buffered stationary registers: the folds (rows rank outer, columns
    rank inner, as `rtl_tile`) of `batch` repetitions of the tile form one run."""
    m, k = A.shape
    n = B.shape[1]
    folds, place = [], []
    for _ in range(batch):
        if dataflow == "ws":
            for k0 in range(0, k, rows):
                for n0 in range(0, n, cols):
                    folds.append((B[k0:k0 + rows, n0:n0 + cols], A[:, k0:k0 + rows]))
                    place.append((slice(None), slice(n0, n0 + cols), False))
        elif dataflow == "is":
            for k0 in range(0, k, rows):
                for m0 in range(0, m, cols):
                    folds.append((A[m0:m0 + cols, k0:k0 + rows].T, B[k0:k0 + rows, :].T))
                    place.append((slice(m0, m0 + cols), slice(None), True))
        elif dataflow == "os":
            for m0 in range(0, m, rows):
                for n0 in range(0, n, cols):
                    folds.append((A[m0:m0 + rows, :], B[:, n0:n0 + cols]))
                    place.append((slice(m0, m0 + rows), slice(n0, n0 + cols), False))
        else:
            raise ValueError(dataflow)
    mv: Counter = Counter()
    run = output_stationary_run if dataflow == "os" else stationary_run
    outs, cycles = run(rows, cols, folds, mv, early)
    Z = np.zeros((batch, m, n))
    per = len(folds) // batch
    for f, (Y, (si, sj, transposed)) in enumerate(zip(outs, place)):
        Z[f // per][si, sj] += Y.T if transposed else Y
    names = {"ws": {"streamed": "a", "stationary": "b"}, "is": {"streamed": "b", "stationary": "a"}}.get(dataflow, {})
    moves = Counter({names.get(key, key): v for key, v in mv.items()})
    return Z, cycles, moves
