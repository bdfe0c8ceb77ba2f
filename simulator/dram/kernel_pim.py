"""Kernel part for PIM: turning the head op of a channel's PIM bundle into its next command, and issuing it.

A bundle is a list of ops (activate rows on a bank set, compute k times, read results out, precharge,
write the global buffer). Each op becomes one or more commands: an activate first closes rows that are
open on other rows of its banks; a global-buffer write opens its vector row like a memory read. With
one row buffer (blocked, shared modes) PIM rows live in the memory row buffer; with dual row buffers
in the separate PIM row buffer (`ch.prow`), which memory commands never touch. The ops in the ring are
never changed here: the head op's progress is `ch.pissued`, and a finished op is written to `pout`.
"""
from __future__ import annotations

import numpy as np

from loomsim.simulator.dram import commands as C
from loomsim.simulator.dram.kernel_rules import (I64, U0, apply, apply_mask, bit, close_row, jit, open_row, popcount,
                                                 push_window, rank_bits)
from loomsim.simulator.dram.state import OP_ACT, OP_COMP, OP_GWRITE, OP_PRE

ACT, PRE, PACT, PCOMP, PPRE, GWRITE, READRES = (I64(v) for v in (C.ACT, C.PRE, C.PACT, C.PCOMP, C.PPRE, C.GWRITE,
                                                                  C.READRES))
DONE, STUCK = I64(-1), I64(-2)
DUAL = C.PIM_DUAL


@jit
def pim_next(ch, cc, cfg, i):
    """(command, bank, mask) the PIM op at ring index `i` needs next. DONE: nothing is left to issue;
    STUCK: it cannot proceed (a compute step without a row, on a bank whose row is closed)."""
    op = cc.pim[i]
    mask, row = op.mask, op.row
    dual = cfg.pim == DUAL
    rows = ch.prow if dual else ch.row
    if op.op == OP_ACT:
        need = U0
        for b in range(cfg.nbank):
            if mask & bit(b):
                cur = rows[b]
                if cur == row:
                    continue
                if cur >= 0:                    # another row is open: close it first
                    if dual:
                        return PPRE, np.int64(-1), bit(b)
                    return PRE, np.int64(b), U0
                need |= bit(b)
        if need == U0:
            return DONE, np.int64(-1), U0
        return PACT, np.int64(-1), need
    if op.op == OP_PRE:
        need = U0
        for b in range(cfg.nbank):
            if mask & bit(b) and rows[b] >= 0:
                need |= bit(b)
        if need == U0:
            return DONE, np.int64(-1), U0
        return PPRE, np.int64(-1), need
    if op.op == OP_GWRITE:
        b = op.bank
        if ch.row[b] == row:
            return GWRITE, b, U0
        if ch.row[b] >= 0:
            return PRE, b, U0
        return ACT, b, U0
    if op.op == OP_COMP:       # rows that a refresh (or, with one row buffer, memory) closed are reopened
        need, k = U0, 0
        for b in range(cfg.nbank):
            if not mask & bit(b):
                continue
            cur = rows[b]
            if row < 0:                          # no row named: the rows must simply be open
                if cur < 0:
                    ch.errb = b
                    return STUCK, np.int64(b), U0
            elif cur != row:
                if cur >= 0:
                    if dual:
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
def finish_op(ch, cc, done):
    """The head op is done at cycle `done`: record it and move on to the next."""
    e = cc.pout[ch.npout]
    e.seq, e.done = ch.phead, done
    ch.npout += 1
    ch.phead += 1
    ch.pissued = 0


@jit
def retire_done(ch, cc, cfg):
    """Advance past activate/precharge ops that have nothing left to issue."""
    cap = cc.pim.shape[0]
    while ch.phead < ch.ptail:
        i = ch.phead & (cap - 1)
        if cc.pim[i].op != OP_ACT and cc.pim[i].op != OP_PRE:
            return
        cmd, b, m = pim_next(ch, cc, cfg, i)
        if cmd != DONE:
            return
        finish_op(ch, cc, max(cc.pim[i].arr, ch.lastpim + 1))   # the end of its last cycle


@jit
def issue_pim(ch, cc, cfg, tb, t, cmd, b, i, mask):
    """Issue the next command of the head PIM op (ring index `i`); returns the row it opened, or -1."""
    dual = cfg.pim == DUAL
    ch.lastpim = t
    row = cc.pim[i].row
    if cmd == ACT:                               # the vector row a global-buffer write reads
        apply(ch, cfg, tb, ACT, b, t)
        open_row(ch, cc, cfg, b, row, False, t)
        push_window(ch, cfg, tb, b >> cfg.bpr_sh, np.int64(1), t)
        return row
    if cmd == PRE:
        apply(ch, cfg, tb, PRE, b, t)
        close_row(ch, cfg, b, False, t)
        return np.int64(-1)
    if cmd == PACT:
        apply_mask(ch, cfg, tb, PACT, mask, t)
        for bk in range(cfg.nbank):
            if mask & bit(bk):
                open_row(ch, cc, cfg, bk, row, dual, t)
        for rank in range(cfg.nrank):
            rm = rank_bits(mask, rank, cfg.bpr)
            if rm != U0:
                push_window(ch, cfg, tb, rank, np.int64(popcount(rm)), t)
        ch.pactb += popcount(mask)
        return row
    if cmd == PPRE:
        apply_mask(ch, cfg, tb, PPRE, mask, t)
        for bk in range(cfg.nbank):
            if mask & bit(bk):
                close_row(ch, cfg, bk, dual, t)
        return np.int64(-1)
    if cmd == GWRITE:
        apply(ch, cfg, tb, GWRITE, b, t)
        finish_op(ch, cc, t + cfg.gwrite)
        return row
    apply_mask(ch, cfg, tb, cmd, mask, t)    # PCOMP or READRES, `count` times
    if cmd == PCOMP:
        ch.pcompb += popcount(mask)
    ch.pissued += 1
    if ch.pissued == cc.pim[i].count:
        finish_op(ch, cc, t + (cfg.comp_done if cmd == PCOMP else cfg.readres_done))
    return np.int64(-1)
