"""The numba cost model: reads, fills and updates per tensor per level, cycles and energy of mapping rows.

Pure functions over numpy arrays (a row layout from `space.Layout`, a problem and a target from
`problem.*.arrays()`). `cost_reference.py` is the plain-Python loop-nest walker these counts are tested
against; `tests/test_cost_kernel.py` holds the two to equality.

Reuse (Timeloop's consecutive-reuse rule): a tensor's tile at a level stays while the loops above the
level step through iterations that need the same tile, and is loaded again when they move on. Over
the loops above level c (outermost first, unit loops dropped), let p be the innermost loop over a rank
that indexes tensor t. The tile changes at every step of the loops out to p, so t is loaded
prod(factors up to p) times, and each of its elements `mult` = prod(factors up to p of ranks that do not
index t) times. An output tile that is left before its reduction is complete is stored as a partial
sum and loaded back when the walk returns: mult stores and mult - 1 reloads of every element. Since
every loop runs its full count (only the last compute tile of a rank is partial), these are exact.

Timing is an estimate the simulator refines: the unit's busy time (the systolic closed form per fold,
2r + c + t - 2, or lanes for a vector unit, each tile bounded by its SRAM's bandwidth), each path's
transfer time, and the DRAM's; double-buffered transfers overlap compute, single-buffered ones add to
it; the first tiles' fill and the last output tile's store are not overlapped.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# per (tensor, level) counts
READS, FILLS, UPDATES, RD_ACC, WR_ACC, XFER_IN, XFER_OUT, RD_BYTES, WR_BYTES = range(9)
NCOUNT = 9
COUNT_NAMES = ("reads", "fills", "updates", "read_accesses", "write_accesses", "transfers_in", "transfers_out",
               "read_bytes", "write_bytes")
# summary entries
LATENCY, ENERGY, CYCLES, COMPUTE_PS, WORK, DRAM_BYTES, TASKS, E_COMPUTE = range(8)
NSUM = 8

LEGAL, FANOUT, BAD_FACTORS, NO_PATH, CAPACITY = 0, 1, 2, 3, 4
REASONS = ("legal", "fanout", "factors", "bypass_path")


@njit(cache=True, inline="always")
def _nbytes(elements, num, den):
    return (elements * num + den * 8 - 1) // (den * 8)


@njit(cache=True, inline="always")
def _cdiv(a, b):
    return (a + b - 1) // b


@njit(cache=True)
def fold_cycles(dataflow, rows, cols, m, n, k):
    """Cycles of one GEMM tile on a rows x cols systolic array: the sum over folds of 2r + c + t - 2."""
    if dataflow == 0:      # ws: rows <- k, cols <- n, stream m
        ru, cu, t = k, n, m
    elif dataflow == 1:    # os: rows <- m, cols <- n, stream k
        ru, cu, t = m, n, k
    else:                  # is: rows <- k, cols <- m, stream n
        ru, cu, t = k, m, n
    nr = _cdiv(ru, rows)
    nc = _cdiv(cu, cols)
    return 2 * ru * nc + cu * nr + nr * nc * (t - 2)


@njit(cache=True)
def fold_traffic(dataflow, rows, cols, m, n, k, out):
    """Elements the array reads (A, B, Z when accumulating) and writes (Z) for one tile, into out[0:4]."""
    if dataflow == 0:
        nf = _cdiv(n, cols)
        out[0] = m * k * nf
        out[1] = k * n
        out[3] = m * n * _cdiv(k, rows)
    elif dataflow == 2:
        mf = _cdiv(m, cols)
        out[0] = m * k
        out[1] = k * n * mf
        out[3] = m * n * _cdiv(k, rows)
    else:
        out[0] = m * k * _cdiv(n, cols)
        out[1] = k * n * _cdiv(m, rows)
        out[3] = m * n
    out[2] = out[3]


@njit(cache=True)
def _classes(gran, ranks_mask, R, var, combo_ext, combo_cnt):
    """Enumerate the tile shapes of one granularity over the ranks in `ranks_mask`.

    gran[r] = (full count, full extent, last count, last extent). Writes each shape's extents into
    combo_ext[i, :] and its count into combo_cnt[i]; returns how many shapes there are.
    """
    nv = 0
    for r in range(R):
        if (ranks_mask >> r) & 1 and gran[r, 0] > 0 and gran[r, 2] > 0:
            var[nv] = r
            nv += 1
    n = 0
    for combo in range(1 << nv):
        cnt = 1
        for r in range(R):
            if not (ranks_mask >> r) & 1:
                combo_ext[n, r] = 1
                continue
            use_last = gran[r, 0] == 0
            for v in range(nv):
                if var[v] == r:
                    use_last = (combo >> v) & 1 == 1
            if use_last:
                cnt *= gran[r, 2]
                combo_ext[n, r] = gran[r, 3]
            else:
                cnt *= gran[r, 0]
                combo_ext[n, r] = gran[r, 1]
        combo_cnt[n] = cnt
        n += 1
    return n


@njit(cache=True)
def make_work(R, L, T):
    """Scratch arrays for `evaluate_one`, allocated once per batch."""
    return (np.zeros((L + 1, R, 4), np.int64), np.zeros(R, np.int64), np.zeros((1 << R, R), np.int64),
            np.zeros(1 << R, np.int64), np.zeros((L * R, 3), np.int64), np.zeros((L, L, 4), np.float64),
            np.zeros(4, np.int64))


@njit(cache=True)
def evaluate_one(row, sizes, rel, bits_num, bits_den, roles, ops_per_point, is_mac,
                 unit, lvl_int, lvl_f, path_f, energy, work, counts, summary):
    """Cost of one mapping row; returns LEGAL or a rejection code (CAPACITY + level for capacity)."""
    R = sizes.shape[0]
    T = rel.shape[0]
    L = lvl_int.shape[0]
    gran, var, combo_ext, combo_cnt, loops, paths, tr = work
    counts[:, :, :] = 0
    summary[:] = 0.0
    paths[:, :, :] = 0.0
    kind, arr_rows, arr_cols, dataflow, lanes_ops, n_units, clock = (unit[0], unit[1], unit[2], unit[3],
                                                                     unit[4], unit[5], unit[6])
    base_f, base_p = 2 * R, 2 * R + L * R
    base_k = base_p + L * R
    base_d = base_k + L
    swap = row[base_d + L]
    resident = row[base_d + L + 1]

    # ---- tile extents per granularity (index L: the compute tile) --------------------------------
    ways = 1
    for r in range(R):
        c, s, n = row[r], row[R + r], sizes[r]
        q = s
        for lv in range(L):
            q *= row[base_f + lv * R + r]
        if c < 1 or q != _cdiv(n, c):
            return BAD_FACTORS
        ways *= s
        cnt, ext = q, c
        last = n - (cnt - 1) * ext
        gran[L, r, 0], gran[L, r, 1], gran[L, r, 2], gran[L, r, 3] = cnt - 1, ext, 1, last
        cnt //= s
        ext *= s
        for lv in range(L):
            f = row[base_f + lv * R + r]
            cnt //= f
            ext *= f
            last = n - (cnt - 1) * ext
            gran[lv, r, 0], gran[lv, r, 1], gran[lv, r, 2], gran[lv, r, 3] = cnt - 1, ext, 1, last
        for g in range(L + 1):
            if gran[g, r, 3] == gran[g, r, 1]:      # the last tile is full: one shape
                gran[g, r, 0] += 1
                gran[g, r, 2] = 0
    if ways > n_units:
        return FANOUT

    # ---- legality: bypass paths and capacity ----------------------------------------------------
    for t in range(T):
        child = 0
        for lv in range(1, L):
            if (row[base_k + lv] >> t) & 1:
                if path_f[child, lv, 0] == 0.0:
                    return NO_PATH
                child = lv
    for lv in range(L - 1):
        used = 0
        for t in range(T):
            if not (row[base_k + lv] >> t) & 1:
                continue
            elems = 1
            for r in range(R):
                if rel[t, r]:
                    elems *= sizes[r] if ((resident >> t) & 1 and lv == L - 2) else min(gran[lv, r, 1], sizes[r])
            slots = 2 if ((row[base_d + lv] >> t) & 1 and not ((resident >> t) & 1 and lv == L - 2)) else 1
            used += slots * _nbytes(elems, bits_num[t], bits_den[t])
        if used > lvl_int[lv, 0]:
            return CAPACITY + lv

    # ---- the loops above the compute tile, outermost first, unit loops dropped ------------------
    nloops = 0
    for lv in range(L - 1, -1, -1):
        for i in range(R):
            r = row[base_p + lv * R + i]
            f = row[base_f + lv * R + r]
            if f > 1:
                loops[nloops, 0], loops[nloops, 1], loops[nloops, 2] = lv, r, f
                nloops += 1

    # ---- transfers between levels ----------------------------------------------------------------
    for t in range(T):
        full = 1
        rmask = 0
        for r in range(R):
            if rel[t, r]:
                full *= sizes[r]
                rmask |= 1 << r
        is_out = t == T - 1
        child = 0
        for parent in range(1, L):
            if not (row[base_k + parent] >> t) & 1:
                continue
            if (resident >> t) & 1 and child == L - 2:
                break                                  # lives in the outermost SRAM: no DRAM traffic
            p_idx = -1
            for i in range(nloops):
                if loops[i, 0] <= child:
                    break
                if rel[t, loops[i, 1]]:
                    p_idx = i
            mult, loads = 1, 1
            for i in range(p_idx + 1):
                loads *= loops[i, 2]
                if not rel[t, loops[i, 1]]:
                    mult *= loops[i, 2]
            # transfers of each tile shape: port accesses and bytes are per transfer
            nshape = _classes(gran[child], rmask, R, var, combo_ext, combo_cnt)
            nb = 0
            acc_c = 0
            acc_p = 0
            for s in range(nshape):
                e = 1
                for r in range(R):
                    e *= combo_ext[s, r]
                b = _nbytes(e, bits_num[t], bits_den[t])
                nb += combo_cnt[s] * b
                acc_c += combo_cnt[s] * _cdiv(b, lvl_int[child, 1])
                acc_p += combo_cnt[s] * _cdiv(b, lvl_int[parent, 1])
            distinct = loads // mult
            db = (row[base_d + child] >> t) & 1
            if not is_out:
                moved, nmoves = mult * full, loads
                counts[t, child, FILLS] += moved
                counts[t, child, WR_ACC] += mult * acc_c
                counts[t, child, WR_BYTES] += mult * nb
                counts[t, child, XFER_IN] += nmoves
                counts[t, parent, READS] += moved
                counts[t, parent, RD_ACC] += mult * acc_p
                counts[t, parent, RD_BYTES] += mult * nb
                paths[child, parent, 0 if db else 1] += mult * nb
                paths[child, parent, 2 if db else 3] += 0 if db else nmoves
            else:
                # stores: every visit ends with one; reloads: every visit but the first to each tile
                counts[t, child, READS] += mult * full
                counts[t, child, RD_ACC] += mult * acc_c
                counts[t, child, RD_BYTES] += mult * nb
                counts[t, child, XFER_OUT] += loads
                counts[t, parent, UPDATES] += mult * full
                counts[t, parent, WR_ACC] += mult * acc_p
                counts[t, parent, WR_BYTES] += mult * nb
                counts[t, child, FILLS] += (mult - 1) * full
                counts[t, child, WR_ACC] += (mult - 1) * acc_c
                counts[t, child, WR_BYTES] += (mult - 1) * nb
                counts[t, child, XFER_IN] += loads - distinct
                counts[t, parent, READS] += (mult - 1) * full
                counts[t, parent, RD_ACC] += (mult - 1) * acc_p
                counts[t, parent, RD_BYTES] += (mult - 1) * nb
                paths[child, parent, 0 if db else 1] += (2 * mult - 1) * nb
                paths[child, parent, 3] += 0 if db else 2 * loads - distinct
            child = parent

    # ---- the unit's work on level 0 --------------------------------------------------------------
    all_mask = (1 << R) - 1
    nshape = _classes(gran[L], all_mask, R, var, combo_ext, combo_cnt)
    period = 1e12 / clock
    l0_bpc = lvl_int[0, 4]
    l0_period = 1e12 / lvl_int[0, 3]
    out_t = T - 1
    cycles = 0
    work_total = 1
    for r in range(R):
        work_total *= sizes[r]
    for s in range(nshape):
        cnt = combo_cnt[s]
        first = 1                      # tiles of this shape that are their output tile's first visit
        for r in range(R):
            is_full = gran[L, r, 0] > 0 and combo_ext[s, r] == gran[L, r, 1]
            if rel[out_t, r]:
                first *= gran[L, r, 0] if is_full else gran[L, r, 2]
            elif not (is_full or gran[L, r, 0] == 0):
                first = 0              # a reduced rank's first tile is its full one (unless it has one tile)
        ze = 1
        for r in range(R):
            if rel[out_t, r]:
                ze *= combo_ext[s, r]
        if kind == 0:
            bm, m, n, k = 1, 1, 1, 1
            for r in range(R):
                role = roles[swap, r]
                e = combo_ext[s, r]
                if role == 0:
                    bm *= e
                elif role == 1:
                    m *= e
                elif role == 2:
                    n *= e
                else:
                    k *= e
            cyc = bm * fold_cycles(dataflow, arr_rows, arr_cols, m, n, k)
            fold_traffic(dataflow, arr_rows, arr_cols, m, n, k, tr)
            a_t, b_t = (1, 0) if swap else (0, 1)
            ra, rb, rz, wz = bm * tr[0], bm * tr[1], bm * tr[2], bm * tr[3]
            _unit_reads(counts, a_t, ra, cnt, bits_num, bits_den, lvl_int)
            _unit_reads(counts, b_t, rb, cnt, bits_num, bits_den, lvl_int)
        else:
            pts = 1
            for r in range(R):
                pts *= combo_ext[s, r]
            cyc = _cdiv(pts * ops_per_point, lanes_ops)
            for t in range(T - 1):
                e = 1
                for r in range(R):
                    if rel[t, r]:
                        e *= combo_ext[s, r]
                _unit_reads(counts, t, e, cnt, bits_num, bits_den, lvl_int)
            rz, wz = ze, ze
        # the output: a first visit starts from zero and reads no partial sums
        _unit_reads(counts, out_t, rz, cnt - first, bits_num, bits_den, lvl_int)
        _unit_reads(counts, out_t, rz - ze, first, bits_num, bits_den, lvl_int)
        bz = _nbytes(wz, bits_num[out_t], bits_den[out_t])
        counts[out_t, 0, UPDATES] += cnt * wz
        counts[out_t, 0, WR_BYTES] += cnt * bz
        counts[out_t, 0, WR_ACC] += cnt * _cdiv(bz, lvl_int[0, 1])
        cycles += cnt * cyc

    # ---- time: tasks are spatial groups; each lasts as long as its largest sub-tile ---------------
    compute_ps = 0.0
    tasks = 0
    for r in range(R):      # the group's largest tile: the full tile wherever a split puts one in every group
        if row[R + r] > 1:
            gran[L, r, 0] = gran[L, r, 0] + gran[L, r, 2]
            gran[L, r, 0] //= row[R + r]
            gran[L, r, 2] = 0
    nshape = _classes(gran[L], all_mask, R, var, combo_ext, combo_cnt)
    for s in range(nshape):
        bm, m, n, k = 1, 1, 1, 1
        if kind == 0:
            for r in range(R):
                role = roles[swap, r]
                e = combo_ext[s, r]
                if role == 0:
                    bm *= e
                elif role == 1:
                    m *= e
                elif role == 2:
                    n *= e
                else:
                    k *= e
            cyc = bm * fold_cycles(dataflow, arr_rows, arr_cols, m, n, k)
            fold_traffic(dataflow, arr_rows, arr_cols, m, n, k, tr)
            a_t, b_t = (1, 0) if swap else (0, 1)
            nbytes_tile = (_nbytes(bm * tr[0], bits_num[a_t], bits_den[a_t])
                           + _nbytes(bm * tr[1], bits_num[b_t], bits_den[b_t])
                           + 2 * _nbytes(bm * tr[3], bits_num[out_t], bits_den[out_t]))
        else:
            pts = 1
            for r in range(R):
                pts *= combo_ext[s, r]
            cyc = _cdiv(pts * ops_per_point, lanes_ops)
            nbytes_tile = 0
            for t in range(T):
                e = 1
                for r in range(R):
                    if rel[t, r]:
                        e *= combo_ext[s, r]
                nbytes_tile += _nbytes(e, bits_num[t], bits_den[t]) * (2 if t == out_t else 1)
        # the SRAM's ports are shared by the `ways` instances of a split tile
        sram_ps = _cdiv(nbytes_tile * ways, l0_bpc) * l0_period
        compute_ps += combo_cnt[s] * max(cyc * period, sram_ps)
        tasks += combo_cnt[s]

    # ---- paths and the DRAM: overlap where double-buffered -------------------------------------
    serial = 0.0
    slowest = 0.0
    dram_bytes = 0
    for t in range(T):
        dram_bytes += counts[t, L - 1, RD_BYTES] + counts[t, L - 1, WR_BYTES]
    lat_pen = 0.0
    prologue = 0.0
    for c in range(L - 1):
        for p in range(c + 1, L):
            if path_f[c, p, 0] == 0.0:
                continue
            bw = path_f[c, p, 1]
            t_db = paths[c, p, 0] * 1e12 / bw
            t_sb = paths[c, p, 1] * 1e12 / bw
            serial += t_sb
            slowest = max(slowest, t_db + t_sb)
            lat_pen += paths[c, p, 3] * path_f[c, p, 2]
            if paths[c, p, 0] + paths[c, p, 1] > 0:
                prologue += path_f[c, p, 2]
    dram_ps = dram_bytes * 1e12 / lvl_f[L - 1, 2]
    # first tiles of every input at every level, and the last output tile on its way out
    for lv in range(L - 1):
        for t in range(T):
            if not (row[base_k + lv] >> t) & 1 or ((resident >> t) & 1 and lv == L - 2):
                continue
            e = 1
            for r in range(R):
                if rel[t, r]:
                    e *= min(gran[lv, r, 1], sizes[r])
            up = lv + 1
            while up < L - 1 and not (row[base_k + up] >> t) & 1:
                up += 1
            if path_f[lv, up, 0] != 0.0:
                prologue += _nbytes(e, bits_num[t], bits_den[t]) * 1e12 / path_f[lv, up, 1]
    latency = max(compute_ps + serial, slowest, dram_ps) + prologue + lat_pen

    # ---- energy: counts x the energy table ------------------------------------------------------
    e_compute = work_total * (energy[0] if kind == 0 else energy[1] * ops_per_point)
    e_total = e_compute
    for lv in range(L):
        for t in range(T):
            if lvl_int[lv, 2]:
                e_total += counts[t, lv, RD_BYTES] * lvl_f[lv, 0] + counts[t, lv, WR_BYTES] * lvl_f[lv, 1]
            else:
                e_total += counts[t, lv, RD_ACC] * lvl_f[lv, 0] + counts[t, lv, WR_ACC] * lvl_f[lv, 1]
    for c in range(L - 1):
        for p in range(c + 1, L):
            e_total += (paths[c, p, 0] + paths[c, p, 1]) * path_f[c, p, 3]
    summary[LATENCY] = latency
    summary[ENERGY] = e_total
    summary[CYCLES] = cycles
    summary[COMPUTE_PS] = compute_ps
    summary[WORK] = work_total
    summary[DRAM_BYTES] = dram_bytes
    summary[TASKS] = tasks
    summary[E_COMPUTE] = e_compute
    return LEGAL


@njit(cache=True, inline="always")
def _unit_reads(counts, t, elements, n, bits_num, bits_den, lvl_int):
    if n <= 0 or elements <= 0:
        return
    b = _nbytes(elements, bits_num[t], bits_den[t])
    counts[t, 0, READS] += n * elements
    counts[t, 0, RD_BYTES] += n * b
    counts[t, 0, RD_ACC] += n * _cdiv(b, lvl_int[0, 1])


@njit(cache=True)
def evaluate_batch(rows, sizes, rel, bits_num, bits_den, roles, ops_per_point, is_mac,
                   unit, lvl_int, lvl_f, path_f, energy, reason, latency, energy_pj, cycles):
    """Evaluate every row; rejected rows get their reason and infinite latency and energy."""
    R = sizes.shape[0]
    T = rel.shape[0]
    L = lvl_int.shape[0]
    work = make_work(R, L, T)
    counts = np.zeros((T, L, NCOUNT), np.int64)
    summary = np.zeros(NSUM, np.float64)
    for i in range(rows.shape[0]):
        code = evaluate_one(rows[i], sizes, rel, bits_num, bits_den, roles, ops_per_point, is_mac,
                            unit, lvl_int, lvl_f, path_f, energy, work, counts, summary)
        reason[i] = code
        if code == LEGAL:
            latency[i] = summary[LATENCY]
            energy_pj[i] = summary[ENERGY]
            cycles[i] = summary[CYCLES]
        else:
            latency[i] = np.inf
            energy_pj[i] = np.inf
            cycles[i] = -1
