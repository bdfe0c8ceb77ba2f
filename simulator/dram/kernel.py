"""The numba DRAM/PIM engine: a channel controller that issues command after command, event by event.

For each channel, the controller finds the earliest cycle at which some command may issue (every
timing rule, activation window, refresh and PIM blocking considered), breaks ties by priority (refresh,
then PIM, then row hits, then the oldest request), and issues it. Time jumps from command to command;
no cycle is stepped through. Channels share nothing, so each runs on its own.

Weighing the queued requests is the hot path. A bank's next memory command is a row hit (RD or WR),
a PRE (its open row serves no queued request) or an ACT (no row open); bank sets (`bm`) say which banks
are in which case, and each bank keeps its oldest read and write hit. A command's earliest cycle is the
latest of its bank's, bank group's, rank's and channel's bounds; the rank and channel parts are the same
for every bank of a rank, so they are read once per (rank, command) as a bound on the whole group, and a
group that cannot beat the best candidate so far (an ACT group waiting for tFAW, say) is skipped whole.
Groups are weighed hits first, since a ready hit wins ties.

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
from loomsim.simulator.dram.kernel_rules import (I64, U0, U1, apply, bit, close_row, entry, find_hit, jit, log,
                                                 lowest, open_row, push_window, rank_bits, rank_mask, ready,
                                                 ready1, ready_bank, ready_window, set_hits, tiny)
from loomsim.simulator.dram.state import (B_HEAD, B_PROW, B_QN, B_ROW, B_RS, B_TAIL, B_WS, ERR_OUT_FULL,
                                          ERR_PIM_ROW_CLOSED, F_ARR, F_BANK, F_COL, F_ID, F_ROW, F_WRITE, H_ERR,
                                          H_FHEAD, H_FTAIL, H_LASTPIM, H_NFREE, H_NOUT, H_NOW, H_NQ, H_PHEAD,
                                          H_PTAIL, H_SEQ, INF, M_HIT, M_OPEN, M_Q, NEVER, O_DONE, O_ENTER, O_ID,
                                          O_WRITE, OP_COMP, OP_READRES, P_ARR, P_OP, Q_BANK, Q_COL, Q_ENTER, Q_ID,
                                          Q_NEXT, Q_PREV, Q_ROW, Q_SEQ, Q_WRITE, R_REFDUE, R_REFPTR)

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
        last = st.bank[c, b, B_TAIL]             # append to the bank's list
        e[Q_NEXT], e[Q_PREV] = -1, last
        if last >= 0:
            st.q[c, last, Q_NEXT] = s
        else:
            st.bank[c, b, B_HEAD] = s
            st.bm[c, M_Q] |= bit(b)
        st.bank[c, b, B_TAIL] = s
        st.bank[c, b, B_QN] += 1
        if st.bank[c, b, B_ROW] == f[F_ROW]:     # a new hit; it is the oldest only if there was none
            hs = B_WS if f[F_WRITE] else B_RS
            if st.bank[c, b, hs] < 0:
                st.bank[c, b, hs] = s
                st.bm[c, M_HIT] |= bit(b)
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
        return REF, np.int64(rank * cfg.bpr), rank_mask(rank, cfg.bpr)
    b = rank * cfg.bpr + st.rank[c, rank, R_REFPTR]
    if st.bank[c, b, B_ROW] >= 0:
        return PRE, b, U0
    if st.bank[c, b, B_PROW] >= 0:
        return PPRE, np.int64(-1), bit(b)
    return REFPB, b, U0


@tiny
def _postponed(st, cfg, c):
    """How long refresh may wait now. While a PIM compute or read-out step is under way, refresh is
    postponed by up to `cfg.postpone` intervals (JEDEC lets a controller postpone up to 8 REF commands),
    so it does not close the rows the step computes on; the postponed ones catch up after."""
    if st.chs[c, H_PHEAD] < st.chs[c, H_PTAIL]:
        op = st.pim[c, st.chs[c, H_PHEAD] & (st.pim.shape[1] - 1), P_OP]
        if op == OP_COMP or op == OP_READRES:
            return cfg.postpone * (cfg.tREFIpb if cfg.refresh == 2 else cfg.tREFI)
    return np.int64(0)


@tiny
def _due(st, cfg, c, rank):
    """When the rank's next refresh must issue."""
    return st.rank[c, rank, R_REFDUE] + _postponed(st, cfg, c)


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


@tiny
def _rank_limits(st, cfg, c, rank, block, padd):
    """(limit of the rank's banks, the bank refresh points at, that bank's limit): memory commands must
    issue before the limit, i.e. before a blocking PIM bundle and before a refresh that is due."""
    if cfg.refresh == 1:
        return min(block, st.rank[c, rank, R_REFDUE] + padd), np.int64(-1), block
    if cfg.refresh == 2:
        return block, rank * cfg.bpr + st.rank[c, rank, R_REFPTR], min(block, st.rank[c, rank, R_REFDUE] + padd)
    return block, np.int64(-1), block


