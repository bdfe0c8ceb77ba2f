"""Kernel part for PIM: turning the head op of a channel's PIM bundle into its next command, and issuing it.

A bundle is a list of ops (activate rows on a bank set, compute k times, read results out, precharge,
write the global buffer). Each op becomes one or more commands: an activate first closes rows that are
open on other rows of its banks; a global-buffer write opens its vector row like a memory read. With
one row buffer (blocked, shared modes) PIM rows live in the memory row buffer; with dual row buffers
in the separate PIM row buffer (B_PROW), which memory commands never touch. The ops in the ring are
never changed here: the head op's progress is `chs[c, H_PISSUED]`, and a finished op is written to `pout`.
"""
from __future__ import annotations

import numpy as np

from loomsim.simulator.dram import commands as C
from loomsim.simulator.dram.kernel_rules import (I64, U0, apply, apply_mask, bit, close_row, jit, open_row, popcount,
                                                 push_window, rank_bits)
from loomsim.simulator.dram.state import (B_PROW, B_ROW, H_ERRB, H_LASTPIM, H_NPOUT, H_PACTB, H_PCOMPB, H_PHEAD,
                                          H_PISSUED, H_PTAIL, OP_ACT, OP_COMP, OP_GWRITE, OP_PRE, P_ARR, P_BANK,
                                          P_COUNT, P_OP, P_ROW, PO_DONE, PO_SEQ)

ACT, PRE, PACT, PCOMP, PPRE, GWRITE, READRES = (I64(v) for v in (C.ACT, C.PRE, C.PACT, C.PCOMP, C.PPRE, C.GWRITE,
                                                                  C.READRES))
MEM, PIMBUF, DONE, STUCK = I64(B_ROW), I64(B_PROW), I64(-1), I64(-2)
DUAL = C.PIM_DUAL


@jit
def pim_next(st, cfg, c, i):
    """(command, bank, mask) the PIM op at ring index `i` needs next. DONE: nothing is left to issue;
    STUCK: it cannot proceed (a compute step without a row, on a bank whose row is closed)."""
    op = st.pim[c, i, P_OP]
    mask = st.p_mask[c, i]
    row = st.pim[c, i, P_ROW]
    buf = PIMBUF if cfg.pim == DUAL else MEM
    if op == OP_ACT:
        need = U0
        for b in range(cfg.nbank):
            if mask & bit(b):
                cur = st.bank[c, b, buf]
                if cur == row:
                    continue
                if cur >= 0:                    # another row is open: close it first
                    if buf == PIMBUF:
                        return PPRE, np.int64(-1), bit(b)
                    return PRE, np.int64(b), U0
                need |= bit(b)
        if need == U0:
            return DONE, np.int64(-1), U0
        return PACT, np.int64(-1), need
    if op == OP_PRE:
        need = U0
        for b in range(cfg.nbank):
            if mask & bit(b) and st.bank[c, b, buf] >= 0:
                need |= bit(b)
        if need == U0:
            return DONE, np.int64(-1), U0
        return PPRE, np.int64(-1), need
    if op == OP_GWRITE:
        b = st.pim[c, i, P_BANK]
        if st.bank[c, b, B_ROW] == row:
            return GWRITE, b, U0
        if st.bank[c, b, B_ROW] >= 0:
            return PRE, b, U0
        return ACT, b, U0
    if op == OP_COMP:          # rows that a refresh (or, with one row buffer, memory) closed are reopened
        need, k = U0, 0
        for b in range(cfg.nbank):
            if not mask & bit(b):
                continue
            cur = st.bank[c, b, buf]
            if row < 0:                          # no row named: the rows must simply be open
                if cur < 0:
                    st.chs[c, H_ERRB] = b
                    return STUCK, np.int64(b), U0
            elif cur != row:
                if cur >= 0:
                    if buf == PIMBUF:
                        return PPRE, np.int64(-1), bit(b)
                    return PRE, np.int64(b), U0
                if k < cfg.act_banks:
                    need |= bit(b)
                    k += 1
        if need != U0:
            return PACT, np.int64(-1), need
        return PCOMP, np.int64(-1), mask
    return READRES, np.int64(-1), mask


