"""Kernel helper that moves requests into the engine's state: decoding byte addresses into the arrival
rings of their channels.

Decoding addresses in numpy took ~100 ns a request (a dozen whole-array passes and a sort by channel),
more than simulating its command; here it is one pass.
"""
from __future__ import annotations

import numpy as np

from loomsim.simulator.dram.kernel_rules import entry, tiny

# field indices, in the order of `count` and `shift` below (mapping.FIELDS)
CH, RA, BG, BA, RO, CO = range(6)


@tiny
def decode(addr, order, count, shift, pos, atom, atom_sh):
    """(channel, rank, bank group, bank, row, column) of a byte address, as `mapping.AddressMap.decode`.
    When every count is a power of two (`pos[f]`, a field's bit position, is then >= 0 for all), each
    field is a shift and a mask. Otherwise the access index is peeled field by field, least significant
    first (`order`), each field the remainder by its count: a power-of-two count (`shift[f]` >= 0) is a
    mask and a shift, any other costs one division (a 40-channel map: one per request)."""
    if pos[0] >= 0:
        a = addr >> atom_sh
        return ((a >> pos[CH]) & (count[CH] - 1), (a >> pos[RA]) & (count[RA] - 1), (a >> pos[BG]) & (count[BG] - 1),
                (a >> pos[BA]) & (count[BA] - 1), (a >> pos[RO]) & (count[RO] - 1), (a >> pos[CO]) & (count[CO] - 1))
    a = addr >> atom_sh if atom_sh >= 0 else addr // atom
    ch = ra = bg = ba = ro = co = np.int64(0)
    for j in range(6):
        f = order[j]
        n = count[f]
        s = shift[f]
        if s >= 0:
            v = a & (n - 1)
            a >>= s
        else:
            q = a // n
            v = a - q * n
            a = q
        if f == CH:
            ch = v
        elif f == RA:
            ra = v
        elif f == BG:
            bg = v
        elif f == BA:
            ba = v
        elif f == RO:
            ro = v
        else:
            co = v
    return ch, ra, bg, ba, ro, co


@entry
def channel_counts(addr, order, count, shift, pos, atom, atom_sh, counts):
    """Add to `counts[c]` the requests of `addr` that go to channel c."""
    for i in range(addr.shape[0]):
        counts[decode(addr[i], order, count, shift, pos, atom, atom_sh)[0]] += 1


@entry
def enqueue(st, order, count, shift, pos, atom, atom_sh, bpr, bpg, last_arrival, addr, write, arrival, first_id):
    """Decode byte addresses (see `decode`) and append each request to its channel's arrival ring.
    `write` and `arrival` hold one value per request, or one for all. Returns -1 when all are appended;
    i >= 0 when request i arrives before an earlier one of its channel; -2 - i when request i finds its
    channel's ring full. Nothing is appended from request i on; the caller grows the rings and goes on
    from i, or takes back what was appended."""
    cap = st.fifo.shape[1]
    one_w, one_a = write.shape[0] == 1, arrival.shape[0] == 1
    for i in range(addr.shape[0]):
        c, ra, bg, ba, ro, co = decode(addr[i], order, count, shift, pos, atom, atom_sh)
        arr = arrival[0] if one_a else arrival[i]
        if arr < last_arrival[c]:
            return i
        ch = st.ch[c]
        if ch.ftail - ch.fhead >= cap:
            return -2 - i
        last_arrival[c] = arr
        f = st.fifo[c, ch.ftail & (cap - 1)]
        f.bank = ra * bpr + bg * bpg + ba
        f.row = ro
        f.write, f.arr, f.id = write[0] if one_w else write[i], arr, first_id + i
        ch.ftail += 1
    return -1
