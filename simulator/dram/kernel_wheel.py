"""Kernel part for FR-FCFS: the queued requests' next commands, kept in ready sets and a timing wheel.

Every bank with queued requests has a next memory command, of one of four kinds: the RD of its oldest
read hitting the open row, the WR of its oldest write hitting it, PRE (its open row serves no queued
request), ACT (no row open). Weighing every such bank at every pick cost ~100 ns a command on random
traffic, where most of them wait (for tRCD, tRAS, the four-activate window). So each candidate sits
either in the ready set of its kind (`ch.ready[kind]`: it may be able to issue now) or in a bucket of
a timing wheel (`ch.wheel[cycle % WHEEL, kind]`) at a cycle before which it certainly cannot issue.
That cycle stays a valid bound while the candidate stays the same, since earliest-issue times only grow.

A pick empties the buckets whose cycle has come into the ready sets and weighs the ready candidates
exactly; one that cannot issue yet moves to the bucket of its exact earliest cycle, and all of a
(rank, command) group that cannot win, held back by a shared bound (the activation window, say), move
to the bucket of that bound in one mask operation. A bank whose next command changes is marked (`ch.m_touch`) and checked at the next
pick. Bounds beyond the wheel's span go to its last bucket and are checked again when it comes up. The
result is the same candidate the full comparison picks (earliest cycle, then row hits, then the oldest
request): the property tests compare command logs with the plain reference.
"""
from __future__ import annotations

import numpy as np

from loomsim.simulator.dram import commands as C
from loomsim.simulator.dram.kernel_rules import I64, U0, U1, bit, low_bits, lowest, rank_mask, ready_window, tiny
from loomsim.simulator.dram.state import INF, NEVER, WHEEL

# the kinds of next command and their commands
KD_RD, KD_WR, KD_PRE, KD_ACT = (I64(v) for v in range(4))
CMD_OF = (I64(C.RD), I64(C.WR), I64(C.PRE), I64(C.ACT))
WMASK = WHEEL - 1
CLS_HIT, CLS_OTHER = I64(2), I64(3)          # the priority classes of kernel.py


@tiny
def rank_limits(ch, cfg, rank, block, padd):
    """(limit of the rank's banks, the bank refresh points at, that bank's limit): memory commands must
    issue before the limit, i.e. before a blocking PIM bundle and before a refresh that is due."""
    if cfg.refresh == 1:
        return min(block, ch.refdue[rank] + padd), np.int64(-1), block
    if cfg.refresh == 2:
        return block, rank * cfg.bpr + ch.refptr[rank], min(block, ch.refdue[rank] + padd)
    return block, np.int64(-1), block


@tiny
def _valid(ch, kind):
    """The banks whose next command is of this kind."""
    if kind == KD_RD:
        return ch.m_rs
    if kind == KD_WR:
        return ch.m_ws
    if kind == KD_PRE:
        return ch.m_q & ch.m_open & ~(ch.m_rs | ch.m_ws)
    return ch.m_q & ~ch.m_open


@tiny
def _slot(ch, kind, b):
    """The queue slot of the request a bank's next command of this kind serves (its age decides ties)."""
    if kind == KD_RD:
        return ch.rs[b]
    if kind == KD_WR:
        return ch.ws[b]
    return ch.head[b]


@tiny
def _better(r, cls, seq, bt, bcls, bseq):
    return r < bt or (r == bt and (cls < bcls or (cls == bcls and seq < bseq)))


@tiny
def _defer(ch, kind, m, key):
    """Take banks `m` out of the ready set of `kind`, to be looked at again at cycle `key` (a cycle
    before which they cannot issue). If the wheel has passed `key` already, they stay ready."""
    wt = ch.wt
    if key <= wt:
        return
    ch.ready[kind] &= ~m
    if key > wt + WHEEL:
        key = wt + WHEEL
    i = key & WMASK
    ch.wheel[i, kind] |= m
    ch.m_occ |= U1 << np.uint64(i)


