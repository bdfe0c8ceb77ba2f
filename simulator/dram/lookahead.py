"""`Lookahead`: a copy of a `DramEngine`'s channels that runs ahead of it, to predict completions.

The SimPy component (`component.py`) commits its engine only up to the current simulated time; to
know when a submission will complete it needs the commands after that. The look-ahead holds its own
controller state per channel (the `ch` record, queue and free slots) but shares the engine's input
rings, which the kernel never writes (state.py), so bringing a channel in line with the engine is a
copy of ~30 KB, not of every queued request. Channels are independent: a new submission only
invalidates the channels it touches, and each channel is run ahead only as far as needed.

Invariant kept by the caller: a channel of the look-ahead is on the engine's trajectory (the same
state the engine reaches at the same cycle, given the same submissions), at or after the engine's
time, unless it is idle; a channel that gets new work is first copied from the engine (`sync`).
"""
from __future__ import annotations

import numpy as np

from loomsim.errors import LoomError
from loomsim.simulator.dram import kernel
from loomsim.simulator.dram.state import ERR_PIM_ROW_CLOSED, LOGGED, State


class Lookahead:
    """Per-channel copies of an engine's controller state, run ahead of it."""

    def __init__(self, engine):
        self.engine = engine
        self.cfg = engine.cfg._replace(log=0)
        st = engine.st
        self.st = State(ch=st.ch.copy(), q=st.q.copy(), q_free=st.q_free.copy(), fifo=st.fifo, pim=st.pim,
                        out=np.zeros_like(st.out), pout=np.zeros_like(st.pout), log=np.zeros(0, LOGGED),
                        log_n=np.zeros(1, np.int64))
        self.horizon = np.zeros(engine.channels, dtype=np.int64)   # channel c decided every command before this
        self.commands = 0

    def _share(self) -> None:
        """Follow the engine's input rings (they are reallocated when they grow) and output sizes."""
        e, st = self.engine.st, self.st
        if st.fifo is not e.fifo or st.pim is not e.pim or st.out.shape != e.out.shape or st.pout.shape != e.pout.shape:
            self.st = st._replace(fifo=e.fifo, pim=e.pim,
                                  out=st.out if st.out.shape == e.out.shape else np.zeros_like(e.out),
                                  pout=st.pout if st.pout.shape == e.pout.shape else np.zeros_like(e.pout))

    def sync(self, channels: np.ndarray) -> None:
        """Make `channels` copies of the engine's (same state, same time)."""
        self._share()
        e, st = self.engine.st, self.st
        st.ch[channels] = e.ch[channels]
        st.q[channels] = e.q[channels]
        st.q_free[channels] = e.q_free[channels]
        self.horizon[channels] = self.engine.horizon

    def busy(self) -> np.ndarray:
        """Channels with work not yet issued in the look-ahead (arrivals, queued requests, PIM ops)."""
        ch = self.st.ch
        return (ch["fhead"] < ch["ftail"]) | (ch["nq"] > 0) | (ch["phead"] < ch["ptail"])

    def run(self, channels: np.ndarray, until: int):
        """Run `channels` up to cycle `until`; returns the completions they predict: (request ids, done
        cycles, PIM op ids, done cycles), each per channel as a list of (channel, ids, done)."""
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
        for c in channels.tolist():
            n = int(st.ch["nout"][c])
            if n:
                done = st.out[c, :n]
                requests.append((c, done["id"].copy(), done["done"].copy()))
                st.ch["nout"][c] = 0
            n = int(st.ch["npout"][c])
            if n:
                ids = self.engine.pim_ids[c]
                ops.append((c, np.array([ids[s] for s in st.pout[c, :n]["seq"].tolist()], dtype=np.int64),
                            st.pout[c, :n]["done"].copy()))
                st.ch["npout"][c] = 0
        return requests, ops
