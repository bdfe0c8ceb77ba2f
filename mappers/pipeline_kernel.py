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
def _boundary(chain_w, indep_w, j, j1, sh_t, sh_d, sh_p, sh_e, sh_a):
    """Cycles that `chain_w` chained and `indep_w` independent boundaries from shape j into shape j1 add."""
    cost = 0
    if chain_w:
        cost += chain_w * (sh_e[j] - sh_p[j] - sh_a[j] + sh_p[j1])
    if indep_w:
        cost += indep_w * max(sh_t[j], sh_d[j] + sh_p[j1])
    return cost


@njit(cache=True, inline="always")
def _pipeline_busy(row, R, L, T, base_f, base_p, base_d, rel, accumulate, resident, nv, var,
                   sh_e, sh_p, sh_a, sh_t, sh_d, lp_lv, lp_r, lp_f, pscr, ml):
    """Busy cycles of the pipeline but for sum_j A_j (the caller adds it with the shapes' counts).

    `var[r]` is rank r's bit in a shape index (-1: r never takes a partial tile), `sh_*[shape]` its
    run's E, P, A, t, D; the other arrays are scratch."""
    out = T - 1
    # the loops, outermost first, unit loops dropped
    nl = 0
    for lv in range(L - 1, -1, -1):
        for j in range(R):
            r = row[base_p + lv * R + j]
            f = row[base_f + lv * R + r]
            if f > 1:
                lp_lv[nl], lp_r[nl], lp_f[nl] = lv, r, f
                nl += 1
    last = (1 << nv) - 1
    if nl == 0:
        return sh_e[0] - sh_a[0]
    # per rank: 0 all its loops' product, 1 of those at q or inside, 2 and 3 the same for its loops above
    # level 0 when it does not index the output, 4 its loops inside q; 5: the rank of each shape bit
    for r in range(R):
        pscr[0, r], pscr[1, r], pscr[2, r], pscr[3, r], pscr[4, r] = 1, 1, 1, 1, 0
        if var[r] >= 0:
            pscr[5, var[r]] = r
    for i in range(nl):
        r = lp_r[i]
        pscr[0, r] *= lp_f[i]
        if lp_lv[i] >= 1 and rel[out, r] == 0:
            pscr[2, r] *= lp_f[i]
    for t in range(T):
        ml[t] = -1
    z_db0 = (row[base_d] >> out) & 1
    z_moves0 = not ((resident >> out) & 1 == 1 and L == 2)     # a resident output in a 2-level system never moves
    inputs_single = 0       # a tensor whose level-0 tile changes at q sits in a single-buffered slot
    total = 0
    final_indep = False     # the boundary into the last task (every outer loop at its last iteration)
    for q in range(nl - 1, -1, -1):
        lq, rq, fq = lp_lv[q], lp_r[q], lp_f[q]
        for t in range(T):
            if rel[t, rq] and lq > ml[t]:
                ml[t] = lq
        has_inner_q = pscr[4, rq] > 0
        pscr[1, rq] *= fq
        if lq >= 1 and rel[out, rq] == 0:
            pscr[3, rq] *= fq
        for t in range(out):
            if ml[t] >= 1 and (row[base_d] >> t) & 1 == 0 and not ((resident >> t) & 1 == 1 and L == 2):
                inputs_single = 1
        z_changes = ml[out] >= 1
        static_chain = (not z_changes) or (not z_moves0) or z_db0 == 0 or inputs_single == 1
        forced_visit = accumulate != 0 or (lq >= 1 and rel[out, rq] == 0)
        # ranks without a shape bit: how many outer iterations, and how many leave the output unvisited
        w_rest, s_rest = 1, 1
        for r in range(R):
            if var[r] < 0:
                fo = pscr[0, r] // pscr[1, r]
                w_rest *= fo
                s_rest *= fo // (pscr[2, r] // pscr[3, r])
        if q == nl - 1 and not (static_chain or forced_visit):
            final_indep = True
            for r in range(R):
                if pscr[2, r] // pscr[3, r] > 1:    # an outer loop over a reduced rank is past its first
                    final_indep = False
        vq = var[rq]
        for pattern in range(1 << nv):
            w, s = w_rest, s_rest
            jm, j1m = 0, 0
            for v in range(nv):
                r = pscr[5, v]
                fo = pscr[0, r] // pscr[1, r]
                g = pscr[2, r] // pscr[3, r]
                if (pattern >> v) & 1:          # r's outer loops at their last iterations
                    s *= 1 if g == 1 else 0
                    if r != rq:
                        jm |= 1 << v
                        if pscr[4, r] == 0:
                            j1m |= 1 << v
                else:
                    w *= fo - 1
                    s *= fo - 1 if g == 1 else fo // g
            if w == 0:
                continue
            for sub in range(2):                # sub 1: q reaches its last iteration (matters if q has a bit)
                if vq < 0:
                    if sub == 1:
                        break
                    mult = fq - 1
                    jj1 = j1m
                else:
                    mult = 1 if sub == 1 else fq - 2
                    jj1 = j1m
                    if sub == 1 and (pattern >> vq) & 1 and not has_inner_q:
                        jj1 |= 1 << vq
                if mult == 0:
                    continue
                tw = mult * w
                iw = 0 if static_chain or forced_visit else mult * s
                total += _boundary(tw - iw, iw, jm, jj1, sh_t, sh_d, sh_p, sh_e, sh_a)
        pscr[4, rq] += 1
    # the task before the last (every rank at its last tile but the innermost loop's) may end later
    fix = 0
    if final_indep:
        vq = var[lp_r[nl - 1]]
        prev = last if vq < 0 else last & ~(1 << vq)
        gap = max(sh_t[prev], sh_d[prev] + sh_p[last]) + sh_a[last] + (sh_e[last] - sh_p[last] - sh_a[last])
        fix = max(0, sh_e[prev] - sh_p[prev] - sh_a[prev] - gap)
    return sh_p[0] + total + sh_e[last] - sh_p[last] - sh_a[last] + fix