# ---- choosing the next command ------------------------------------------------------------------------

@tiny
def _better(r, cls, seq, bt, bcls, bseq):
    return r < bt or (r == bt and (cls < bcls or (cls == bcls and seq < bseq)))


@tiny
def _pick_frfcfs(st, cfg, win_n, win_t, c, t, block, padd):
    """The best memory command under FR-FCFS: (time, class, seq, command, bank, queue slot); time INF if
    none. Candidates are weighed in groups of one rank and one command; a group whose shared bound
    (rank and channel rules, activation windows) already loses is skipped without visiting its banks."""
    bt, bcls, bseq, bcmd, bb, bslot = INF, np.int64(9), INF, np.int64(-1), np.int64(-1), np.int64(-1)
    queued, opened, hits = st.bm[c, M_Q], st.bm[c, M_OPEN], st.bm[c, M_HIT]
    if hits != U0:                                   # row hits: RD or WR of the oldest read and write hit
        for rank in range(cfg.nrank):
            m = hits & rank_mask(rank, cfg.bpr)
            if m == U0:
                continue
            lim, ptr, plim = _rank_limits(st, cfg, c, rank, block, padd)
            if lim <= t:
                continue
            g_rd = max(t, st.nt_ch[c, RD], st.nt_rank[c, rank, RD])
            g_wr = max(t, st.nt_ch[c, WR], st.nt_rank[c, rank, WR])
            while m != U0:
                b = lowest(m)
                m &= m - U1
                bl = plim if b == ptr else lim
                bg = b >> cfg.bpg_sh
                s = st.bank[c, b, B_RS]
                if s >= 0:
                    seq = st.q[c, s, Q_SEQ]
                    r = max(g_rd, st.nt_bank[c, b, RD], st.nt_bg[c, bg, RD])
                    if r < bl and _better(r, CLS_HIT, seq, bt, bcls, bseq):
                        bt, bcls, bseq, bcmd, bb, bslot = r, CLS_HIT, seq, RD, b, s
                s = st.bank[c, b, B_WS]
                if s >= 0:
                    seq = st.q[c, s, Q_SEQ]
                    r = max(g_wr, st.nt_bank[c, b, WR], st.nt_bg[c, bg, WR])
                    if r < bl and _better(r, CLS_HIT, seq, bt, bcls, bseq):
                        bt, bcls, bseq, bcmd, bb, bslot = r, CLS_HIT, seq, WR, b, s
    for cmd in (PRE, ACT):                           # row misses: close the open row, or open the next one
        group = queued & opened & ~hits if cmd == PRE else queued & ~opened
        if group == U0:
            continue
        for rank in range(cfg.nrank):
            m = group & rank_mask(rank, cfg.bpr)
            if m == U0:
                continue
            lim, ptr, plim = _rank_limits(st, cfg, c, rank, block, padd)
            g = max(t, st.nt_ch[c, cmd], st.nt_rank[c, rank, cmd])
            if cmd == ACT:
                g = max(g, ready_window(st, cfg, win_n, win_t, c, rank, np.int64(1)))
            if g >= lim or not _better(g, CLS_OTHER, NEVER, bt, bcls, bseq):
                continue                             # no bank of the group can win
            while m != U0:
                b = lowest(m)
                m &= m - U1
                s = st.bank[c, b, B_HEAD]
                seq = st.q[c, s, Q_SEQ]
                r = max(g, st.nt_bank[c, b, cmd], st.nt_bg[c, b >> cfg.bpg_sh, cmd])
                if r < (plim if b == ptr else lim) and _better(r, CLS_OTHER, seq, bt, bcls, bseq):
                    bt, bcls, bseq, bcmd, bb, bslot = r, CLS_OTHER, seq, cmd, b, s
    return bt, bcls, bseq, bcmd, bb, bslot


