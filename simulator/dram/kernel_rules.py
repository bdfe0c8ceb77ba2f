"""Kernel helpers for the timing rules and bank state: when a command may issue, what issuing it changes.

Pure functions over the arrays of `state.State`, compiled with numba; `kernel.py` builds the controller
on them. Command codes arrive here as int64 values (see `I64` below), never as literals.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numba
import numpy as np
from numba.core import caching

from loomsim.simulator.dram import commands as C
from numba.cpython.unsafe.numbers import trailing_zeros

from loomsim.simulator.dram import commands as C
from loomsim.simulator.dram.state import (B_HEAD, B_PROW, B_ROW, B_RS, B_WS, INF, L_BANK, L_CH, L_CMD, L_ROW, L_T,
                                          M_HIT, M_OPEN, Q_NEXT, Q_ROW, Q_WRITE, R_ACT, R_OPEN, R_PRE, R_SINCE,
                                          R_WINPOS)


KERNEL_FILES = tuple((Path(__file__).parent / name).resolve()
                     for name in ("commands.py", "state.py", "kernel_rules.py", "kernel_pim.py", "kernel.py",
                                  "kernel_io.py"))


class _KernelCacheLocator(caching.InTreeCacheLocator):
    """Numba's on-disk cache stamps a function with the hash of the file that defines it, but a cached
    function carries the machine code of everything it calls and the constants it reads from other
    modules. The kernel's functions are stamped with the hash of all its modules instead, so a change
    to any of them recompiles them all rather than reusing stale code."""

    def get_source_stamp(self):
        digest = hashlib.sha256()
        for path in KERNEL_FILES:
            digest.update(path.read_bytes())
        return digest.hexdigest()

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve() not in KERNEL_FILES:
            return None
        return super().from_function(py_func, py_file)


if _KernelCacheLocator not in caching.CacheImpl._locator_classes:
    caching.CacheImpl._locator_classes.insert(0, _KernelCacheLocator)
# The kernel allocates nothing, so it is compiled without numba's reference counting (`_nrt=False`):
# with it, every call passing the state tuple of arrays paid ~40 atomic increments and decrements
# (~200 ns), which made the engine 50x slower. `error_model="numpy"` drops division-by-zero checks
# (every divisor is a positive organisation count).
jit = numba.njit(cache=True, error_model="numpy", no_cpython_wrapper=True, _nrt=False)
entry = numba.njit(cache=True, error_model="numpy", _nrt=False)
# Small helpers called in the controller's inner loops are inlined at numba's level: a call would copy
# the whole state tuple (19 arrays) onto the stack each time.
tiny = numba.njit(cache=True, error_model="numpy", no_cpython_wrapper=True, _nrt=False, inline="always")


def I64(v):
    """An int64 constant for jitted code: numba compiles a separate copy of a function for each *literal*
    integer argument it is called with, so the command codes are handed over as int64 values."""
    return np.int64(v)


ACT, PACT, BANK, BANKGROUP, RANK, CHANNEL, OTHER_RANKS = (I64(v) for v in (C.ACT, C.PACT, C.BANK, C.BANKGROUP,
                                                                           C.RANK, C.CHANNEL, C.OTHER_RANKS))
U0, U1 = np.uint64(0), np.uint64(1)


@tiny
def popcount(m):
    n = 0
    while m:
        m &= m - U1
        n += 1
    return n


@tiny
def bit(b):
    return U1 << np.uint64(b)


@tiny
def lowest(m):
    """The index of the lowest set bit of a non-empty mask."""
    return np.int64(trailing_zeros(m))


@tiny
def low_bits(n):
    """A mask of the `n` lowest bits (n <= 64; a shift by 64 is undefined, so 64 is spelled out)."""
    return ~U0 if n >= 64 else (U1 << np.uint64(n)) - U1


@tiny
def rank_bits(mask, rank, bpr):
    """The part of a channel bank mask that falls in one rank, shifted down to bit 0."""
    return (mask >> np.uint64(rank * bpr)) & low_bits(bpr)


@tiny
def rank_mask(rank, bpr):
    """The banks of one rank as a channel bank mask."""
    return low_bits(bpr) << np.uint64(rank * bpr)


@tiny
def ready_bank(st, c, b, f, bpr_sh, bpg_sh):
    """Earliest cycle command `f` may issue to bank `b` by the pairwise rules (bank counts are powers of
    two, so bank -> bank group and rank are shifts; a 64-bit division costs ~40 cycles)."""
    r = st.nt_bank[c, b, f]
    v = st.nt_bg[c, b >> bpg_sh, f]
    if v > r:
        r = v
    v = st.nt_rank[c, b >> bpr_sh, f]
    if v > r:
        r = v
    v = st.nt_ch[c, f]
    if v > r:
        r = v
    return r


@tiny
def ready_window(st, cfg, win_n, win_t, c, rank, k):
    """Earliest cycle `k` more activations fit every activation window of the rank (tFAW, t32AW)."""
    r = -INF
    pos = st.rank[c, rank, R_WINPOS]
    for w in range(cfg.nwin):
        n = win_n[w]
        kk = k if k < n else n
        j = n - kk + 1                      # the j-th most recent activation must have left the window
        v = st.win[c, rank, (pos - j) & (cfg.wmax - 1)] + win_t[w]
        if v > r:
            r = v
    return r


@tiny
def ready1(st, cfg, win_n, win_t, c, f, b):
    """Earliest cycle for command `f` on bank `b`, activation windows included for an ACT."""
    r = ready_bank(st, c, b, f, cfg.bpr_sh, cfg.bpg_sh)
    if f == ACT:
        v = ready_window(st, cfg, win_n, win_t, c, (b >> cfg.bpr_sh), 1)
        if v > r:
            r = v
    return r


@jit
def ready(st, cfg, win_n, win_t, c, f, b, mask):
    """Earliest cycle for command `f` on bank `b`, or on every bank of `mask` when the mask is not empty."""
    if mask == U0:
        return ready1(st, cfg, win_n, win_t, c, f, b)
    r = -INF
    for rank in range(cfg.nrank):
        rm = rank_bits(mask, rank, cfg.bpr)
        if rm == U0:
            continue
        for i in range(cfg.bpr):
            if rm & bit(i):
                v = ready_bank(st, c, rank * cfg.bpr + i, f, cfg.bpr_sh, cfg.bpg_sh)
                if v > r:
                    r = v
        if f == PACT:
            v = ready_window(st, cfg, win_n, win_t, c, rank, popcount(rm))
            if v > r:
                r = v
    return r


@tiny
def _raise(nt, f, v):
    if nt[f] < v:
        nt[f] = v


@tiny
def apply(st, cfg, upd_n, upd_f, upd_v, c, cmd, b, t):
    """Record command `cmd` issued to bank `b` at `t`: raise the earliest time of every later command."""
    for k in range(upd_n[BANK, cmd]):
        _raise(st.nt_bank[c, b], upd_f[BANK, cmd, k], t + upd_v[BANK, cmd, k])
    for k in range(upd_n[BANKGROUP, cmd]):
        _raise(st.nt_bg[c, (b >> cfg.bpg_sh)], upd_f[BANKGROUP, cmd, k], t + upd_v[BANKGROUP, cmd, k])
    rank = (b >> cfg.bpr_sh)
    for k in range(upd_n[RANK, cmd]):
        _raise(st.nt_rank[c, rank], upd_f[RANK, cmd, k], t + upd_v[RANK, cmd, k])
    for k in range(upd_n[CHANNEL, cmd]):
        _raise(st.nt_ch[c], upd_f[CHANNEL, cmd, k], t + upd_v[CHANNEL, cmd, k])
    if upd_n[OTHER_RANKS, cmd] > 0:
        for r2 in range(cfg.nrank):
            if r2 != rank:
                for k in range(upd_n[OTHER_RANKS, cmd]):
                    _raise(st.nt_rank[c, r2], upd_f[OTHER_RANKS, cmd, k], t + upd_v[OTHER_RANKS, cmd, k])


@jit
def apply_mask(st, cfg, upd_n, upd_f, upd_v, c, cmd, mask, t):
    for b in range(cfg.nbank):
        if mask & bit(b):
            apply(st, cfg, upd_n, upd_f, upd_v, c, cmd, b, t)


@tiny
def push_window(st, cfg, c, rank, k, t):
    """Record `k` activations at `t` in the rank's activation-window ring."""
    if k > cfg.wmax:
        k = cfg.wmax
    for _ in range(k):
        st.win[c, rank, st.rank[c, rank, R_WINPOS] & (cfg.wmax - 1)] = t
        st.rank[c, rank, R_WINPOS] += 1


