"""The numba DRAM/PIM engine: a channel controller that issues command after command, event by event.

For each channel, the controller finds the earliest cycle at which some command may issue (every
timing rule, activation window, refresh and PIM blocking considered), breaks ties by priority (refresh,
then PIM, then row hits, then the oldest request), and issues it. Time jumps from command to command;
no cycle is stepped through. Channels share nothing, so each runs on its own.

A run stops before the first command at or after `until`, unless a known request has arrived by then
and waits for a queue slot: such a command cannot be changed by requests the caller has not submitted
yet, since those arrive no earlier and queue behind it. `until = INF` runs until no work is left.
`reference.py` implements the same rules cycle by cycle in plain Python; the tests compare the two
command logs exactly.
"""
from __future__ import annotations

import numpy as np

from loomsim.simulator.dram import commands as C
from loomsim.simulator.dram.kernel_pim import STUCK, issue_pim, pim_next, retire_done
from loomsim.simulator.dram.kernel_rules import (I64, U0, apply, bit, close_row, entry, jit, log, open_row,
                                                 push_window, rank_bits, ready, ready1, ready_bank, tiny)
from loomsim.simulator.dram.state import (B_HIT, B_LB, B_LBR, B_LBW, B_POS, B_PROW, B_QN, B_ROW, B_WHIT, ERR_OUT_FULL, ERR_PIM_ROW_CLOSED, F_ARR, F_BANK,
                                          F_COL, F_ID, F_ROW, F_WRITE, H_ERR, H_FHEAD, H_FTAIL, H_LASTPIM, H_NFREE,
                                          H_NACTIVE, H_NOUT, H_NOW, H_NQ, H_PHEAD, H_PTAIL, H_SEQ, INF, O_DONE, O_ENTER, O_ID, O_WRITE,
                                          OP_COMP, OP_READRES, P_ARR, P_OP, Q_BANK, Q_COL, Q_ENTER, Q_ID, Q_ROW, Q_SEQ, Q_WRITE, R_REFDUE,
                                          R_REFPTR)

ACT, PRE, PREA, RD, WR, RDA, WRA, REF, REFPB, PPRE = (I64(v) for v in (C.ACT, C.PRE, C.PREA, C.RD, C.WR, C.RDA, C.WRA,
                                                                        C.REF, C.REFPB, C.PPRE))
MEM, PIMBUF = I64(B_ROW), I64(B_PROW)
# what a candidate is, and its priority class when several are ready in the same cycle (lower wins)
K_NONE, K_REF, K_PIM, K_MEM = (I64(v) for v in range(4))
CLS_REF, CLS_PIM, CLS_HIT, CLS_OTHER = (I64(v) for v in range(4))


# ---- the queue --------------------------------------------------------------------------------------

@tiny
def _has_room(st, cfg, c, b):
    if cfg.qmode == 0:
        return st.chs[c, H_NQ] < cfg.qsize
    return st.bank[c, b, B_QN] < cfg.qsize


@tiny
def _admit(st, cfg, c, t):
    """Move arrived requests into the controller queue, in arrival order, while there is room."""
    cap = st.fifo.shape[1]
    while st.chs[c, H_FHEAD] < st.chs[c, H_FTAIL]:
        f = st.fifo[c, st.chs[c, H_FHEAD] & (cap - 1)]
        b = f[F_BANK]
        if f[F_ARR] > t or not _has_room(st, cfg, c, b):
            return
        st.chs[c, H_NFREE] -= 1
        s = st.q_free[c, st.chs[c, H_NFREE]]
        e = st.q[c, s]
        e[Q_BANK], e[Q_ROW], e[Q_COL], e[Q_WRITE] = b, f[F_ROW], f[F_COL], f[F_WRITE]
        e[Q_ENTER], e[Q_ID], e[Q_SEQ] = t, f[F_ID], st.chs[c, H_SEQ]
        st.chs[c, H_SEQ] += 1
        n = st.bank[c, b, B_QN]
        st.bq[c, b, n] = s
        st.bank[c, b, B_QN] = n + 1
        if n == 0:                               # the bank joins the active list
            k = st.chs[c, H_NACTIVE]
            st.active[c, k] = b
            st.bank[c, b, B_POS] = k
            st.chs[c, H_NACTIVE] = k + 1
        if st.bank[c, b, B_ROW] == f[F_ROW]:
            st.bank[c, b, B_HIT] += 1
            st.bank[c, b, B_WHIT] += f[F_WRITE]
        st.chs[c, H_NQ] += 1
        st.chs[c, H_FHEAD] += 1


