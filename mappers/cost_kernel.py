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


@njit(cache=True, inline="always")
def _cdiv_s(a, b, shift):
    """ceil(a / b), by shifting when b is a power of two (shift >= 0): divisions dominate the kernel."""
    if shift >= 0:
        return (a + b - 1) >> shift
    return (a + b - 1) // b


@njit(cache=True)
def _nb(elements, bpe, num, den):
    """Bytes of `elements` values (bpe bytes each when whole, else num/den bits each, rounded up).

    Helpers on the hot path take scalars only: passing arrays to a numba function costs reference
    counting on every call, which was most of the kernel's time."""
    if bpe > 0:
        return elements * bpe
    return _nbytes(elements, num, den)


@njit(cache=True)
def fold_cycles(dataflow, rows, cols, m, n, k, rs=-1, cs=-1):
    """Cycles of one GEMM tile on a rows x cols systolic array: the sum over folds of 2r + c + t - 2."""
    if dataflow == 0:      # ws: rows <- k, cols <- n, stream m
        ru, cu, t = k, n, m
    elif dataflow == 1:    # os: rows <- m, cols <- n, stream k
        ru, cu, t = m, n, k
    else:                  # is: rows <- k, cols <- m, stream n
        ru, cu, t = k, m, n
    nr = _cdiv_s(ru, rows, rs)
    nc = _cdiv_s(cu, cols, cs)
    return 2 * ru * nc + cu * nr + nr * nc * (t - 2)


@njit(cache=True)
def fold_traffic(dataflow, rows, cols, m, n, k, rs=-1, cs=-1):
    """Elements one tile moves between the SRAM and the array: (A read, B read, Z written).

    The stationary operand is read once, a streamed one once per fold across the other array
    dimension; outputs are written once per fold along the reduction (and read as often, less the
    first fold of a first visit, when accumulating).
    """
    if dataflow == 0:        # ws
        return m * k * _cdiv_s(n, cols, cs), k * n, m * n * _cdiv_s(k, rows, rs)
    if dataflow == 2:        # is
        return m * k, k * n * _cdiv_s(m, cols, cs), m * n * _cdiv_s(k, rows, rs)
    return m * k * _cdiv_s(n, cols, cs), k * n * _cdiv_s(m, rows, rs), m * n


@njit(cache=True)
def _classes(gran, ranks_mask, R, var, combo_ext, combo_cnt):
    """Enumerate the tile shapes of one granularity over the ranks in `ranks_mask`.

    gran[r] = (full count, full extent, last count, last extent). Writes each shape's extents into
    combo_ext[i, :] and its count into combo_cnt[i]; returns how many shapes there are.
    """
    nv = 0
    for r in range(R):
        var[R + r] = -1
        if (ranks_mask >> r) & 1 and gran[r, 0] > 0 and gran[r, 2] > 0:
            var[R + r] = nv
            nv += 1
    n = 0
    for combo in range(1 << nv):
        cnt = 1
        for r in range(R):
            if not (ranks_mask >> r) & 1:
                combo_ext[n, r] = 1
                continue
            v = var[R + r]
            use_last = gran[r, 0] == 0 if v < 0 else (combo >> v) & 1 == 1
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
    return (np.zeros((L + 1, R, 4), np.int64), np.zeros(2 * R, np.int64), np.zeros((1 << R, R), np.int64),
            np.zeros(1 << R, np.int64), np.zeros((L * R, 3), np.int64), np.zeros((L, L, 4), np.float64),
            np.zeros(4, np.int64))