@tiny
def set_row(st, cfg, c, b, row, buffer, t):
    """Open (row >= 0) or close (-1) the memory (buffer B_ROW) or PIM (B_PROW) row buffer of a bank,
    keeping the rank's account of cycles with some bank open (for background energy)."""
    rank = (b >> cfg.bpr_sh)
    before = st.bank[c, b, B_ROW] >= 0 or st.bank[c, b, B_PROW] >= 0
    st.bank[c, b, buffer] = row
    after = st.bank[c, b, B_ROW] >= 0 or st.bank[c, b, B_PROW] >= 0
    if before == after:
        return
    n = st.rank[c, rank, R_OPEN]
    if (n == 0 and after) or (n == 1 and not after):
        span = t - st.rank[c, rank, R_SINCE]
        st.rank[c, rank, R_PRE if n == 0 else R_ACT] += span
        st.rank[c, rank, R_SINCE] = t
    st.rank[c, rank, R_OPEN] = n + 1 if after else n - 1


@tiny
def find_hit(st, c, s, row, write):
    """The first queue slot from `s` on (following the bank's list) that hits `row` as a read (write=0)
    or a write (1); -1 if none."""
    while s >= 0:
        if st.q[c, s, Q_ROW] == row and st.q[c, s, Q_WRITE] == write:
            return s
        s = st.q[c, s, Q_NEXT]
    return np.int64(-1)


