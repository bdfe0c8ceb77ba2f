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
sum and loaded back when the walk returns: mult stores and mult - 1 reloads of every element (mult
reloads when the Einsum accumulates into its output, `+=`: the first visit reads the prior values).
Since every loop runs its full count (only the last compute tile of a rank is partial), these are exact.

Tiles of one level partition a tensor, so the bytes moved per visit are the tensor's bytes whenever an
element is a whole number of bytes; port accesses (and sub-byte data types) need the tile shapes: at
most two extents per rank (the full tile and the last, partial one), enumerated.

Timing is an estimate the simulator refines: the slowest of the unit's busy time (the systolic closed
form of `simulator/systolic.py`: per fold 2r + c + t - 2 with folds back to back; when the array
double-buffers its stationary registers, one pipeline of folds across the tasks, broken where a task
waits for the previous one's output to leave (`pipeline_kernel.py`); or lanes for a vector unit; each
tile bounded by its SRAM's bandwidth),
each path's transfer time, the DRAM's, and each double-buffered tensor's round trips (two tiles in
flight: transfer, latency and the compute that holds a slot); single-buffered transfers add their time
and their longest chain of latencies to the unit's; the first double-buffered tile of each tensor and
one latency per path are not overlapped.

Speed: the whole evaluation of a batch is one function body (`_evaluate_rows`). Passing arrays to a
numba function that is not inlined costs a reference-count update per array per call, which, with the
two dozen arrays a row needs, was a quarter of the time per mapping; helpers take scalars only.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from loomsim.mappers.fold_kernel import _cdiv_s, _fold, _pipe, _pipelined, fold_cycles, fold_traffic  # noqa: F401
from loomsim.mappers.pipeline_kernel import _pipeline_busy

# per (tensor, level) counts
READS, FILLS, UPDATES, RD_ACC, WR_ACC, XFER_IN, XFER_OUT, RD_BYTES, WR_BYTES = range(9)
NCOUNT = 9
COUNT_NAMES = ("reads", "fills", "updates", "read_accesses", "write_accesses", "transfers_in", "transfers_out",
               "read_bytes", "write_bytes")
# summary entries
LATENCY, ENERGY, CYCLES, COMPUTE_PS, WORK, DRAM_BYTES, TASKS, E_COMPUTE, BUSY = range(9)
NSUM = 9

LEGAL, FANOUT, BAD_FACTORS, NO_PATH, CAPACITY = 0, 1, 2, 3, 4
REASONS = ("legal", "fanout", "factors", "bypass_path")


@njit(cache=True, inline="always")
def _nbytes(elements, num, den):
    return (elements * num + den * 8 - 1) // (den * 8)


@njit(cache=True, inline="always")
def _cdiv(a, b):
    return (a + b - 1) // b


@njit(cache=True, inline="always")
def _nb(elements, bpe, num, den):
    """Bytes of `elements` values (bpe bytes each when whole, else num/den bits each, rounded up)."""
    if bpe > 0:
        return elements * bpe
    return _nbytes(elements, num, den)


