"""Kernel helpers that move data in and out of the engine's state: requests into the arrival rings, and
one engine's channel state into another's (the look-ahead copy of `component.py`).

Decoding addresses in numpy took ~100 ns a request (a dozen whole-array passes and a sort by channel),
more than simulating its command; here it is one pass.
"""
from __future__ import annotations

import numpy as np

from loomsim.simulator.dram.kernel_rules import entry
from loomsim.simulator.dram.state import F_ARR, F_BANK, F_COL, F_ID, F_ROW, F_WRITE, H_FTAIL

# the order of the address fields in `pos` and `width` below
CH, RA, BG, BA, RO, CO = range(6)


@entry
def enqueue(st, pos, width, shift, span_mask, bpr, bpg, last_arrival, addr, write, arrival, first_id):
    """Decode byte addresses (fields at bit `pos[f]`, `width[f]` bits wide, above `shift` offset bits)
    and append each request to its channel's arrival ring, which must have room. Returns -1, or the
    index of the first request that arrives before an earlier one of its channel (nothing is appended
    from it on)."""
    cap = st.fifo.shape[1]
    for i in range(addr.shape[0]):
        a = (addr[i] & span_mask) >> shift
        c = (a >> pos[CH]) & ((1 << width[CH]) - 1)
        if arrival[i] < last_arrival[c]:
            return i
        last_arrival[c] = arrival[i]
        bank = (((a >> pos[RA]) & ((1 << width[RA]) - 1)) * bpr + ((a >> pos[BG]) & ((1 << width[BG]) - 1)) * bpg
                + ((a >> pos[BA]) & ((1 << width[BA]) - 1)))
        k = st.chs[c, H_FTAIL]
        f = st.fifo[c, k & (cap - 1)]
        f[F_BANK], f[F_ROW], f[F_COL] = bank, (a >> pos[RO]) & ((1 << width[RO]) - 1), (a >> pos[CO]) & ((1 << width[CO]) - 1)
        f[F_WRITE], f[F_ARR], f[F_ID] = write[i], arrival[i], first_id + i
        st.chs[c, H_FTAIL] = k + 1
    return -1


@entry
def copy_channels(src, dst, channels):
    """Copy the controller state of `channels` from state `src` to state `dst` (the arrays of
    `state.CHANNEL_ARRAYS`; the input rings are shared, the outputs are each engine's own)."""
    for c in channels:
        dst.nt_bank[c] = src.nt_bank[c]
        dst.nt_bg[c] = src.nt_bg[c]
        dst.nt_rank[c] = src.nt_rank[c]
        dst.nt_ch[c] = src.nt_ch[c]
        dst.bank[c] = src.bank[c]
        dst.bm[c] = src.bm[c]
        dst.rank[c] = src.rank[c]
        dst.win[c] = src.win[c]
        dst.chs[c] = src.chs[c]
        dst.q[c] = src.q[c]
        dst.q_free[c] = src.q_free[c]
        dst.cnt[c] = src.cnt[c]