@tiny
def _next_admission(st, cfg, c):
    """Arrival cycle of the next request if a queue slot is free for it now, else INF."""
    if st.chs[c, H_FHEAD] >= st.chs[c, H_FTAIL]:
        return INF
    f = st.fifo[c, st.chs[c, H_FHEAD] & (st.fifo.shape[1] - 1)]
    return f[F_ARR] if _has_room(st, cfg, c, f[F_BANK]) else INF


@tiny
def _waiting_at(st, c, t):
    """True when a known request has arrived by `t` and still waits for a queue slot."""
    if st.chs[c, H_FHEAD] >= st.chs[c, H_FTAIL]:
        return False
    return st.fifo[c, st.chs[c, H_FHEAD] & (st.fifo.shape[1] - 1), F_ARR] <= t


# ---- refresh --------------------------------------------------------------------------------------

@jit
def _refresh_next(st, cfg, c, rank):
    """(command, bank, mask) the refresh of `rank` needs next: close rows first, then refresh."""
    if cfg.refresh == 1:
        mem, pim, first = U0, U0, np.int64(-1)
        for i in range(cfg.bpr):
            b = rank * cfg.bpr + i
            if st.bank[c, b, B_ROW] >= 0:
                mem |= bit(b)
                if first < 0:
                    first = b
            if st.bank[c, b, B_PROW] >= 0:
                pim |= bit(b)
        if mem != U0:
            return PREA, first, mem
        if pim != U0:
            return PPRE, np.int64(-1), pim
        return REF, np.int64(rank * cfg.bpr), rank_bits(~U0, 0, cfg.bpr) << np.uint64(rank * cfg.bpr)
    b = rank * cfg.bpr + st.rank[c, rank, R_REFPTR]
    if st.bank[c, b, B_ROW] >= 0:
        return PRE, b, U0
    if st.bank[c, b, B_PROW] >= 0:
        return PPRE, np.int64(-1), bit(b)
    return REFPB, b, U0


@tiny
def _due(st, cfg, c, rank):
    """When the rank's next refresh must issue. While a PIM compute or read-out step is under way, refresh
    is postponed by up to `cfg.postpone` intervals (JEDEC lets a controller postpone up to 8 REF
    commands), so it does not close the rows the step computes on; the postponed ones catch up after."""
    due = st.rank[c, rank, R_REFDUE]
    if st.chs[c, H_PHEAD] < st.chs[c, H_PTAIL]:
        op = st.pim[c, st.chs[c, H_PHEAD] & (st.pim.shape[1] - 1), P_OP]
        if op == OP_COMP or op == OP_READRES:
            due += cfg.postpone * (cfg.tREFIpb if cfg.refresh == 2 else cfg.tREFI)
    return due


@tiny
def _limit(st, cfg, c, mask, b):
    """The earliest refresh due that a command on bank `b` (or on `mask`) must not reach: commands to a
    rank (all-bank refresh) or a bank (per-bank refresh) whose refresh is due wait for it."""
    lim = INF
    if cfg.refresh == 0:
        return lim
    for rank in range(cfg.nrank):
        if cfg.refresh == 1:
            hit = rank_bits(mask, rank, cfg.bpr) != U0 if mask != U0 else (b >> cfg.bpr_sh) == rank
        else:
            rb = rank * cfg.bpr + st.rank[c, rank, R_REFPTR]
            hit = (mask & bit(rb)) != U0 if mask != U0 else b == rb
        if hit:
            lim = min(lim, _due(st, cfg, c, rank))
    return lim


# ---- choosing the next command ------------------------------------------------------------------------

@tiny
def _better(r, cls, seq, bt, bcls, bseq):
    return r < bt or (r == bt and (cls < bcls or (cls == bcls and seq < bseq)))


@jit
def _refresh_candidate(st, cfg, win_n, win_t, c, t, rank):
    """(ready cycle, command, bank, mask) of the refresh work of `rank`."""
    cmd, b, m = _refresh_next(st, cfg, c, rank)
    r = ready(st, cfg, win_n, win_t, c, cmd, b, U0 if cmd == PRE or cmd == REFPB else m)
    return max(r, _due(st, cfg, c, rank), t), cmd, b, m


