"""`Lookahead`: a copy of a `DramEngine`'s channels that runs ahead of it, to predict completions.

The SimPy component (`component.py`) commits its engine only up to the current simulated time; to
know when a submission will complete it needs the commands after that. The look-ahead holds its own
controller state per channel (the `ch` record, queue and free slots) but shares the engine's input
rings, which the kernel never writes (state.py), so bringing a channel in line with the engine is a
copy of one record (~25 KB) and its queue, not of every queued request. Channels are independent: new
work invalidates only the channels it goes to, and each channel runs ahead only as far as needed.

Invariant kept by the caller: a channel of the look-ahead with work left is on the engine's trajectory
(the state the engine reaches at the same cycle, given the same submissions) at or after the
engine's horizon. A channel that gets new work is either copied from the engine again (`sync`), or,
when the look-ahead has not yet reached the new work's place in the channel's arrival ring
(`extend`), simply shown the longer ring: the kernel only ever looks at a ring's head, so work
appended behind an entry the look-ahead has not yet taken changes nothing the look-ahead decided.
"""
from __future__ import annotations

import numpy as np

from loomsim.errors import LoomError
from loomsim.simulator.dram import kernel
from loomsim.simulator.dram.state import DONE, ERR_PIM_ROW_CLOSED, LOGGED, PIM_DONE, State, copy, zeros


class Lookahead:
    """Per-channel copies of an engine's controller state, run ahead of it."""

    def __init__(self, engine):
        self.engine = engine
        self.cfg = engine.cfg._replace(log=0)
        st = engine.st
        self.st = State(ch=copy(st.ch), q=copy(st.q), q_free=copy(st.q_free), fifo=st.fifo, pim=st.pim,
                        out=zeros(st.out.shape, DONE), out_n=zeros(1, np.int64), pout=zeros(st.pout.shape, PIM_DONE),
                        log=zeros(0, LOGGED), log_n=zeros(1, np.int64))
        self.horizon = np.zeros(engine.channels, dtype=np.int64)   # channel c decided every command before this
        self.commands = 0          # commands the look-ahead issued (statistics)
        self.syncs = 0             # channels copied from the engine (statistics)

    def _share(self) -> None:
        """Follow the engine's input rings (they are reallocated when they grow) and output sizes."""
        e, st = self.engine.st, self.st
        if st.fifo is not e.fifo or st.pim is not e.pim or st.out.shape != e.out.shape or st.pout.shape != e.pout.shape:
            self.st = st._replace(fifo=e.fifo, pim=e.pim,
                                  out=st.out if st.out.shape == e.out.shape else zeros(e.out.shape, DONE),
                                  pout=st.pout if st.pout.shape == e.pout.shape else zeros(e.pout.shape, PIM_DONE))

    def sync(self, channels: np.ndarray) -> None:
        """Make `channels` copies of the engine's (same state, same time)."""
        self._share()
        e, st = self.engine.st, self.st
        # byte copies of whole records: a structured assignment checks every field and costs ~10x more
        ch_to, ch_from = st.ch.view(np.uint8).reshape(len(st.ch), -1), e.ch.view(np.uint8).reshape(len(e.ch), -1)
        q_to, q_from = st.q.view(np.uint8).reshape(len(st.q), -1), e.q.view(np.uint8).reshape(len(e.q), -1)
        for c in channels.tolist():
            ch_to[c] = ch_from[c]
            q_to[c] = q_from[c]
            st.q_free[c] = e.q_free[c]
        st.ch["nout"][channels] = 0
        st.ch["npout"][channels] = 0
        self.horizon[channels] = self.engine.horizon
        self.syncs += len(channels)

    def extend(self, channel: int, ring: str, old_tail: int) -> bool:
        """Show `channel` the work the engine appended to its `ring` ("f": arrivals, "p": PIM ops) behind
        `old_tail`, if the look-ahead has not yet reached that place (then nothing it decided depends on
        the new work). Returns False when the channel must be copied from the engine instead."""
        ch = self.st.ch
        if ch[ring + "head"][channel] >= old_tail or self.horizon[channel] < self.engine.horizon:
            return False
        ch[ring + "tail"][channel] = self.engine.st.ch[ring + "tail"][channel]
        return True

    def busy(self) -> np.ndarray:
        """Channels with work not yet issued in the look-ahead (arrivals, queued requests, PIM ops)."""
        ch = self.st.ch
        return (ch["fhead"] < ch["ftail"]) | (ch["nq"] > 0) | (ch["phead"] < ch["ptail"])

    def run(self, channels: np.ndarray, until: int):
        """Run `channels` up to cycle `until`; returns the completions they predict, per channel:
        ([(channel, request ids, done cycles)], [(channel, PIM op ids, done cycles)])."""
        self._share()
        st = self.st
        self.commands += kernel.run(self.cfg, self.engine.packed, st, np.int64(until), channels)
        self.horizon[channels] = np.maximum(self.horizon[channels], until)
        err = st.ch["err"][channels]
        if err.any():
            c = int(channels[np.flatnonzero(err)[0]])
            if st.ch["err"][c] == ERR_PIM_ROW_CLOSED:
                raise LoomError(f"a PIM compute on channel {c} reads bank {int(st.ch['errb'][c])}, whose row is "
                                "closed; a bundle must activate its rows before computing on them.")
            raise RuntimeError("DRAM look-ahead: completion buffer overflow")  # pragma: no cover
        requests, ops = [], []
        nout, npout = st.ch["nout"], st.ch["npout"]
        at = 0                                   # the kernel wrote each channel's completions together, in order
        for c in channels[(nout[channels] > 0) | (npout[channels] > 0)].tolist():
            n = int(nout[c])
            if n:
                done = st.out[at:at + n]
                at += n
                requests.append((c, done["id"].copy(), done["done"].copy()))
                nout[c] = 0
            n = int(npout[c])
            if n:
                ids = self.engine.pim_ids[c]
                ops.append((c, np.array([ids[s] for s in st.pout[c, :n]["seq"].tolist()], dtype=np.int64),
                            st.pout[c, :n]["done"].copy()))
                npout[c] = 0
        st.out_n[0] = 0
        return requests, ops