@tiny
def _rotr(m, k):
    k &= WMASK
    if k == 0:
        return m
    return (m >> np.uint64(k)) | (m << np.uint64(WHEEL - k))


@tiny
def _fold(ch, t):
    """Empty every bucket of a cycle up to `t` into the ready sets."""
    wt = ch.wt
    if t <= wt:
        return
    occ = ch.m_occ
    if occ != U0:
        if t - wt < WHEEL:                       # the buckets of cycles wt+1 .. t
            first = (wt + 1) & WMASK
            span = low_bits(t - wt)
            sel = ((span << np.uint64(first)) | (span >> np.uint64(WHEEL - first))) if first else span
            occ &= sel
        ch.m_occ &= ~occ
        while occ != U0:
            i = lowest(occ)
            occ &= occ - U1
            for kind in range(4):
                ch.ready[kind] |= ch.wheel[i, kind]
                ch.wheel[i, kind] = U0
    ch.wt = t


@tiny
def _next_bucket(ch):
    """The cycle of the first non-empty bucket after the wheel's time; INF if none."""
    occ = ch.m_occ
    if occ == U0:
        return INF
    wt = ch.wt
    return wt + 1 + lowest(_rotr(occ, wt + 1))


@tiny
def pick_frfcfs(ch, cc, cfg, tb, t, block, padd):
    """The best memory command under FR-FCFS: (time, class, seq, command, bank, queue slot); time INF if
    none issues before its limit.

    One pass over the ready sets computes the exact earliest cycle of each candidate in them and keeps
    the best; each that cannot issue at `t` moves to the bucket of that cycle, and a whole group that
    cannot beat the best so far moves to the bucket of its shared bound. Candidates still in the wheel
    may only beat the best if their bucket comes no later than it: those buckets are emptied and the
    pass repeated."""
    touched = ch.m_touch
    if touched != U0:
        for kind in range(4):
            ch.ready[kind] |= touched
        ch.m_touch = U0
    _fold(ch, t)
    pending = _next_bucket(ch)                   # the earliest bound not yet looked at
    bt, bcls, bseq, bcmd, bb, bslot = INF, np.int64(9), INF, np.int64(-1), np.int64(-1), np.int64(-1)
    while True:
        for kind in range(4):
            m = ch.ready[kind] & _valid(ch, kind)
            ch.ready[kind] = m
            if m == U0:
                continue
            cls = CLS_HIT if kind < KD_PRE else CLS_OTHER
            cmd = CMD_OF[kind]
            for rank in range(cfg.nrank):
                mr = m & rank_mask(rank, cfg.bpr)
                if mr == U0:
                    continue
                g = max(t, ch.nt_ch[cmd], ch.nt_rank[rank, cmd])
                if kind == KD_ACT:
                    g = max(g, ready_window(ch, cfg, tb, rank, np.int64(1)))
                if not _better(g, cls, NEVER, bt, bcls, bseq):
                    _defer(ch, kind, mr, g)      # no bank of the group can win
                    continue
                lim, ptr, plim = rank_limits(ch, cfg, rank, block, padd)
                while mr != U0:
                    b = lowest(mr)
                    mr &= mr - U1
                    r = max(g, ch.nt_bank[b, cmd], ch.nt_bg[b >> cfg.bpg_sh, cmd])
                    if r > t:
                        _defer(ch, kind, bit(b), r)
                    if r >= (plim if b == ptr else lim):
                        continue                 # held back by a refresh or PIM bundle
                    s = _slot(ch, kind, b)
                    seq = cc.q[s].seq
                    if _better(r, cls, seq, bt, bcls, bseq):
                        bt, bcls, bseq, bcmd, bb, bslot = r, cls, seq, cmd, b, s
        if pending > bt or pending == INF:
            return bt, bcls, bseq, bcmd, bb, bslot
        _fold(ch, bt if bt < INF else pending)
        pending = _next_bucket(ch)