@jit
def _pim_candidate(st, cfg, win_n, win_t, c, t):
    """(ready cycle, command, bank, mask, ring index, refresh limit) of the head PIM op's next command."""
    i = st.chs[c, H_PHEAD] & (st.pim.shape[1] - 1)
    cmd, b, m = pim_next(st, cfg, c, i)
    if cmd == STUCK:
        return INF, cmd, b, m, i, INF
    r = max(t, st.pim[c, i, P_ARR], st.chs[c, H_LASTPIM], ready(st, cfg, win_n, win_t, c, cmd, b, m))
    return r, cmd, b, m, np.int64(i), _limit(st, cfg, c, m, b)


@tiny
def _pick(st, cfg, win_n, win_t, c, t):
    """The command to issue next on channel `c` at or after `t`:
    (time, kind, command, bank, queue slot / PIM index / rank, bank mask); kind K_NONE: nothing to do.
    Memory candidates are weighed first (the hot path); PIM and refresh candidates are computed only
    when they exist and could win."""
    bt, bcls, bseq = INF, np.int64(9), INF
    kind, bcmd, bb, bslot, bmask = K_NONE, np.int64(-1), np.int64(-1), np.int64(-1), U0
    pim_queued = st.chs[c, H_PHEAD] < st.chs[c, H_PTAIL]
    block = INF
    if pim_queued and cfg.pim == C.PIM_BLOCKED:   # memory commands wait while a bundle is queued
        block = st.pim[c, st.chs[c, H_PHEAD] & (st.pim.shape[1] - 1), P_ARR]
    if st.chs[c, H_NQ] > 0:
        if cfg.refresh != 0:                     # each rank's refresh deadline, once per pick
            for rank in range(cfg.nrank):
                st.rlim[c, rank] = _due(st, cfg, c, rank)
        lo, hi = 0, st.chs[c, H_NACTIVE]         # positions in the list of banks with queued requests
        if cfg.sched == 1:                       # FCFS: only the oldest request may be served
            oldest = INF
            for k in range(hi):
                b = st.active[c, k]
                if st.q[c, st.bq[c, b, 0], Q_SEQ] < oldest:
                    oldest, lo = st.q[c, st.bq[c, b, 0], Q_SEQ], k
            hi = lo + 1
        for k0 in range(lo, hi):
            b = st.active[c, k0]
            n = st.bank[c, b, B_QN]
            lim = block
            if cfg.refresh == 1 or (cfg.refresh == 2 and b == (b >> cfg.bpr_sh) * cfg.bpr
                                    + st.rank[c, b >> cfg.bpr_sh, R_REFPTR]):
                lim = min(lim, st.rlim[c, b >> cfg.bpr_sh])
            if lim <= t:
                continue
            row = st.bank[c, b, B_ROW]
            first = st.bq[c, b, 0]
            if row >= 0 and st.bank[c, b, B_HIT] > 0 and (cfg.sched == 0 or st.q[c, first, Q_ROW] == row):
                rs, ws = np.int64(-1), np.int64(-1)     # the oldest read and the oldest write hitting the row
                want_w = st.bank[c, b, B_WHIT] > 0
                want_r = st.bank[c, b, B_HIT] > st.bank[c, b, B_WHIT]
                for k in range(n):
                    s = st.bq[c, b, k]
                    if st.q[c, s, Q_ROW] == row:
                        if st.q[c, s, Q_WRITE]:
                            if ws < 0:
                                ws = s
                        elif rs < 0:
                            rs = s
                        if ((rs >= 0 or not want_r) and (ws >= 0 or not want_w)) or cfg.sched == 1:
                            break
                for s in (rs, ws):
                    if s < 0:
                        continue
                    cmd = WR if st.q[c, s, Q_WRITE] else RD
                    lbk = B_LBW if cmd == WR else B_LBR
                    seq = st.q[c, s, Q_SEQ]
                    if not _better(max(t, st.bank[c, b, lbk]), CLS_HIT, seq, bt, bcls, bseq):
                        continue                 # its lower bound already loses
                    r = max(t, ready_bank(st, c, b, cmd, cfg.bpr_sh, cfg.bpg_sh))
                    st.bank[c, b, lbk] = r
                    if r < lim and _better(r, CLS_HIT, seq, bt, bcls, bseq):
                        bt, bcls, bseq, kind, bcmd, bb, bslot, bmask = r, CLS_HIT, seq, K_MEM, cmd, np.int64(b), s, U0
            else:
                seq = st.q[c, first, Q_SEQ]
                if not _better(max(t, st.bank[c, b, B_LB]), CLS_OTHER, seq, bt, bcls, bseq):
                    continue                     # its lower bound already loses
                cmd = PRE if row >= 0 else ACT
                r = max(t, ready1(st, cfg, win_n, win_t, c, cmd, np.int64(b)))
                st.bank[c, b, B_LB] = r
                if r < lim and _better(r, CLS_OTHER, seq, bt, bcls, bseq):
                    bt, bcls, bseq, kind, bcmd, bb, bslot, bmask = r, CLS_OTHER, seq, K_MEM, cmd, np.int64(b), first, U0
    if pim_queued:
        r, cmd, b, m, i, lim = _pim_candidate(st, cfg, win_n, win_t, c, t)
        if cmd == STUCK:
            return INF, np.int64(-1), cmd, b, np.int64(-1), U0
        if r < lim and _better(r, CLS_PIM, np.int64(0), bt, bcls, bseq):
            bt, bcls, bseq, kind, bcmd, bb, bslot, bmask = r, CLS_PIM, np.int64(0), K_PIM, cmd, b, i, m
    if cfg.refresh != 0:
        for rank in range(cfg.nrank):
            if _due(st, cfg, c, rank) > bt:      # its refresh cannot come first
                continue
            r, cmd, b, m = _refresh_candidate(st, cfg, win_n, win_t, c, t, rank)
            if _better(r, CLS_REF, np.int64(rank), bt, bcls, bseq):
                bt, bcls, bseq, kind, bcmd, bb, bslot, bmask = r, CLS_REF, np.int64(rank), K_REF, cmd, b, \
                    np.int64(rank), m
    return bt, kind, bcmd, bb, bslot, bmask