@njit(cache=True)
def _evaluate_rows(rows, sizes, rel, bpe, bits_num, bits_den, roles, ops_per_point, accumulate,
                   unit, lvl_int, lvl_f, path_f, energy, reason, latency, energy_pj, cycles_out, detail, counts, summary):
    """Evaluate every row; with `detail`, `counts` [T, L, NCOUNT] and `summary` are left holding the last
    legal row's counts (a search needs only latency and energy, which are charged without them)."""
    R = sizes.shape[0]
    T = rel.shape[0]
    L = lvl_int.shape[0]
    out_t = T - 1
    # scratch, once per batch
    gran = np.zeros((L + 1, R, 4), np.int64)     # [granularity, rank]: full count, full extent, last count, last extent
    ext_up = np.zeros(L, np.int64)
    var = np.zeros(R, np.int64)
    paths = np.zeros((L, L), np.float64)          # [child, parent]: bytes moved
    db_path = np.zeros((L, L), np.int64)          # [child, parent]: carries double-buffered transfers
    x_moves = np.zeros((T, L), np.int64)          # [tensor, child level]: transfers, bytes, double-buffered, parent
    x_bytes = np.zeros((T, L), np.int64)
    x_db = np.zeros((T, L), np.int64)
    x_par = np.zeros((T, L), np.int64)
    cnt_c = np.zeros(R, np.int64)
    # a double-buffered array's pipeline across tasks (see `_pipeline_busy`): per tile shape, and the loops
    nsh = 1 << R
    sh_e, sh_p, sh_a = np.zeros(nsh, np.int64), np.zeros(nsh, np.int64), np.zeros(nsh, np.int64)
    sh_t, sh_d = np.zeros(nsh, np.int64), np.zeros(nsh, np.int64)
    lp = np.zeros((5, L * R), np.int64)
    rk = np.zeros((3, R), np.int64)
    tab = np.zeros((4, nsh), np.int64)
    mlev = np.zeros(T, np.int64)
    ld = np.zeros((T, L), np.int64)               # [tensor, child level]: loads and mult (see below)
    ml = np.zeros((T, L), np.int64)
    ld_cur = np.zeros(T, np.int64)
    ml_cur = np.zeros(T, np.int64)
    m_run = np.zeros(T, np.int64)
    acc_rd = np.zeros(L, np.int64)                # per level: what its read / write energy is charged by
    acc_wr = np.zeros(L, np.int64)
    # per tensor: relevant ranks, full elements and bytes
    trank = np.zeros((T, R), np.int64)
    ntr = np.zeros(T, np.int64)
    full = np.zeros(T, np.int64)
    for t in range(T):
        f = 1
        for r in range(R):
            if rel[t, r]:
                trank[t, ntr[t]] = r
                ntr[t] += 1
                f *= sizes[r]
        full[t] = f
    kind, arr_rows, arr_cols, dataflow, lanes_ops, n_units, clock = (unit[0], unit[1], unit[2], unit[3],
                                                                     unit[4], unit[5], unit[6])
    rs, cs, pipelined = unit[7], unit[8], unit[9]
    base_f, base_p = 2 * R, 2 * R + L * R
    base_k = base_p + L * R
    base_d = base_k + L
    period = 1e12 / clock
    l0_bpc = lvl_int[0, 4]
    l0_sh = -1                                    # log2 of l0_bpc when a power of two: ceil by shifting
    if l0_bpc > 0 and l0_bpc & (l0_bpc - 1) == 0:
        l0_sh = 0
        while (1 << l0_sh) < l0_bpc:
            l0_sh += 1
    l0_period = 1e12 / lvl_int[0, 3]
    port0, sh0 = lvl_int[0, 1], lvl_int[0, 5]
    work_total = 1
    for r in range(R):
        work_total *= sizes[r]
    e_compute = work_total * (energy[0] if kind == 0 else energy[1] * ops_per_point)

    for i in range(rows.shape[0]):
        row = rows[i]
        code = LEGAL
        swap = row[base_d + L]
        resident = row[base_d + L + 1]

        # ---- tile extents per granularity (index L: the compute tile) ----------------------------
        ways = 1
        for r in range(R):
            c, s, n = row[r], row[R + r], sizes[r]
            e = c * s
            for lv in range(L):
                e *= row[base_f + lv * R + r]
                ext_up[lv] = e
            cnt = 1
            for lv in range(L - 1, -1, -1):
                gran[lv, r, 0] = cnt - 1
                gran[lv, r, 1] = ext_up[lv]
                gran[lv, r, 2] = 1
                gran[lv, r, 3] = n - (cnt - 1) * ext_up[lv]
                cnt *= row[base_f + lv * R + r]
            q = cnt * s
            if c < 1 or (q - 1) * c >= n or q * c < n:     # q must be ceil(n / c)
                code = BAD_FACTORS
                break
            ways *= s
            gran[L, r, 0], gran[L, r, 1], gran[L, r, 2], gran[L, r, 3] = q - 1, c, 1, n - (q - 1) * c
            for g in range(L + 1):
                if gran[g, r, 3] == gran[g, r, 1]:      # the last tile is full: one shape
                    gran[g, r, 0] += 1
                    gran[g, r, 2] = 0
        if code == LEGAL and ways > n_units:
            code = FANOUT

        # ---- legality: bypass paths and capacity ------------------------------------------------
        if code == LEGAL:
            for t in range(T):
                child = 0
                for lv in range(1, L):
                    if (row[base_k + lv] >> t) & 1:
                        if path_f[child, lv, 0] == 0.0:
                            code = NO_PATH
                        child = lv
        if code == LEGAL:
            for lv in range(L - 1):
                used = 0
                for t in range(T):
                    if not (row[base_k + lv] >> t) & 1:
                        continue
                    if (resident >> t) & 1 and lv == L - 2:
                        continue             # the fusion planner reserved its space
                    elems = 1
                    for j in range(ntr[t]):
                        r = trank[t, j]
                        elems *= min(gran[lv, r, 1], sizes[r])
                    slots = 2 if (row[base_d + lv] >> t) & 1 else 1
                    used += slots * _nb(elems, bpe[t], bits_num[t], bits_den[t])
                if used > lvl_int[lv, 0]:
                    code = CAPACITY + lv
                    break
        reason[i] = code
        if code != LEGAL:
            latency[i] = np.inf
            energy_pj[i] = np.inf
            cycles_out[i] = -1
            continue
        if detail:
            for t in range(T):
                for lv in range(L):
                    for x in range(NCOUNT):
                        counts[t, lv, x] = 0
        for lv in range(L):
            acc_rd[lv] = 0
            acc_wr[lv] = 0
        dram_bytes = 0
        for c in range(L):
            for p in range(L):
                paths[c, p] = 0.0
                db_path[c, p] = 0
        for t in range(T):
            for c in range(L):
                x_moves[t, c] = 0

        # ---- reuse: the loops above each level ---------------------------------------------------
        # For every tensor and child level, out to the innermost loop above the child over a rank of the
        # tensor (outermost first, unit loops dropped): loads = all their factors, mult = the factors of
        # the ranks that do not index it. The loops above a level are those of the levels outside it, so
        # one pass from the DRAM's loops inward gives every level; level 0's loops are above no level.
        # The selects are arithmetic: branches on random mappings mispredict.
        run = 1
        for t in range(T):
            m_run[t] = 1
            ld_cur[t] = 1
            ml_cur[t] = 1
        for lv in range(L - 1, 0, -1):
            for j in range(R):
                r = row[base_p + lv * R + j]
                f = row[base_f + lv * R + r]
                run *= f
                for t in range(T):
                    rv = rel[t, r] * (f > 1)
                    ld_cur[t] = rv * run + (1 - rv) * ld_cur[t]
                    ml_cur[t] = rv * m_run[t] + (1 - rv) * ml_cur[t]
                    m_run[t] *= 1 + (1 - rel[t, r]) * (f - 1)
            for t in range(T):
                ld[t, lv - 1] = ld_cur[t]
                ml[t, lv - 1] = ml_cur[t]

        # ---- transfers between levels ------------------------------------------------------------
        for t in range(T):
            is_out = t == out_t
            child = 0
            nt = ntr[t]
            for parent in range(1, L):
                if not (row[base_k + parent] >> t) & 1:
                    continue
                if (resident >> t) & 1 and child == L - 2:
                    break                                  # lives in the outermost SRAM: no DRAM traffic
                loads, mult = ld[t, child], ml[t, child]
                # bytes per visit of every tile: the tensor's bytes (tiles partition it) unless sub-byte;
                # port accesses per tile shape (full or last extent along each relevant rank)
                pc, sc, pp, sp = lvl_int[child, 1], lvl_int[child, 5], lvl_int[parent, 1], lvl_int[parent, 5]
                bt, num, den = bpe[t], bits_num[t], bits_den[t]
                nv = 0
                n_tiles = 1
                e = 1
                for j in range(nt):
                    r = trank[t, j]
                    g0 = gran[child, r, 0]
                    if g0 > 0 and gran[child, r, 2] > 0:
                        var[nv] = r
                        nv += 1
                    elif g0 > 0:
                        n_tiles *= g0
                        e *= gran[child, r, 1]
                    else:
                        e *= gran[child, r, 3]
                parent_dram = lvl_int[parent, 2]
                if nv == 0:
                    b = _nb(e, bt, num, den)
                    nb = n_tiles * b
                    acc_c = n_tiles * _cdiv_s(b, pc, sc)
                    acc_p = nb if parent_dram else n_tiles * _cdiv_s(b, pp, sp)
                else:
                    nb = 0
                    acc_c = 0
                    acc_p = 0
                    for combo in range(1 << nv):
                        ee = e
                        nn = n_tiles
                        for j in range(nv):
                            r = var[j]
                            if (combo >> j) & 1:
                                ee *= gran[child, r, 3]
                            else:
                                nn *= gran[child, r, 0]
                                ee *= gran[child, r, 1]
                        b = _nb(ee, bt, num, den)
                        nb += nn * b
                        acc_c += nn * _cdiv_s(b, pc, sc)
                        if not parent_dram:
                            acc_p += nn * _cdiv_s(b, pp, sp)
                    if parent_dram:
                        acc_p = nb               # a DRAM's port is a byte
                distinct = loads // mult
                db = (row[base_d + child] >> t) & 1
                q_p = nb if parent_dram else acc_p     # what the parent's energy is per: bytes or accesses
                if not is_out:
                    acc_rd[parent] += mult * q_p
                    acc_wr[child] += mult * acc_c
                    moved_b = mult * nb
                    moves = loads
                    if detail:
                        ft = full[t]
                        counts[t, child, FILLS] += mult * ft
                        counts[t, child, WR_ACC] += mult * acc_c
                        counts[t, child, WR_BYTES] += mult * nb
                        counts[t, child, XFER_IN] += loads
                        counts[t, parent, READS] += mult * ft
                        counts[t, parent, RD_ACC] += mult * acc_p
                        counts[t, parent, RD_BYTES] += mult * nb
                else:
                    # stores: every visit ends with one; reloads: every visit but the first to each tile
                    # (every visit, when accumulating into prior values)
                    back = mult if accumulate else mult - 1
                    back_moves = loads if accumulate else loads - distinct
                    acc_rd[child] += mult * acc_c
                    acc_wr[child] += back * acc_c
                    acc_wr[parent] += mult * q_p
                    acc_rd[parent] += back * q_p
                    moved_b = (mult + back) * nb
                    moves = loads + back_moves
                    if detail:
                        ft = full[t]
                        counts[t, child, READS] += mult * ft
                        counts[t, child, RD_ACC] += mult * acc_c
                        counts[t, child, RD_BYTES] += mult * nb
                        counts[t, child, XFER_OUT] += loads
                        counts[t, parent, UPDATES] += mult * ft
                        counts[t, parent, WR_ACC] += mult * acc_p
                        counts[t, parent, WR_BYTES] += mult * nb
                        counts[t, child, FILLS] += back * ft
                        counts[t, child, WR_ACC] += back * acc_c
                        counts[t, child, WR_BYTES] += back * nb
                        counts[t, child, XFER_IN] += back_moves
                        counts[t, parent, READS] += back * ft
                        counts[t, parent, RD_ACC] += back * acc_p
                        counts[t, parent, RD_BYTES] += back * nb
                if parent_dram:
                    dram_bytes += moved_b
                paths[child, parent] += moved_b
                x_moves[t, child] = moves
                x_bytes[t, child] = moved_b
                x_db[t, child] = db
                x_par[t, child] = parent
                child = parent

        # ---- the unit's work on level 0 ----------------------------------------------------------
        # Tasks are spatial groups of compute tiles; each lasts as long as its largest sub-tile, bounded by
        # the SRAM's ports (shared by the `ways` instances). Unsplit, a task is one tile: one pass does all.
        a_t, b_t = (1, 0) if swap else (0, 1)
        cycles = 0
        compute_ps = 0.0
        tasks = 0
        busy = 0
        for pass_ in range(2 if ways > 1 else 1):
            nv = 0
            for r in range(R):
                cnt_c[r] = gran[L, r, 0]
                if pass_ == 1 and row[R + r] > 1:
                    # a split group's largest tile is the full one along every split rank
                    cnt_c[r] = (gran[L, r, 0] + gran[L, r, 2]) // row[R + r]
                var[r] = -1
                if cnt_c[r] > 0 and gran[L, r, 2] > 0 and not (pass_ == 1 and row[R + r] > 1):
                    var[r] = nv
                    nv += 1
            for combo in range(1 << nv):
                cnt = 1
                first = 0 if accumulate else 1    # tiles of this shape that are their output tile's first visit
                ze = 1
                pts = 1
                bm, m, n, k = 1, 1, 1, 1
                for r in range(R):
                    v = var[r]
                    use_last = (cnt_c[r] == 0) if v < 0 else ((combo >> v) & 1 == 1)
                    if use_last:
                        cnt *= gran[L, r, 2]
                        e = gran[L, r, 3]
                    else:
                        cnt *= cnt_c[r]
                        e = gran[L, r, 1]
                    pts *= e
                    if rel[out_t, r]:
                        ze *= e
                        first *= gran[L, r, 2] if use_last else gran[L, r, 0]
                    elif use_last and gran[L, r, 0] > 0:
                        first = 0      # a reduced rank's first tile is its full one (unless it has one tile)
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
                    cyc, ta, tb, tz = _fold(dataflow, arr_rows, arr_cols, m, n, k, rs, cs)
                    if pipelined:
                        cyc, p0, adv, ts, dl = _pipe(dataflow, arr_rows, arr_cols, m, n, k, bm, rs, cs)
                        if ways == 1 or pass_ == 1:
                            sh_e[combo], sh_p[combo], sh_a[combo], sh_t[combo], sh_d[combo] = cyc, p0, adv, ts, dl
                    else:
                        cyc *= bm
                    ra, rb, wz = bm * ta, bm * tb, bm * tz
                    ba = _nb(ra, bpe[a_t], bits_num[a_t], bits_den[a_t])
                    bb = _nb(rb, bpe[b_t], bits_num[b_t], bits_den[b_t])
                    bz = _nb(wz, bpe[out_t], bits_num[out_t], bits_den[out_t])
                    nbytes_tile = ba + bb + 2 * bz
                    if pass_ == 0:
                        xa, xb = cnt * _cdiv_s(ba, port0, sh0), cnt * _cdiv_s(bb, port0, sh0)
                        acc_rd[0] += xa + xb
                        if detail:
                            counts[a_t, 0, READS] += cnt * ra
                            counts[a_t, 0, RD_BYTES] += cnt * ba
                            counts[a_t, 0, RD_ACC] += xa
                            counts[b_t, 0, READS] += cnt * rb
                            counts[b_t, 0, RD_BYTES] += cnt * bb
                            counts[b_t, 0, RD_ACC] += xb
                else:
                    cyc = _cdiv(pts * ops_per_point, lanes_ops)
                    nbytes_tile = 0
                    wz = ze
                    for t in range(T):
                        e = 1
                        for j in range(ntr[t]):
                            r = trank[t, j]
                            v = var[r]
                            use_last = (cnt_c[r] == 0) if v < 0 else ((combo >> v) & 1 == 1)
                            e *= gran[L, r, 3] if use_last else gran[L, r, 1]
                        b = _nb(e, bpe[t], bits_num[t], bits_den[t])
                        nbytes_tile += b if t < out_t else 2 * b
                        if t < out_t and pass_ == 0:
                            xa = cnt * _cdiv_s(b, port0, sh0)
                            acc_rd[0] += xa
                            if detail:
                                counts[t, 0, READS] += cnt * e
                                counts[t, 0, RD_BYTES] += cnt * b
                                counts[t, 0, RD_ACC] += xa
                    bz = _nb(wz, bpe[out_t], bits_num[out_t], bits_den[out_t])
                if pass_ == 0:
                    # the output: a first visit starts from zero and reads no partial sums
                    rz_first = wz - ze
                    b_first = _nb(rz_first, bpe[out_t], bits_num[out_t], bits_den[out_t])
                    xa = (cnt - first) * _cdiv_s(bz, port0, sh0) + first * _cdiv_s(b_first, port0, sh0)
                    xw = cnt * _cdiv_s(bz, port0, sh0)
                    acc_rd[0] += xa
                    acc_wr[0] += xw
                    if detail:
                        counts[out_t, 0, READS] += (cnt - first) * wz + first * rz_first
                        counts[out_t, 0, RD_BYTES] += (cnt - first) * bz + first * b_first
                        counts[out_t, 0, RD_ACC] += xa
                        counts[out_t, 0, UPDATES] += cnt * wz
                        counts[out_t, 0, WR_BYTES] += cnt * bz
                        counts[out_t, 0, WR_ACC] += xw
                    cycles += cnt * cyc
                if ways == 1 or pass_ == 1:
                    sram_ps = _cdiv_s(nbytes_tile * ways, l0_bpc, l0_sh) * l0_period
                    if kind == 0 and pipelined:     # the pipeline's time, plus what SRAM-bound tiles add
                        busy += cnt * sh_a[combo]
                        compute_ps += cnt * max(0.0, sram_ps - cyc * period)
                    else:
                        compute_ps += cnt * max(cyc * period, sram_ps)
                    tasks += cnt
        if kind == 0 and pipelined:
            busy += _pipeline_busy(row, R, L, T, base_f, base_p, base_d, rel, accumulate, resident, nv, var,
                                   sh_e, sh_p, sh_a, sh_t, sh_d, lp, rk, mlev, tab)
            compute_ps += busy * period

        # ---- time: the slowest of compute, each path and the DRAM, and the buffers' round trips -------
        # A single-buffered tile's load (or store) and its latency sit between the tasks that use it; the
        # loads of different tensors at one tile boundary share the wait, so the longest chain of them
        # counts. A double-buffered tensor keeps two tiles in flight: each slot cycles through transfer,
        # latency and the time its consumer holds it, so the run takes at least half their sum.
        slowest = 0.0
        prologue = 0.0
        e_paths = 0.0
        for c in range(L - 1):
            for p in range(c + 1, L):
                if path_f[c, p, 0] == 0.0:
                    continue
                moved = paths[c, p]
                slowest = max(slowest, moved * 1e12 / path_f[c, p, 1])
                e_paths += moved * path_f[c, p, 3]
        serial = 0.0
        lat_pen = 0.0
        for t in range(T):
            for c in range(L - 1):
                if x_moves[t, c] and not x_db[t, c]:
                    p = x_par[t, c]
                    serial += x_bytes[t, c] * 1e12 / path_f[c, p, 1]
                    lat_pen = max(lat_pen, x_moves[t, c] * path_f[c, p, 2])
        base = compute_ps + serial + lat_pen
        round_trip = 0.0
        for t in range(T):
            for c in range(L - 1):
                if x_moves[t, c] and x_db[t, c]:
                    p = x_par[t, c]
                    round_trip = max(round_trip, (x_moves[t, c] * path_f[c, p, 2] + x_bytes[t, c] * 1e12 / path_f[c, p, 1]
                                                  + base) / 2)
        dram_ps = dram_bytes * 1e12 / lvl_f[L - 1, 2]
        # double-buffered transfers overlap compute but for the first tile of each (and the last output
        # tile on its way out) and one latency per path; single-buffered ones are in `base` already
        for t in range(T):
            for c in range(L - 1):
                if x_moves[t, c] and x_db[t, c]:
                    p = x_par[t, c]
                    e = 1
                    for j in range(ntr[t]):
                        r = trank[t, j]
                        e *= min(gran[c, r, 1], sizes[r])
                    prologue += _nb(e, bpe[t], bits_num[t], bits_den[t]) * 1e12 / path_f[c, p, 1]
                    if not db_path[c, p]:
                        prologue += path_f[c, p, 2]
                        db_path[c, p] = 1
        lat = max(base, slowest, dram_ps, round_trip) + prologue

        # ---- energy: counts x the energy table --------------------------------------------------
        # (per access for an SRAM, per byte for a DRAM: acc_rd and acc_wr hold what each level is charged by)
        e_total = e_compute + e_paths
        for lv in range(L):
            e_total += acc_rd[lv] * lvl_f[lv, 0] + acc_wr[lv] * lvl_f[lv, 1]
        latency[i] = lat
        energy_pj[i] = e_total
        cycles_out[i] = cycles
        summary[LATENCY] = lat
        summary[ENERGY] = e_total
        summary[CYCLES] = cycles
        summary[COMPUTE_PS] = compute_ps
        summary[WORK] = work_total
        summary[DRAM_BYTES] = dram_bytes
        summary[TASKS] = tasks
        summary[E_COMPUTE] = e_compute
        summary[BUSY] = busy if kind == 0 and pipelined else compute_ps / period


