"""numba closed form of a double-buffered systolic array's pipeline across the tasks of a mapping.

`cost_reference.reference_busy_cycles` is the plain-Python reference: it walks the loop nest and times
every task as `simulator.models.SystolicArrayModel` does; `tests/test_pipeline_kernel.py` holds the two
equal, and both equal to the simulator's busy time of the array for the lowered program.

A double-buffered array continues its run of folds from one task into the next (the simulator's rule):
the next task's first fold starts streaming max(t, D + P) cycles after the previous task's last fold
did, exactly as between folds of one task, unless the next task is *chained* to the previous one (it
waits for that task's last output to leave, `cost_reference.chained`), when it starts its first preload
then. With, per task j, P_j its first fold's preload, A_j the cycles from its first fold's stream start
to its last one's, t_j, D_j its stream length and last drain, and T_j = E_j - P_j - A_j the cycles from
its last fold's stream start to its end (E_j its own run), the array is busy

    P_first + sum_j A_j + sum over boundaries j -> j+1 of  { max(t_j, D_j + P_j+1)  independent
                                                           { T_j + P_j+1              chained
            + T_last  (+ what the task before the last adds if it ends after the last one).

Tasks differ only by which ranks take their last, partial tile (a shape: at most 2^R, the `combo` of
the cost kernel), so the sum over boundaries is counted, not walked. A boundary steps loop q (the
innermost loop not at its last iteration; unit loops are dropped): it happens (f_q - 1) x prod(outer
factors) times. The task before it takes rank r's last tile when r's loops outside q are at their last
iterations (and q is not over r); the task after it, when in addition r has no loop inside q (and, if q
is over r, q reaches its last iteration). Whether the boundary is chained depends on q (what changes:
the innermost output tile, a single-buffered level-0 slot) and, for a reload of partial sums over the
link the previous output tile is stored through, on whether the new output tile was visited before:
some loop above level 0 over a reduced rank is past its first iteration. Both are counted per rank from
the loops outside q, so a mapping costs O(loops x 2^partial ranks), only for double-buffered arrays.

Named simplifications (the reference has them too): transfers that do not wait for the previous task
are done in time (a fast memory); a dependency on a task before the previous one (a double-buffered
slot, freed by the task two back) never delays; only the task before the last is checked for ending
after the last; a tile split across arrays is timed by its largest piece (array 0's).
"""
from __future__ import annotations

from numba import njit


@njit(cache=True, inline="always")
def _boundary(mult, w, s, j, j1, sh_t, sh_d, sh_p, sh_e, sh_a):
    """Cycles that mult x w boundaries from shape j into shape j1 add, mult x s of them independent (the
    rest chained: the next task starts when j's last output has left)."""
    return mult * ((w - s) * (sh_e[j] - sh_p[j] - sh_a[j] + sh_p[j1]) + s * max(sh_t[j], sh_d[j] + sh_p[j1]))