# ---- issuing --------------------------------------------------------------------------------------

@tiny
def _issue_column(st, cfg, upd_n, upd_f, upd_v, c, cmd, b, s, t):
    """A RD or WR for queue slot `s`; the page policy decides whether it auto-precharges (RDA, WRA)."""
    n = st.bank[c, b, B_QN]
    k = 0
    while st.bq[c, b, k] != s:
        k += 1
    for j in range(k, n - 1):
        st.bq[c, b, j] = st.bq[c, b, j + 1]
    st.bank[c, b, B_QN] = n - 1
    if n == 1:                                   # the bank leaves the active list (swap with the last)
        k, last = st.bank[c, b, B_POS], st.chs[c, H_NACTIVE] - 1
        moved = st.active[c, last]
        st.active[c, k] = moved
        st.bank[c, moved, B_POS] = k
        st.chs[c, H_NACTIVE] = last
    st.bank[c, b, B_HIT] -= 1
    st.bank[c, b, B_WHIT] -= st.q[c, s, Q_WRITE]
    auto = cfg.page == 1 or (cfg.page == 2 and st.bank[c, b, B_HIT] == 0)
    if auto:
        cmd = RDA if cmd == RD else WRA
    apply(st, cfg, upd_n, upd_f, upd_v, c, cmd, b, t)
    if auto:
        close_row(st, cfg, c, b, MEM, t)
    o = st.chs[c, H_NOUT]
    if o >= st.out.shape[1]:
        st.chs[c, H_ERR] = ERR_OUT_FULL
    else:
        st.out[c, o, O_ID] = st.q[c, s, Q_ID]
        st.out[c, o, O_ENTER] = st.q[c, s, Q_ENTER]
        st.out[c, o, O_DONE] = t + (cfg.CWL if cmd == WR or cmd == WRA else cfg.CL) + cfg.tBL
        st.out[c, o, O_WRITE] = st.q[c, s, Q_WRITE]
        st.chs[c, H_NOUT] = o + 1
    st.q_free[c, st.chs[c, H_NFREE]] = s
    st.chs[c, H_NFREE] += 1
    st.chs[c, H_NQ] -= 1
    return cmd