@tiny
def _pick_fcfs(st, cfg, win_n, win_t, c, t, block, padd):
    """The command the oldest queued request needs next (FCFS): its RD/WR if it hits the open row, else
    PRE or ACT. Same result layout as `_pick_frfcfs`."""
    m = st.bm[c, M_Q]
    b, s, oldest = np.int64(-1), np.int64(-1), INF
    while m != U0:
        k = lowest(m)
        m &= m - U1
        h = st.bank[c, k, B_HEAD]
        if st.q[c, h, Q_SEQ] < oldest:
            b, s, oldest = k, h, st.q[c, h, Q_SEQ]
    lim, ptr, plim = _rank_limits(st, cfg, c, b >> cfg.bpr_sh, block, padd)
    if b == ptr:
        lim = plim
    row = st.bank[c, b, B_ROW]
    if row >= 0 and st.q[c, s, Q_ROW] == row:
        cmd, cls = (WR if st.q[c, s, Q_WRITE] else RD), CLS_HIT
        r = max(t, ready_bank(st, c, b, cmd, cfg.bpr_sh, cfg.bpg_sh))
    else:
        cmd, cls = (PRE if row >= 0 else ACT), CLS_OTHER
        r = max(t, ready1(st, cfg, win_n, win_t, c, cmd, b))
    if lim <= t or r >= lim:
        return INF, np.int64(9), INF, np.int64(-1), np.int64(-1), np.int64(-1)
    return r, cls, oldest, cmd, b, s


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
    padd = _postponed(st, cfg, c) if pim_queued and cfg.refresh != 0 else np.int64(0)
    block = INF
    if pim_queued and cfg.pim == C.PIM_BLOCKED:   # memory commands wait while a bundle is queued
        block = st.pim[c, st.chs[c, H_PHEAD] & (st.pim.shape[1] - 1), P_ARR]
    if st.chs[c, H_NQ] > 0 and block > t:
        if cfg.sched == 0:
            bt, bcls, bseq, bcmd, bb, bslot = _pick_frfcfs(st, cfg, win_n, win_t, c, t, block, padd)
        else:
            bt, bcls, bseq, bcmd, bb, bslot = _pick_fcfs(st, cfg, win_n, win_t, c, t, block, padd)
        if bcmd >= 0:
            kind = K_MEM
    if pim_queued:
        r, cmd, b, m, i, lim = _pim_candidate(st, cfg, win_n, win_t, c, t)
        if cmd == STUCK:
            return INF, np.int64(-1), cmd, b, np.int64(-1), U0
        if r < lim and _better(r, CLS_PIM, np.int64(0), bt, bcls, bseq):
            bt, bcls, bseq, kind, bcmd, bb, bslot, bmask = r, CLS_PIM, np.int64(0), K_PIM, cmd, b, i, m
    if cfg.refresh != 0:
        for rank in range(cfg.nrank):
            if st.rank[c, rank, R_REFDUE] + padd > bt:   # its refresh cannot come first
                continue
            r, cmd, b, m = _refresh_candidate(st, cfg, win_n, win_t, c, t, rank)
            if _better(r, CLS_REF, np.int64(rank), bt, bcls, bseq):
                bt, bcls, bseq, kind, bcmd, bb, bslot, bmask = r, CLS_REF, np.int64(rank), K_REF, cmd, b, \
                    np.int64(rank), m
    return bt, kind, bcmd, bb, bslot, bmask


# ---- issuing --------------------------------------------------------------------------------------

@tiny
def _issue_column(st, cfg, upd_n, upd_f, upd_v, c, cmd, b, s, t):
    """A RD or WR for queue slot `s` (the bank's oldest read or write hit); the page policy decides
    whether it auto-precharges (RDA, WRA)."""
    prev, nxt = st.q[c, s, Q_PREV], st.q[c, s, Q_NEXT]     # unlink it from the bank's list
    if prev >= 0:
        st.q[c, prev, Q_NEXT] = nxt
    else:
        st.bank[c, b, B_HEAD] = nxt
    if nxt >= 0:
        st.q[c, nxt, Q_PREV] = prev
    else:
        st.bank[c, b, B_TAIL] = prev
    st.bank[c, b, B_QN] -= 1
    if st.bank[c, b, B_QN] == 0:
        st.bm[c, M_Q] &= ~bit(b)
    row, write = st.bank[c, b, B_ROW], st.q[c, s, Q_WRITE]
    if write:                                    # the next oldest hit of its kind takes its place
        set_hits(st, c, b, st.bank[c, b, B_RS], find_hit(st, c, nxt, row, 1))
    else:
        set_hits(st, c, b, find_hit(st, c, nxt, row, 0), st.bank[c, b, B_WS])
    auto = cfg.page == 1 or (cfg.page == 2 and st.bank[c, b, B_RS] < 0 and st.bank[c, b, B_WS] < 0)
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
        st.out[c, o, O_DONE] = t + (cfg.CWL if write else cfg.CL) + cfg.tBL
        st.out[c, o, O_WRITE] = write
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
def run(cfg, upd_n, upd_f, upd_v, win_n, win_t, st, until, channels):
    """Advance each of `channels` to `until` (exclusive; INF: until its work is done). Returns commands
    issued."""
    total = 0
    for c in channels:
        total += _run_channel(cfg, upd_n, upd_f, upd_v, win_n, win_t, st, c, until)
    return total