@tiny
def set_hits(st, c, b, rs, ws):
    """Record the oldest read and write hitting the bank's open row, and the bank's place in M_HIT."""
    st.bank[c, b, B_RS] = rs
    st.bank[c, b, B_WS] = ws
    if rs >= 0 or ws >= 0:
        st.bm[c, M_HIT] |= bit(b)
    else:
        st.bm[c, M_HIT] &= ~bit(b)


@tiny
def open_row(st, cfg, c, b, row, buffer, t):
    set_row(st, cfg, c, b, row, buffer, t)
    if buffer == B_ROW:                      # find the queued requests this row now serves
        st.bm[c, M_OPEN] |= bit(b)
        head = st.bank[c, b, B_HEAD]
        set_hits(st, c, b, find_hit(st, c, head, row, 0), find_hit(st, c, head, row, 1))


@tiny
def close_row(st, cfg, c, b, buffer, t):
    set_row(st, cfg, c, b, -1, buffer, t)
    if buffer == B_ROW:
        st.bm[c, M_OPEN] &= ~bit(b)
        set_hits(st, c, b, np.int64(-1), np.int64(-1))


@tiny
def log(st, c, t, cmd, b, row, mask):
    i = st.log_n[0]
    if i < st.log.shape[0]:
        st.log[i, L_T], st.log[i, L_CH], st.log[i, L_CMD], st.log[i, L_BANK], st.log[i, L_ROW] = t, c, cmd, b, row
        st.log_mask[i] = mask
        st.log_n[0] = i + 1