@jit
def finish_op(st, c, done):
    """The head op is done at cycle `done`: record it and move on to the next."""
    k = st.chs[c, H_NPOUT]
    st.pout[c, k, PO_SEQ] = st.chs[c, H_PHEAD]
    st.pout[c, k, PO_DONE] = done
    st.chs[c, H_NPOUT] = k + 1
    st.chs[c, H_PHEAD] += 1
    st.chs[c, H_PISSUED] = 0


@jit
def retire_done(st, cfg, c):
    """Advance past activate/precharge ops that have nothing left to issue."""
    cap = st.pim.shape[1]
    while st.chs[c, H_PHEAD] < st.chs[c, H_PTAIL]:
        i = st.chs[c, H_PHEAD] & (cap - 1)
        if st.pim[c, i, P_OP] != OP_ACT and st.pim[c, i, P_OP] != OP_PRE:
            return
        cmd, b, m = pim_next(st, cfg, c, i)
        if cmd != DONE:
            return
        finish_op(st, c, max(st.pim[c, i, P_ARR], st.chs[c, H_LASTPIM] + 1))   # the end of its last cycle


@jit
def issue_pim(st, cfg, upd_n, upd_f, upd_v, c, t, cmd, b, i, mask):
    """Issue the next command of the head PIM op (ring index `i`); returns the row it opened, or -1."""
    buf = PIMBUF if cfg.pim == DUAL else MEM
    st.chs[c, H_LASTPIM] = t
    row = st.pim[c, i, P_ROW]
    if cmd == ACT:                               # the vector row a global-buffer write reads
        apply(st, cfg, upd_n, upd_f, upd_v, c, ACT, b, t)
        open_row(st, cfg, c, b, row, MEM, t)
        push_window(st, cfg, c, (b >> cfg.bpr_sh), np.int64(1), t)
        return row
    if cmd == PRE:
        apply(st, cfg, upd_n, upd_f, upd_v, c, PRE, b, t)
        close_row(st, cfg, c, b, MEM, t)
        return np.int64(-1)
    if cmd == PACT:
        apply_mask(st, cfg, upd_n, upd_f, upd_v, c, PACT, mask, t)
        for bk in range(cfg.nbank):
            if mask & bit(bk):
                open_row(st, cfg, c, bk, row, buf, t)
        for rank in range(cfg.nrank):
            rm = rank_bits(mask, rank, cfg.bpr)
            if rm != U0:
                push_window(st, cfg, c, rank, np.int64(popcount(rm)), t)
        st.chs[c, H_PACTB] += popcount(mask)
        return row
    if cmd == PPRE:
        apply_mask(st, cfg, upd_n, upd_f, upd_v, c, PPRE, mask, t)
        for bk in range(cfg.nbank):
            if mask & bit(bk):
                close_row(st, cfg, c, bk, buf, t)
        return np.int64(-1)
    if cmd == GWRITE:
        apply(st, cfg, upd_n, upd_f, upd_v, c, GWRITE, b, t)
        finish_op(st, c, t + cfg.gwrite)
        return row
    apply_mask(st, cfg, upd_n, upd_f, upd_v, c, cmd, mask, t)    # PCOMP or READRES, p_count times
    if cmd == PCOMP:
        st.chs[c, H_PCOMPB] += popcount(mask)
    st.chs[c, H_PISSUED] += 1
    if st.chs[c, H_PISSUED] == st.pim[c, i, P_COUNT]:
        finish_op(st, c, t + (cfg.comp_done if cmd == PCOMP else cfg.CL + cfg.tBL))
    return np.int64(-1)
