"""The numba DRAM/PIM engine: a channel controller that issues command after command, event by event.

For each channel, the controller finds the earliest cycle at which some command may issue (every
timing rule, activation window, refresh and PIM blocking considered), breaks ties by priority (refresh,
then PIM, then row hits, then the oldest request), and issues it. Time jumps from command to command;
no cycle is stepped through. Channels share nothing, so each runs on its own.

Weighing the queued requests is the hot path: under FR-FCFS, `kernel_pick.py` weighs them in groups of
one rank and one kind of command, skipping groups that cannot win, or, when many banks are busy, all
banks at once in one vectorised loop over per-bank candidate arrays. Each bank keeps its queued requests
as a linked list, with its oldest read and write hit, and bank sets say which banks need which kind of
command next.

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
from loomsim.simulator.dram.kernel_rules import (I64, U0, U1, ChannelArrays, apply, bit, close_row, entry, find_hits,
                                                 jit, log, lowest, open_row, push_window, rank_bits, rank_mask, ready,
                                                 ready1, ready_bank, set_hits, tiny, touch)
from loomsim.simulator.dram.kernel_pick import pick_frfcfs, rank_limits
from loomsim.simulator.dram.state import ERR_OUT_FULL, ERR_PIM_ROW_CLOSED, INF, OP_COMP, OP_READRES

ACT, PRE, PREA, RD, WR, RDA, WRA, REF, REFPB, PPRE = (I64(v) for v in (C.ACT, C.PRE, C.PREA, C.RD, C.WR, C.RDA, C.WRA,
                                                                        C.REF, C.REFPB, C.PPRE))
# what a candidate is, and its priority class when several are ready in the same cycle (lower wins)
K_NONE, K_REF, K_PIM, K_MEM = (I64(v) for v in range(4))
CLS_REF, CLS_PIM, CLS_HIT, CLS_OTHER = (I64(v) for v in range(4))


# ---- the queue --------------------------------------------------------------------------------------

@tiny
def _has_room(ch, cfg, b):
    if cfg.qmode == 0:
        return ch.nq < cfg.qsize
    return ch.qn[b] < cfg.qsize


@tiny
def _admit(ch, cc, cfg, t):
    """Move arrived requests into the controller queue, in arrival order, while there is room. Returns
    the arrival cycle of the next request (after `t`) if a queue slot is free for it, else INF."""
    cap = cc.fifo.shape[0]
    while ch.fhead < ch.ftail:
        f = cc.fifo[ch.fhead & (cap - 1)]
        b = f.bank
        if not _has_room(ch, cfg, b):
            return INF
        if f.arr > t:
            return f.arr
        ch.nfree -= 1
        s = cc.free[ch.nfree]
        e = cc.q[s]
        e.bank, e.row, e.write, e.enter, e.id, e.seq = b, f.row, f.write, t, f.id, ch.seq
        ch.seq += 1
        last = ch.tail[b]                        # append to the bank's list
        e.next, e.prev = -1, last
        if last >= 0:
            cc.q[last].next = s
        else:                                    # the bank has a next command now
            ch.head[b] = s
            ch.m_q |= bit(b)
            touch(ch, cfg, b)
        ch.tail[b] = s
        ch.qn[b] += 1
        ch.nw[b] += f.write
        if ch.row[b] == f.row:                   # a new hit; it is the oldest only if there was none
            if f.write:
                if ch.ws[b] < 0:
                    set_hits(ch, cfg, b, ch.rs[b], s)
            elif ch.rs[b] < 0:
                set_hits(ch, cfg, b, s, ch.ws[b])
        ch.nq += 1
        ch.fhead += 1
    return INF


@tiny
def _waiting_at(ch, cc, t):
    """True when a known request has arrived by `t` and still waits for a queue slot."""
    if ch.fhead >= ch.ftail:
        return False
    return cc.fifo[ch.fhead & (cc.fifo.shape[0] - 1)].arr <= t


# ---- refresh --------------------------------------------------------------------------------------

@jit
def _refresh_next(ch, cfg, rank):
    """(command, bank, mask) the refresh of `rank` needs next: close rows first, then refresh."""
    if cfg.refresh == 1:
        mem, pim, first = U0, U0, np.int64(-1)
        for i in range(cfg.bpr):
            b = rank * cfg.bpr + i
            if ch.row[b] >= 0:
                mem |= bit(b)
                if first < 0:
                    first = b
            if ch.prow[b] >= 0:
                pim |= bit(b)
        if mem != U0:
            return PREA, first, mem
        if pim != U0:
            return PPRE, np.int64(-1), pim
        return REF, np.int64(rank * cfg.bpr), rank_mask(rank, cfg.bpr)
    b = rank * cfg.bpr + ch.refptr[rank]
    if ch.row[b] >= 0:
        return PRE, b, U0
    if ch.prow[b] >= 0:
        return PPRE, np.int64(-1), bit(b)
    return REFPB, b, U0


@tiny
def _postponed(ch, cc, cfg):
    """How long refresh may wait now. While a PIM compute or read-out step is under way, refresh is
    postponed by up to `cfg.postpone` intervals (JEDEC lets a controller postpone up to 8 REF commands),
    so it does not close the rows the step computes on; the postponed ones catch up after."""
    if ch.phead < ch.ptail:
        op = cc.pim[ch.phead & (cc.pim.shape[0] - 1)].op
        if op == OP_COMP or op == OP_READRES:
            return cfg.postpone * (cfg.tREFIpb if cfg.refresh == 2 else cfg.tREFI)
    return np.int64(0)


@tiny
def _due(ch, cc, cfg, rank):
    """When the rank's next refresh must issue."""
    return ch.refdue[rank] + _postponed(ch, cc, cfg)


