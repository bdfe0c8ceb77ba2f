"""Kernel helper that moves requests into the engine's state: decoding byte addresses into the arrival
rings of their channels.

Decoding addresses in numpy took ~100 ns a request (a dozen whole-array passes and a sort by channel),
more than simulating its command; here it is one pass.
"""
from __future__ import annotations

from loomsim.simulator.dram.kernel_rules import entry

# the order of the address fields in `pos` and `width` below
CH, RA, BG, BA, RO, CO = range(6)


@entry
def channel_counts(addr, pos, width, shift, span_mask, counts):
    """Add to `counts[c]` the requests of `addr` that go to channel c."""
    for i in range(addr.shape[0]):
        counts[(((addr[i] & span_mask) >> shift) >> pos[CH]) & ((1 << width[CH]) - 1)] += 1


@entry
def enqueue(st, pos, width, shift, span_mask, bpr, bpg, last_arrival, addr, write, arrival, first_id):
    """Decode byte addresses (fields at bit `pos[f]`, `width[f]` bits wide, above `shift` offset bits)
    and append each request to its channel's arrival ring, which must have room. `write` and `arrival`
    hold one value per request, or one for all. Returns -1, or the index of the first request that
    arrives before an earlier one of its channel (nothing is appended from it on)."""
    cap = st.fifo.shape[1]
    one_w, one_a = write.shape[0] == 1, arrival.shape[0] == 1
    for i in range(addr.shape[0]):
        a = (addr[i] & span_mask) >> shift
        c = (a >> pos[CH]) & ((1 << width[CH]) - 1)
        arr = arrival[0] if one_a else arrival[i]
        if arr < last_arrival[c]:
            return i
        last_arrival[c] = arr
        ch = st.ch[c]
        f = st.fifo[c, ch.ftail & (cap - 1)]
        f.bank = (((a >> pos[RA]) & ((1 << width[RA]) - 1)) * bpr + ((a >> pos[BG]) & ((1 << width[BG]) - 1)) * bpg
                  + ((a >> pos[BA]) & ((1 << width[BA]) - 1)))
        f.row = (a >> pos[RO]) & ((1 << width[RO]) - 1)
        f.col = (a >> pos[CO]) & ((1 << width[CO]) - 1)
        f.write, f.arr, f.id = write[0] if one_w else write[i], arr, first_id + i
        ch.ftail += 1
    return -1
