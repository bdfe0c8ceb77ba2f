"""Kernel part for FR-FCFS: the best next command of the queued requests, weighed in one of two ways.

Every bank with queued requests has a next memory command, of one of four kinds: the RD of its oldest
read hitting the open row, the WR of its oldest write hitting it, PRE (its open row serves no queued
request), ACT (no row open). Its earliest cycle is the latest of a part of its own (same-bank and
bank-group rules) and a part shared by its (kind, rank) group (rank and channel rules, and for ACT the
activation windows). The choice is the least (earliest cycle, class, age): a row hit wins a tie, then
the oldest request. This order is total, so the two ways below choose the same command.

Group by group (`_group`), when few banks have queued requests (a sequential stream keeps one or two
busy): each group keeps a lower bound of its banks' own parts (`ch.minp`): earliest-issue times only
grow while a bank's next command stays the same, and a bank whose next command changes resets its
group's bound. A group whose bound cannot beat the best candidate so far (its hits waiting for tRCD,
its ACTs for tFAW) is skipped without visiting its banks; a visited group's bound is made exact. Groups
are weighed hits first, since a hit wins ties. Each visited bank costs a few unpredictable branches.

All banks at once (`pick_all`), from `cfg.vec_on` busy banks on (random traffic keeps 20 of 32 busy):
each bank's candidate (kind, command, same-bank part, priority) is kept in per-bank arrays, made again
only for the banks a command or an admission changed (`touch` and `apply` mark them in `ch.m_dirty` and
`ch.m_own`); the bank-group part is read from the bank group's row at each pick, so a command changes
no other bank's candidate. The choice is the least of one integer key per bank, eight banks a vector
step (`kernel_rules.scan_keys`; beyond two ranks or below four banks a bank group, a loop numba
vectorises). It hands back to group by group below `cfg.vec_off` busy banks, when a bank has both a
read and a write hit (two candidates), when the ages of the queued requests outgrow the key, and when
the least key is held back by a refresh or PIM limit.
"""
from __future__ import annotations

import numpy as np

from loomsim.simulator.dram import commands as C
from loomsim.simulator.dram.kernel_rules import (CAP, I64, U0, U1, candidate, low_bits, lowest, popcount,
                                                 rank_mask, scan_keys, tiny)
from loomsim.simulator.dram.state import INF, NEVER

KD_RD, KD_WR, KD_PRE, KD_ACT = (I64(v) for v in range(4))
RD, WR, PRE, ACT = I64(C.RD), I64(C.WR), I64(C.PRE), I64(C.ACT)
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
def _better(r, cls, seq, bt, bcls, bseq):
    return r < bt or (r == bt and (cls < bcls or (cls == bcls and seq < bseq)))


@tiny
def _group(ch, cc, cfg, tb, t, block, padd, kind, cmd, cls, m, best):
    """Weigh the banks `m` whose next command is `cmd`, one rank at a time; `best` and the result are
    (time, class, seq, command, bank, slot)."""
    bt, bcls, bseq, bcmd, bb, bslot = best
    for rank in range(cfg.nrank):
        mr = m & rank_mask(rank, cfg.bpr)
        if mr == U0:
            continue
        g = max(t, ch.nt_ch[cmd], ch.nt_rank[rank, cmd])
        if cmd == ACT:
            g = max(g, ch.wready[rank])
        if not _better(max(g, ch.minp[kind, rank]), cls, NEVER, bt, bcls, bseq):
            continue                             # no bank of the group can win
        lim, ptr, plim = rank_limits(ch, cfg, rank, block, padd)
        low = INF
        while mr != U0:
            b = lowest(mr)
            mr &= mr - U1
            own = max(ch.nt_bank[b, cmd], ch.nt_bg[b >> cfg.bpg_sh, cmd])
            low = min(low, own)
            r = max(g, own)
            if r > bt or r >= (plim if b == ptr else lim):
                continue                         # later than the best, or held back by a refresh or PIM
            s = ch.rs[b] if kind == KD_RD else (ch.ws[b] if kind == KD_WR else ch.head[b])
            seq = cc.q[s].seq
            if _better(r, cls, seq, bt, bcls, bseq):
                bt, bcls, bseq, bcmd, bb, bslot = r, cls, seq, cmd, b, s
        ch.minp[kind, rank] = low
    return bt, bcls, bseq, bcmd, bb, bslot


SEQ = 24                    # a key holds ages up to 2**SEQ (counted from `ch.vbase`)