@tiny
def _limit(ch, cc, cfg, mask, b):
    """The earliest refresh due that a command on bank `b` (or on `mask`) must not reach: commands to a
    rank (all-bank refresh) or a bank (per-bank refresh) whose refresh is due wait for it."""
    lim = INF
    if cfg.refresh == 0:
        return lim
    for rank in range(cfg.nrank):
        if cfg.refresh == 1:
            hit = rank_bits(mask, rank, cfg.bpr) != U0 if mask != U0 else (b >> cfg.bpr_sh) == rank
        else:
            rb = rank * cfg.bpr + ch.refptr[rank]
            hit = (mask & bit(rb)) != U0 if mask != U0 else b == rb
        if hit:
            lim = min(lim, _due(ch, cc, cfg, rank))
    return lim


# ---- choosing the next command ------------------------------------------------------------------------

@tiny
def _better(r, cls, seq, bt, bcls, bseq):
    return r < bt or (r == bt and (cls < bcls or (cls == bcls and seq < bseq)))


@tiny
def _pick_fcfs(ch, cc, cfg, tb, t, block, padd):
    """The command the oldest queued request needs next (FCFS): its RD/WR if it hits the open row, else
    PRE or ACT. Same result layout as `pick_frfcfs`."""
    m = ch.m_q
    b, s, oldest = np.int64(-1), np.int64(-1), INF
    while m != U0:
        k = lowest(m)
        m &= m - U1
        h = ch.head[k]
        if cc.q[h].seq < oldest:
            b, s, oldest = k, h, cc.q[h].seq
    lim, ptr, plim = rank_limits(ch, cfg, b >> cfg.bpr_sh, block, padd)
    if b == ptr:
        lim = plim
    row = ch.row[b]
    if row >= 0 and cc.q[s].row == row:
        cmd, cls = (WR if cc.q[s].write else RD), CLS_HIT
        r = max(t, ready_bank(ch, b, cmd, cfg.bpr_sh, cfg.bpg_sh))
    else:
        cmd, cls = (PRE if row >= 0 else ACT), CLS_OTHER
        r = max(t, ready1(ch, cfg, tb, cmd, b))
    if lim <= t or r >= lim:
        return INF, np.int64(9), INF, np.int64(-1), np.int64(-1), np.int64(-1)
    return r, cls, oldest, cmd, b, s


@jit
def _refresh_candidate(ch, cc, cfg, tb, t, rank):
    """(ready cycle, command, bank, mask) of the refresh work of `rank`."""
    cmd, b, m = _refresh_next(ch, cfg, rank)
    r = ready(ch, cfg, tb, cmd, b, U0 if cmd == PRE or cmd == REFPB else m)
    return max(r, _due(ch, cc, cfg, rank), t), cmd, b, m