@jit
def _issue_refresh(st, cfg, upd_n, upd_f, upd_v, c, t, cmd, b, rank, mask):
    """A refresh-side command: PREA or REF on a rank, PIM-row precharge, or per-bank PRE and REFpb."""
    if cmd == PREA or cmd == REF:                # rank commands: every bank of the rank
        for i in range(cfg.bpr):
            bk = rank * cfg.bpr + i
            apply(st, cfg, upd_n, upd_f, upd_v, c, cmd, bk, t)
            if cmd == PREA and st.bank[c, bk, B_ROW] >= 0:
                close_row(st, cfg, c, bk, MEM, t)
        if cmd == REF:
            st.rank[c, rank, R_REFDUE] += cfg.tREFI
    elif cmd == PPRE:
        for bk in range(cfg.nbank):
            if mask & bit(bk):
                apply(st, cfg, upd_n, upd_f, upd_v, c, PPRE, bk, t)
                close_row(st, cfg, c, bk, PIMBUF, t)
    elif cmd == PRE:
        apply(st, cfg, upd_n, upd_f, upd_v, c, PRE, b, t)
        close_row(st, cfg, c, b, MEM, t)
    else:                                        # REFPB
        apply(st, cfg, upd_n, upd_f, upd_v, c, REFPB, b, t)
        st.rank[c, rank, R_REFDUE] += cfg.tREFIpb
        st.rank[c, rank, R_REFPTR] = (st.rank[c, rank, R_REFPTR] + 1) & (cfg.bpr - 1)


@tiny
def _issue(st, cfg, upd_n, upd_f, upd_v, c, t, kind, cmd, b, slot, mask):
    """Issue one command and update every piece of state it touches."""
    row = np.int64(-1)
    if kind == K_MEM:
        if cmd == ACT:
            row = st.q[c, slot, Q_ROW]
            apply(st, cfg, upd_n, upd_f, upd_v, c, ACT, b, t)
            open_row(st, cfg, c, b, row, MEM, t)
            push_window(st, cfg, c, (b >> cfg.bpr_sh), np.int64(1), t)
        elif cmd == PRE:
            apply(st, cfg, upd_n, upd_f, upd_v, c, PRE, b, t)
            close_row(st, cfg, c, b, MEM, t)
        else:
            row = st.q[c, slot, Q_ROW]
            cmd = _issue_column(st, cfg, upd_n, upd_f, upd_v, c, cmd, b, slot, t)
    elif kind == K_REF:
        _issue_refresh(st, cfg, upd_n, upd_f, upd_v, c, t, cmd, b, slot, mask)
    else:
        row = issue_pim(st, cfg, upd_n, upd_f, upd_v, c, t, cmd, b, slot, mask)
    st.cnt[c, cmd] += 1
    if cfg.log:
        log(st, c, t, cmd, b, row, mask)


@tiny
def _idle(st, c):
    return (st.chs[c, H_NQ] == 0 and st.chs[c, H_PHEAD] == st.chs[c, H_PTAIL]
            and st.chs[c, H_FHEAD] == st.chs[c, H_FTAIL])


@jit
def _run_channel(cfg, upd_n, upd_f, upd_v, win_n, win_t, st, c, until):
    t = st.chs[c, H_NOW]
    issued = 0
    while True:
        if _next_admission(st, cfg, c) <= t:
            _admit(st, cfg, c, t)
        if st.chs[c, H_PHEAD] < st.chs[c, H_PTAIL]:
            retire_done(st, cfg, c)
        bt, kind, cmd, b, slot, mask = _pick(st, cfg, win_n, win_t, c, t)
        if cmd == STUCK:
            st.chs[c, H_ERR] = ERR_PIM_ROW_CLOSED
            break
        a = _next_admission(st, cfg, c)
        if a < INF and a <= bt and a > t:
            t = a                                # an arrival may change the choice: admit it first
            continue
        if kind == K_NONE:
            break
        if bt >= until and not _waiting_at(st, c, bt):
            break
        if until == INF and kind == K_REF and _idle(st, c):
            break                                # only refresh is left: it waits until more work arrives
        _issue(st, cfg, upd_n, upd_f, upd_v, c, bt, kind, cmd, b, slot, mask)
        issued += 1
        t = bt
        if st.chs[c, H_ERR] != 0:
            break
    st.chs[c, H_NOW] = t
    return issued


@entry
def run(cfg, upd_n, upd_f, upd_v, win_n, win_t, st, until):
    """Advance every channel to `until` (exclusive; INF: until its work is done). Returns commands issued."""
    total = 0
    for c in range(st.chs.shape[0]):
        total += _run_channel(cfg, upd_n, upd_f, upd_v, win_n, win_t, st, c, until)
    return total