@njit(cache=True)
def evaluate_batch(rows, sizes, rel, bpe, bits_num, bits_den, roles, ops_per_point, accumulate,
                   unit, lvl_int, lvl_f, path_f, energy, reason, latency, energy_pj, cycles):
    """Evaluate every row; rejected rows get their reason and infinite latency and energy."""
    counts = np.zeros((rel.shape[0], lvl_int.shape[0], NCOUNT), np.int64)
    summary = np.zeros(NSUM, np.float64)
    _evaluate_rows(rows, sizes, rel, bpe, bits_num, bits_den, roles, ops_per_point, accumulate,
                   unit, lvl_int, lvl_f, path_f, energy, reason, latency, energy_pj, cycles, False, counts, summary)


@njit(cache=True)
def evaluate_one(row, sizes, rel, bpe, bits_num, bits_den, roles, ops_per_point, accumulate,
                 unit, lvl_int, lvl_f, path_f, energy, counts, summary):
    """Cost of one mapping row into `counts` [T, L, NCOUNT] and `summary`; returns LEGAL or a rejection
    code (CAPACITY + level for capacity)."""
    reason = np.zeros(1, np.int64)
    lat = np.zeros(1, np.float64)
    en = np.zeros(1, np.float64)
    cyc = np.zeros(1, np.int64)
    counts[:, :, :] = 0
    summary[:] = 0.0
    _evaluate_rows(row.reshape(1, row.shape[0]), sizes, rel, bpe, bits_num, bits_den, roles, ops_per_point,
                   accumulate, unit, lvl_int, lvl_f, path_f, energy, reason, lat, en, cyc, True, counts, summary)
    return reason[0]