@jit
def _pim_candidate(ch, cc, cfg, tb, t):
    """(ready cycle, command, bank, mask, ring index, refresh limit) of the head PIM op's next command."""
    i = ch.phead & (cc.pim.shape[0] - 1)
    cmd, b, m = pim_next(ch, cc, cfg, i)
    if cmd == STUCK:
        return INF, cmd, b, m, i, INF
    r = max(t, cc.pim[i].arr, ch.lastpim, ready(ch, cfg, tb, cmd, b, m))
    return r, cmd, b, m, np.int64(i), _limit(ch, cc, cfg, m, b)


@tiny
def _pick(ch, cc, cfg, tb, t):
    """The command to issue next at or after `t`:
    (time, kind, command, bank, queue slot / PIM index / rank, bank mask); kind K_NONE: nothing to do.
    Memory candidates are weighed first (the hot path); PIM and refresh candidates are computed only
    when they exist and could win."""
    bt, bcls, bseq = INF, np.int64(9), INF
    kind, bcmd, bb, bslot, bmask = K_NONE, np.int64(-1), np.int64(-1), np.int64(-1), U0
    pim_queued = ch.phead < ch.ptail
    padd = _postponed(ch, cc, cfg) if pim_queued and cfg.refresh != 0 else np.int64(0)
    block = INF
    if pim_queued and cfg.pim == C.PIM_BLOCKED:   # memory commands wait while a bundle is queued
        block = cc.pim[ch.phead & (cc.pim.shape[0] - 1)].arr
    if ch.nq > 0 and block > t:
        if cfg.sched == 0:
            bt, bcls, bseq, bcmd, bb, bslot = pick_frfcfs(ch, cc, cfg, tb, t, block, padd)
        else:
            bt, bcls, bseq, bcmd, bb, bslot = _pick_fcfs(ch, cc, cfg, tb, t, block, padd)
        if bcmd >= 0:
            kind = K_MEM
    if pim_queued:
        r, cmd, b, m, i, lim = _pim_candidate(ch, cc, cfg, tb, t)
        if cmd == STUCK:
            return INF, np.int64(-1), cmd, b, np.int64(-1), U0
        if r < lim and _better(r, CLS_PIM, np.int64(0), bt, bcls, bseq):
            bt, bcls, bseq, kind, bcmd, bb, bslot, bmask = r, CLS_PIM, np.int64(0), K_PIM, cmd, b, i, m
    if cfg.refresh != 0:
        for rank in range(cfg.nrank):
            if ch.refdue[rank] + padd > bt:      # its refresh cannot come first
                continue
            r, cmd, b, m = _refresh_candidate(ch, cc, cfg, tb, t, rank)
            if _better(r, CLS_REF, np.int64(rank), bt, bcls, bseq):
                bt, bcls, bseq, kind, bcmd, bb, bslot, bmask = r, CLS_REF, np.int64(rank), K_REF, cmd, b, \
                    np.int64(rank), m
    return bt, kind, bcmd, bb, bslot, bmask


# ---- issuing --------------------------------------------------------------------------------------

@tiny
def _issue_column(ch, cc, cfg, tb, cmd, b, s, t):
    """A RD or WR for queue slot `s` (the bank's oldest read or write hit); the page policy decides
    whether it auto-precharges (RDA, WRA)."""
    e = cc.q[s]
    prev, nxt = e.prev, e.next                   # unlink it from the bank's list
    if prev >= 0:
        cc.q[prev].next = nxt
    else:
        ch.head[b] = nxt
    if nxt >= 0:
        cc.q[nxt].prev = prev
    else:
        ch.tail[b] = prev
    ch.qn[b] -= 1
    if ch.qn[b] == 0:
        ch.m_q &= ~bit(b)
    row, write = ch.row[b], e.write
    ch.nw[b] -= write
    if write:                                    # the next oldest hit of its kind takes its place
        set_hits(ch, cfg, b, ch.rs[b], find_hits(cc.q, nxt, row, False, ch.nw[b] > 0)[1])
    else:
        set_hits(ch, cfg, b, find_hits(cc.q, nxt, row, ch.qn[b] > ch.nw[b], False)[0], ch.ws[b])
    auto = cfg.page == 1 or (cfg.page == 2 and ch.rs[b] < 0 and ch.ws[b] < 0)
    if auto:
        cmd = RDA if cmd == RD else WRA
    apply(ch, cfg, tb, cmd, b, t)
    if auto:
        close_row(ch, cfg, b, False, t)
    o = ch.nout
    if o >= cc.out.shape[0]:
        ch.err = ERR_OUT_FULL
    else:
        d = cc.out[o]
        d.id, d.enter, d.done, d.write = e.id, e.enter, t + (cfg.CWL if write else cfg.CL) + cfg.tBL, write
        ch.nout = o + 1
    cc.free[ch.nfree] = s
    ch.nfree += 1
    ch.nq -= 1
    return cmd