@njit(cache=True, inline="always")
def _pipeline_busy(row, R, L, T, base_f, base_p, base_d, rel, accumulate, resident, nv, var,
                   sh_e, sh_p, sh_a, sh_t, sh_d, lp, rk, mlev, tab):
    """Busy cycles of the pipeline but for sum_j A_j (the caller adds it with the shapes' counts).

    `var[r]` is rank r's bit in a shape index (-1: r never takes a partial tile), `sh_*[shape]` its
    run's E, P, A, t, D; `lp` [5, L*R], `rk` [3, R], `mlev` [T] and `tab` [4, 2^R] are scratch."""
    out = T - 1
    # the loops, outermost first, unit loops dropped: lp[0..2] level, rank, factor
    nl = 0
    for lv in range(L - 1, -1, -1):
        for j in range(R):
            r = row[base_p + lv * R + j]
            f = row[base_f + lv * R + r]
            if f > 1:
                lp[0, nl], lp[1, nl], lp[2, nl] = lv, r, f
                nl += 1
    last = (1 << nv) - 1
    if nl == 0:
        return sh_e[0] - sh_a[0]
    # inside out: lp[3, q] = 1 if a boundary stepping q is chained whatever the outer loops (2: unless the
    # output tile it starts was visited before, which the outer loops decide; 0: never), lp[4, q] = the
    # ranks with a loop inside q (a bit mask)
    for t in range(T):
        mlev[t] = -1                # the outermost level among the loops at q and inside over rank of t
    z_db0 = (row[base_d] >> out) & 1
    z_moves0 = not ((resident >> out) & 1 == 1 and L == 2)    # a resident output in 2 levels never moves
    inputs_single = False           # a tensor whose level-0 tile changes sits in a single-buffered slot
    inner = 0
    for q in range(nl - 1, -1, -1):
        lq, rq = lp[0, q], lp[1, q]
        for t in range(T):
            if rel[t, rq] and lq > mlev[t]:
                mlev[t] = lq
        for t in range(out):
            if mlev[t] >= 1 and (row[base_d] >> t) & 1 == 0 and not ((resident >> t) & 1 == 1 and L == 2):
                inputs_single = True
        if mlev[out] < 1 or not z_moves0 or z_db0 == 0 or inputs_single:
            lp[3, q] = 1
        elif accumulate != 0 or (lq >= 1 and rel[out, rq] == 0):
            lp[3, q] = 1            # a reload: it waits behind the previous tile's store on its link
        else:
            lp[3, q] = 2
        lp[4, q] = inner
        inner |= 1 << rq
    # outside in: rk[0, r] = product of r's loops outside q, rk[1, r] = of those that leave the output tile
    # unvisited at their first iteration (all but the loops above level 0 over ranks the output lacks)
    for r in range(R):
        rk[0, r], rk[1, r] = 1, 1
        if var[r] >= 0:
            rk[2, var[r]] = r
    total = 0
    fix = 0
    for q in range(nl):
        lq, rq, fq, kind, inner = lp[0, q], lp[1, q], lp[2, q], lp[3, q], lp[4, q]
        w_rest, s_rest = 1, 1       # ranks without a shape bit
        for r in range(R):
            if var[r] < 0:
                w_rest *= rk[0, r]
                s_rest *= rk[1, r]
        vq = var[rq]
        # per shape-bit pattern of "r's outer loops are at their last iterations": how many boundaries
        # (w), how many of them leave the output tile unvisited (s), and the two tasks' shapes (jm, j1m),
        # built one bit at a time (tab[0..3]); no branch per pattern and bit
        tab[0, 0], tab[1, 0], tab[2, 0], tab[3, 0] = w_rest, s_rest, 0, 0
        for v in range(nv):
            r = rk[2, v]
            fo, fs = rk[0, r], rk[1, r]
            bit = 1 << v
            other = r != rq
            in_j1 = other and not (inner >> r) & 1
            for pat in range(bit):
                w0, s0, j0, j10 = tab[0, pat], tab[1, pat], tab[2, pat], tab[3, pat]
                tab[0, pat | bit] = w0
                tab[1, pat | bit] = s0 if fs == fo else 0
                tab[2, pat | bit] = j0 | (bit if other else 0)
                tab[3, pat | bit] = j10 | (bit if in_j1 else 0)
                tab[0, pat] = w0 * (fo - 1)
                tab[1, pat] = s0 * (fo - 1 if fs == fo else fs)
        last_q = 0 if vq < 0 or (inner >> rq) & 1 else 1 << vq    # the bit q's last iteration may add
        for pattern in range(1 << nv):
            w = tab[0, pattern]
            if w == 0:
                continue
            jm, j1m = tab[2, pattern], tab[3, pattern]
            s = tab[1, pattern] if kind == 2 else 0
            if vq < 0:
                total += _boundary(fq - 1, w, s, jm, j1m, sh_t, sh_d, sh_p, sh_e, sh_a)
            else:
                total += _boundary(fq - 2, w, s, jm, j1m, sh_t, sh_d, sh_p, sh_e, sh_a)
                total += _boundary(1, w, s, jm, j1m | (last_q & pattern), sh_t, sh_d, sh_p, sh_e, sh_a)
        if q == nl - 1 and kind == 2:
            # the boundary into the last task (every outer loop at its last iteration): independent unless
            # an outer loop over a rank the output lacks revisits it; then the task before the last (every
            # rank at its last tile but q's) may end after the last one
            revisit = False
            for r in range(R):
                if rk[0, r] != rk[1, r]:
                    revisit = True
            if not revisit:
                prev = last if vq < 0 else last & ~(1 << vq)
                gap = max(sh_t[prev], sh_d[prev] + sh_p[last]) + sh_e[last] - sh_p[last]
                fix = max(0, sh_e[prev] - sh_p[prev] - sh_a[prev] - gap)
        rk[0, rq] *= fq
        if not (lq >= 1 and rel[out, rq] == 0):
            rk[1, rq] *= fq
    return sh_p[0] + total + sh_e[last] - sh_p[last] - sh_a[last] + fix