@njit(cache=True)
def evaluate_one(row, sizes, rel, bpe, bits_num, bits_den, roles, ops_per_point, is_mac,
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
    rs, cs = unit[7], unit[8]
    base_f, base_p = 2 * R, 2 * R + L * R
    base_k = base_p + L * R
    base_d = base_k + L
    swap = row[base_d + L]
    resident = row[base_d + L + 1]

    # ---- tile extents per granularity (index L: the compute tile) --------------------------------
    ways = 1
    for r in range(R):
        c, s, n = row[r], row[R + r], sizes[r]
        # tile counts from the outside in, by multiplication (divisions are slow)
        cnt = 1
        for lv in range(L - 1, -1, -1):
            last_ext = c * s
            for j in range(lv + 1):
                last_ext *= row[base_f + j * R + r]
            gran[lv, r, 0], gran[lv, r, 1], gran[lv, r, 2], gran[lv, r, 3] = cnt - 1, last_ext, 1, \
                n - (cnt - 1) * last_ext
            cnt *= row[base_f + lv * R + r]
        q = cnt * s
        if c < 1 or (q - 1) * c >= n or q * c < n:     # q must be ceil(n / c)
            return BAD_FACTORS
        ways *= s
        gran[L, r, 0], gran[L, r, 1], gran[L, r, 2], gran[L, r, 3] = q - 1, c, 1, n - (q - 1) * c
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
            used += slots * _nb(elems, bpe[t], bits_num[t], bits_den[t])
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
            nv = 0
            for r in range(R):
                var[R + r] = -1
                if rel[t, r] and gran[child, r, 0] > 0 and gran[child, r, 2] > 0:
                    var[R + r] = nv
                    nv += 1
            nb = 0
            acc_c = 0
            acc_p = 0
            pc, sc, pp, sp = lvl_int[child, 1], lvl_int[child, 5], lvl_int[parent, 1], lvl_int[parent, 5]
            for combo in range(1 << nv):
                e = 1
                n_tiles = 1
                for r in range(R):
                    if not rel[t, r]:
                        continue
                    v = var[R + r]
                    if (gran[child, r, 0] == 0) if v < 0 else ((combo >> v) & 1 == 1):
                        n_tiles *= gran[child, r, 2]
                        e *= gran[child, r, 3]
                    else:
                        n_tiles *= gran[child, r, 0]
                        e *= gran[child, r, 1]
                b = _nb(e, bpe[t], bits_num[t], bits_den[t])
                nb += n_tiles * b
                acc_c += n_tiles * _cdiv_s(b, pc, sc)
                acc_p += n_tiles * _cdiv_s(b, pp, sp)
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

    # ---- the unit's work on level 0 ----------------------------------------------------------------
    # Tasks are spatial groups of compute tiles; each lasts as long as its largest sub-tile, bounded by
    # the SRAM's ports (shared by the `ways` instances). Unsplit, a task is one tile: one pass does all.
    period = 1e12 / clock
    l0_bpc = lvl_int[0, 4]
    l0_period = 1e12 / lvl_int[0, 3]
    out_t = T - 1
    a_t, b_t = (1, 0) if swap else (0, 1)
    work_total = 1
    for r in range(R):
        work_total *= sizes[r]
    cycles = 0
    compute_ps = 0.0
    tasks = 0
    port0, sh0 = lvl_int[0, 1], lvl_int[0, 5]
    for pass_ in range(2 if ways > 1 else 1):
        if pass_ == 1:
            for r in range(R):      # a split group's largest tile is the full one along every split rank
                if row[R + r] > 1:
                    gran[L, r, 0] = (gran[L, r, 0] + gran[L, r, 2]) // row[R + r]
                    gran[L, r, 2] = 0
        nshape = _classes(gran[L], (1 << R) - 1, R, var, combo_ext, combo_cnt)
        for s in range(nshape):
            cnt = combo_cnt[s]
            first = 1                  # tiles of this shape that are their output tile's first visit
            ze = 1
            pts = 1
            bm, m, n, k = 1, 1, 1, 1
            for r in range(R):
                e = combo_ext[s, r]
                pts *= e
                is_full = gran[L, r, 0] > 0 and e == gran[L, r, 1]
                if rel[out_t, r]:
                    ze *= e
                    first *= gran[L, r, 0] if is_full else gran[L, r, 2]
                elif not (is_full or gran[L, r, 0] == 0):
                    first = 0          # a reduced rank's first tile is its full one (unless it has one tile)
                role = roles[swap, r]
                if role == 0:
                    bm *= e
                elif role == 1:
                    m *= e
                elif role == 2:
                    n *= e
                else:
                    k *= e
            if kind == 0:
                cyc = bm * fold_cycles(dataflow, arr_rows, arr_cols, m, n, k, rs, cs)
                ta, tb, tz = fold_traffic(dataflow, arr_rows, arr_cols, m, n, k, rs, cs)
                ra, rb, wz = bm * ta, bm * tb, bm * tz
                ba = _nb(ra, bpe[a_t], bits_num[a_t], bits_den[a_t])
                bb = _nb(rb, bpe[b_t], bits_num[b_t], bits_den[b_t])
                bz = _nb(wz, bpe[out_t], bits_num[out_t], bits_den[out_t])
                nbytes_tile = ba + bb + 2 * bz
                if pass_ == 0:
                    counts[a_t, 0, READS] += cnt * ra
                    counts[a_t, 0, RD_BYTES] += cnt * ba
                    counts[a_t, 0, RD_ACC] += cnt * _cdiv_s(ba, port0, sh0)
                    counts[b_t, 0, READS] += cnt * rb
                    counts[b_t, 0, RD_BYTES] += cnt * bb
                    counts[b_t, 0, RD_ACC] += cnt * _cdiv_s(bb, port0, sh0)
            else:
                cyc = _cdiv(pts * ops_per_point, lanes_ops)
                nbytes_tile = 0
                wz = ze
                for t in range(T):
                    e = 1
                    for r in range(R):
                        if rel[t, r]:
                            e *= combo_ext[s, r]
                    b = _nb(e, bpe[t], bits_num[t], bits_den[t])
                    nbytes_tile += b if t < out_t else 2 * b
                    if t < out_t and pass_ == 0:
                        counts[t, 0, READS] += cnt * e
                        counts[t, 0, RD_BYTES] += cnt * b
                        counts[t, 0, RD_ACC] += cnt * _cdiv_s(b, port0, sh0)
                bz = _nb(wz, bpe[out_t], bits_num[out_t], bits_den[out_t])
            if pass_ == 0:
                # the output: a first visit starts from zero and reads no partial sums
                rz_first = wz - ze
                b_first = _nb(rz_first, bpe[out_t], bits_num[out_t], bits_den[out_t])
                counts[out_t, 0, READS] += (cnt - first) * wz + first * rz_first
                counts[out_t, 0, RD_BYTES] += (cnt - first) * bz + first * b_first
                counts[out_t, 0, RD_ACC] += (cnt - first) * _cdiv_s(bz, port0, sh0) + first * _cdiv_s(b_first, port0, sh0)
                counts[out_t, 0, UPDATES] += cnt * wz
                counts[out_t, 0, WR_BYTES] += cnt * bz
                counts[out_t, 0, WR_ACC] += cnt * _cdiv_s(bz, port0, sh0)
                cycles += cnt * cyc
            if ways == 1 or pass_ == 1:
                compute_ps += cnt * max(cyc * period, _cdiv(nbytes_tile * ways, l0_bpc) * l0_period)
                tasks += cnt

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
                prologue += _nb(e, bpe[t], bits_num[t], bits_den[t]) * 1e12 / path_f[lv, up, 1]
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


@njit(cache=True)
def evaluate_batch(rows, sizes, rel, bpe, bits_num, bits_den, roles, ops_per_point, is_mac,
                   unit, lvl_int, lvl_f, path_f, energy, reason, latency, energy_pj, cycles):
    """Evaluate every row; rejected rows get their reason and infinite latency and energy."""
    R = sizes.shape[0]
    T = rel.shape[0]
    L = lvl_int.shape[0]
    work = make_work(R, L, T)
    counts = np.zeros((T, L, NCOUNT), np.int64)
    summary = np.zeros(NSUM, np.float64)
    for i in range(rows.shape[0]):
        code = evaluate_one(rows[i], sizes, rel, bpe, bits_num, bits_den, roles, ops_per_point, is_mac,
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