@jit
def _issue_refresh(ch, cfg, tb, t, cmd, b, rank, mask):
    """A refresh-side command: PREA or REF on a rank, PIM-row precharge, or per-bank PRE and REFpb."""
    if cmd == PREA or cmd == REF:                # rank commands: every bank of the rank
        for i in range(cfg.bpr):
            bk = rank * cfg.bpr + i
            apply(ch, cfg, tb, cmd, bk, t)
            if cmd == PREA and ch.row[bk] >= 0:
                close_row(ch, cfg, bk, False, t)
        if cmd == REF:
            ch.refdue[rank] += cfg.tREFI
    elif cmd == PPRE:
        for bk in range(cfg.nbank):
            if mask & bit(bk):
                apply(ch, cfg, tb, PPRE, bk, t)
                close_row(ch, cfg, bk, True, t)
    elif cmd == PRE:
        apply(ch, cfg, tb, PRE, b, t)
        close_row(ch, cfg, b, False, t)
    else:                                        # REFPB
        apply(ch, cfg, tb, REFPB, b, t)
        ch.refdue[rank] += cfg.tREFIpb
        ch.refptr[rank] = (ch.refptr[rank] + 1) & (cfg.bpr - 1)


@tiny
def _issue(ch, cc, cfg, tb, t, kind, cmd, b, slot, mask):
    """Issue one command and update every piece of state it touches."""
    row = np.int64(-1)
    if kind == K_MEM:
        if cmd == ACT:
            row = cc.q[slot].row
            apply(ch, cfg, tb, ACT, b, t)
            open_row(ch, cc, cfg, b, row, False, t)
            push_window(ch, cfg, tb, b >> cfg.bpr_sh, np.int64(1), t)
        elif cmd == PRE:
            apply(ch, cfg, tb, PRE, b, t)
            close_row(ch, cfg, b, False, t)
        else:
            row = cc.q[slot].row
            cmd = _issue_column(ch, cc, cfg, tb, cmd, b, slot, t)
    elif kind == K_REF:
        _issue_refresh(ch, cfg, tb, t, cmd, b, slot, mask)
    else:
        row = issue_pim(ch, cc, cfg, tb, t, cmd, b, slot, mask)
    ch.cnt[cmd] += 1
    if cfg.log:
        log(cc, t, cmd, b, row, mask)


@tiny
def _idle(ch):
    return ch.nq == 0 and ch.phead == ch.ptail and ch.fhead == ch.ftail


@jit
def _run_channel(cfg, tb, st, c, until):
    ch = st.ch[c]
    # completions of every channel go to one array, each channel's together behind the last channel's
    ch.nout = 0
    cc = ChannelArrays(st.q[c], st.q_free[c], st.fifo[c], st.pim[c], st.out[st.out_n[0]:], st.pout[c], st.log,
                       st.log_n, c)
    t = ch.now
    issued = 0
    while True:
        a = _admit(ch, cc, cfg, t)              # choosing changes no queue, so `a` holds after it
        if ch.phead < ch.ptail:
            retire_done(ch, cc, cfg)
        bt, kind, cmd, b, slot, mask = _pick(ch, cc, cfg, tb, t)
        if cmd == STUCK:
            ch.err = ERR_PIM_ROW_CLOSED
            break
        if a < INF and a <= bt:
            t = a                                # an arrival may change the choice: admit it first
            continue
        if kind == K_NONE:
            break
        if bt >= until and not _waiting_at(ch, cc, bt):
            break
        if until == INF and kind == K_REF and _idle(ch):
            break                                # only refresh is left: it waits until more work arrives
        _issue(ch, cc, cfg, tb, bt, kind, cmd, b, slot, mask)
        issued += 1
        t = bt
        if ch.err != 0:
            break
    ch.now = t
    st.out_n[0] += ch.nout
    return issued


@entry
def run(cfg, tables, st, until, channels):
    """Advance each of `channels` to `until` (exclusive; INF: until its work is done). Returns commands
    issued."""
    tb = tables[0]
    total = 0
    for c in channels:
        total += _run_channel(cfg, tb, st, c, until)
    return total