@tiny
def pick_all(ch, cc, cfg, tb, t, block, padd):
    """The same choice as `_group` by group, made by weighing every bank at once from the candidate
    arrays (`keep_candidates` brings them up to date first): each bank's earliest cycle is the latest
    of its same-bank part, its bank group's part and its group's shared part, and its priority one
    integer, (offset from t, class, age, bank), so the choice is the least key, found without branches.
    For one or two ranks and four or more banks a bank group the shared parts are made in vector
    registers from the rank and channel rows and looked up there, and the bank-group parts from the two
    rows eight banks span (`scan_keys`); otherwise the shared parts are written to `ch.vg` and a loop
    (vectorised by numba, with gathers) looks both up.
    Limits (a refresh due, a blocking PIM bundle) only remove candidates, so a least key within its
    limit is the choice. Returns time -1 when this cannot decide (no candidate, an age or an offset
    beyond the key's bits, or the least key held back by a limit); `pick_frfcfs` then weighs group by
    group."""
    if cfg.nrank <= 2 and cfg.bpg >= 4:          # shared parts of both ranks in registers (scan_keys)
        best = scan_keys(ch.cown.ctypes.data, ch.ck.ctypes.data, ch.cg.ctypes.data, ch.ckey.ctypes.data,
                         ch.nt_bg.ctypes.data, cfg.bpg_sh, ch.nt_rank.ctypes.data, ch.nt_ch.ctypes.data,
                         ch.wready[0], ch.wready[1], (cfg.nbank + 7) >> 3, t)
    else:
        for rank in range(cfg.nrank):
            k = rank << 3
            for cmd in (RD, WR, PRE, ACT):
                ch.vg[k + cmd] = max(t, ch.nt_ch[cmd], ch.nt_rank[rank, cmd])
            ch.vg[k + ACT] = max(ch.vg[k + ACT], ch.wready[rank])
        best = INF
        for b in range(cfg.nbank):
            c = ch.cg[b]
            r = max(ch.cown[b], ch.nt_bg[c >> 3, c & 7], ch.vg[ch.ck[b]])
            best = min(best, (min(r - t, CAP) << 32) + ch.ckey[b])
    b = best & 63
    d = best >> 32
    if d == CAP:                                 # no bank has a command, or the offset is beyond its bits
        return np.int64(-1), np.int64(9), INF, np.int64(-1), np.int64(-1), np.int64(-1)
    if t + d >= rank_limits(ch, cfg, b >> cfg.bpr_sh, block, padd)[0]:
        return np.int64(-1), np.int64(9), INF, np.int64(-1), np.int64(-1), np.int64(-1)
    s = ch.cslot[b]
    return t + d, (CLS_OTHER if (best >> 31) & 1 else CLS_HIT), cc.q[s].seq, ch.ccmd[b], b, s


@tiny
def start_all(ch, cc, cfg):
    """Count ages from the oldest queued request and make every bank's candidate again; False when the
    ages of the queued requests span more than a key holds."""
    base = ch.seq
    m = ch.m_q
    while m != U0:
        b = lowest(m)
        m &= m - U1
        base = min(base, cc.q[ch.head[b]].seq)
    ch.vbase = base
    ch.m_dirty = low_bits(cfg.nbank)
    return ch.seq - base < (1 << SEQ)


@tiny
def keep_candidates(ch, cc, cfg):
    """Make the candidates of the banks whose next command changed since the last pick (`touch` marks
    them), and the same-bank parts of those a command changed without changing their next command
    (`apply` marks them: a refresh or PIM command on many banks)."""
    m = ch.m_dirty
    while m != U0:
        b = lowest(m)
        m &= m - U1
        candidate(ch, cc.q, cfg, b)
    m = ch.m_own & ~ch.m_dirty & ch.m_q            # a bank without a command keeps own part INF
    while m != U0:
        b = lowest(m)
        m &= m - U1
        ch.cown[b] = ch.nt_bank[b, ch.ccmd[b]]
    ch.m_dirty = U0
    ch.m_own = U0


@tiny
def pick_frfcfs(ch, cc, cfg, tb, t, block, padd):
    """The best memory command under FR-FCFS: (time, class, seq, command, bank, queue slot); time INF if
    none issues before its limit."""
    n = popcount(ch.m_q)
    if ch.vmode == 0:
        if n >= cfg.vec_on and cfg.refresh != 2:
            ch.vmode = 1
            ch.vfull = start_all(ch, cc, cfg)
    elif n < cfg.vec_off:
        ch.vmode = 0
    elif ch.seq - ch.vbase >= (1 << SEQ):        # ages count from a new base
        ch.vfull = start_all(ch, cc, cfg)
    if ch.vmode and ch.vfull and (ch.m_rs & ch.m_ws) == U0:   # one candidate per bank
        keep_candidates(ch, cc, cfg)
        best = pick_all(ch, cc, cfg, tb, t, block, padd)
        if best[0] >= 0:
            return best
    best = (INF, np.int64(9), INF, np.int64(-1), np.int64(-1), np.int64(-1))
    if ch.m_rs != U0:
        best = _group(ch, cc, cfg, tb, t, block, padd, KD_RD, RD, CLS_HIT, ch.m_rs, best)
    if ch.m_ws != U0:
        best = _group(ch, cc, cfg, tb, t, block, padd, KD_WR, WR, CLS_HIT, ch.m_ws, best)
    m = ch.m_q & ch.m_open & ~(ch.m_rs | ch.m_ws)
    if m != U0:
        best = _group(ch, cc, cfg, tb, t, block, padd, KD_PRE, PRE, CLS_OTHER, m, best)
    m = ch.m_q & ~ch.m_open
    if m != U0:
        best = _group(ch, cc, cfg, tb, t, block, padd, KD_ACT, ACT, CLS_OTHER, m, best)
    return best
