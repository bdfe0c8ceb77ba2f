"""`DramEngine`: the Python side of the cycle-level engine — submit requests and PIM ops, run, read results.

The engine owns the persistent state (`state.State`) and the compiled timing tables. Requests are
decoded into each channel's arrivals ring (`kernel_io.enqueue`); `run(until)` calls the numba kernel,
then collects the requests it completed. Per channel, arrivals must not go back in time (requesters
are merged in time order by the caller, e.g. the SimPy component submits at the current time).
Times are cycles of the device clock (tCK = `device.tck_ps` picoseconds).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from loomsim.arch.dram_device import DramDevice
from loomsim.errors import LoomError
from loomsim.simulator.dram import kernel
from loomsim.simulator.dram.commands import NAMES, NCMD, compile_tables
from loomsim.simulator.dram.energy import EnergyReport, energy
from loomsim.simulator.dram.kernel_io import channel_counts, enqueue
from loomsim.simulator.dram.mapping import AddressMap
from loomsim.simulator.dram.state import (DONE, ERR_OUT_FULL, ERR_PIM_ROW_CLOSED, INF, PIM_DONE, grow_ring, make_cfg,
                                          empty, make_state, pack_tables, zeros)

ENGINE_SIMPLIFICATIONS = (
    "DRAM engine: no power-down or self-refresh states; refreshes issue when due (postponed only during a PIM "
    "compute step, by at most 8 intervals); reads and writes share one queue (no write-drain batching); "
    "FR-FCFS has no cap on consecutive row hits.",
)


def simplifications(device: DramDevice) -> tuple[str, ...]:
    """The simplifications a run on `device` makes, to print with its results."""
    out = list(ENGINE_SIMPLIFICATIONS)
    if device.standard == "HBM3":
        out.append("HBM3: each pseudo-channel is an independent channel (the shared command bus of a channel's "
                   "two pseudo-channels is not modelled).")
    if device.standard == "LPDDR5":
        out.append("LPDDR5: ACT-1/ACT-2 and the CAS commands are single commands; write-to-read in a bank group "
                   "uses the short burst time.")
    if device.pim.mode != "none":
        out.append("PIM: an activate of k banks counts as min(k, 4) activations in the tFAW window.")
    return tuple(out)


# completions from which a run's rows are handed over to the caller rather than copied out (a copy of
# 64K requests' rows cost ~3 ns a request in `loom bench dram`; a new array per small run costs more)
HAND_OVER = 1 << 12


@dataclass
class Completions:
    """Requests a run completed: ids, queue-entry and data-done cycles, and whether each was a write."""

    id: np.ndarray
    enter: np.ndarray
    done: np.ndarray
    write: np.ndarray


class DramEngine:
    """One DRAM device system (all its channels) driven command by command by the numba kernel."""

    def __init__(self, device: DramDevice, log: int = 0, fifo: int = 4096, pim: int = 256):
        self.device = device
        self.tables = compile_tables(device)
        self.packed = pack_tables(self.tables)
        self.cfg = make_cfg(device, log=log > 0)
        self.map = AddressMap.of(device)
        self.channels = device.org.channels
        self.all_channels = np.arange(self.channels, dtype=np.int64)
        self.st = make_state(self.cfg, self.channels, fifo=fifo, pim=pim, log=log)
        self.next_id = 0
        self.next_pim_id = 0
        self.last_arrival = np.zeros(self.channels, dtype=np.int64)
        self.horizon = 0          # every command before this cycle has been decided
        self.commands = 0
        self.pim_ids: list[dict[int, int]] = [{} for _ in range(self.channels)]  # ring position -> op id
        self.pim_done: dict[int, int] = {}
        self._spare_out = None    # completion rows handed over by the last run (see take_completions)
        # (field order, counts, log2 counts, bit positions, atom, log2 atom) for kernel_io, then bank strides
        self._decode = (*self.map.kernel_args(), np.int64(self.map.banks_per_rank), np.int64(self.map.banks_per_group))

    # ---- submitting work -----------------------------------------------------------------------

    def submit(self, addr, write, arrival) -> np.ndarray:
        """Queue requests (byte addresses; 0/1 writes and arrival cycles, per request or one value for
        all); returns their ids."""
        addr = np.ascontiguousarray(addr, dtype=np.int64).reshape(-1)
        n = addr.size
        write = np.ascontiguousarray(write, dtype=np.int64).reshape(-1)
        arrival = np.ascontiguousarray(arrival, dtype=np.int64).reshape(-1)
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        if n == 0:
            return ids
        for name, v in (("write", write), ("arrival", arrival)):
            if v.size not in (1, n):
                raise LoomError(f"{n} request addresses but {v.size} {name} values; give one per request or one.")
        if arrival.min() < self.horizon:
            raise LoomError(f"a request arrives at cycle {int(arrival.min())}, before cycle {self.horizon}, up to "
                            "which the engine has already run; submit before running past its arrival.")
        before = self.st.ch["ftail"].copy()
        last = self.last_arrival.copy()
        start = 0
        while True:              # decode and append; a full ring grows to fit the rest, which follows
            bad = enqueue(self.st, *self._decode, last, addr[start:], write if write.size == 1 else write[start:],
                          arrival if arrival.size == 1 else arrival[start:], np.int64(self.next_id + start))
            if bad > -2:
                break
            start += -2 - bad
            ch = self.st.ch
            self._grow_fifo(int((ch["ftail"] - ch["fhead"] + self.channel_counts(addr[start:])).max()))
        if bad >= 0:
            bad += start
            self.st.ch["ftail"] = before                  # take back what was appended
            c = int(self.map.field(addr[bad:bad + 1], "ch")[0])
            raise LoomError(f"requests to DRAM channel {c} go back in time (arrival "
                            f"{int(arrival[bad if arrival.size > 1 else 0])} after {int(last[c])}); submit "
                            "requests in arrival order.")
        self.last_arrival = last
        self.next_id += n
        return ids

    def channel_counts(self, addr: np.ndarray) -> np.ndarray:
        """Requests of `addr` (an int64 array) per channel."""
        counts = np.zeros(self.channels, dtype=np.int64)
        channel_counts(addr, *self._decode[:6], counts)
        return counts

    def _grow_fifo(self, need: int) -> None:
        """Grow the arrival rings to hold `need` requests per channel, at least doubling them (and the
        completion rows, which must hold every request a run can complete: all arrivals and all queued)."""
        st = self.st
        new = 2 * st.fifo.shape[1]
        while new < need:
            new *= 2
        fifo = grow_ring(st.fifo, st.ch["fhead"], st.ch["ftail"], new)
        self.st = st._replace(fifo=fifo, out=zeros(self.channels * (new + st.q.shape[1]), DONE))

    def submit_pim(self, channel: int, ops: list[tuple], arrival: int) -> list[int]:
        """Queue PIM ops (op code, bank mask, row, bank, count) on one channel; returns their ids."""
        if not 0 <= channel < self.channels:
            raise LoomError(f"PIM bundle for channel {channel}; the device has channels 0..{self.channels - 1}.")
        if arrival < self.horizon:
            raise LoomError(f"a PIM bundle arrives at cycle {arrival}, before cycle {self.horizon}, "
                            "up to which the engine has already run.")
        st = self.st
        head, tail = int(st.ch["phead"][channel]), int(st.ch["ptail"][channel])
        cap = st.pim.shape[1]
        if tail - head + len(ops) > cap:
            new = cap
            while new < tail - head + len(ops):
                new *= 2
            self.st = st = st._replace(pim=grow_ring(st.pim, st.ch["phead"], st.ch["ptail"], new),
                                       pout=zeros((self.channels, new), PIM_DONE))
            cap = new
        ids = []
        for j, (op, mask, row, bank, count) in enumerate(ops):
            st.pim[channel, (tail + j) % cap] = (op, row, bank, count, arrival, mask)
            self.pim_ids[channel][tail + j] = self.next_pim_id      # keyed by position in the ring's sequence
            ids.append(self.next_pim_id)
            self.next_pim_id += 1
        st.ch["ptail"][channel] = tail + len(ops)
        return ids

    # ---- running ---------------------------------------------------------------------------------

    def run(self, until: int = INF) -> Completions:
        """Issue every command before cycle `until` (INF: until all submitted work is done)."""
        st = self.st
        self.commands += kernel.run(self.cfg, self.packed, st, np.int64(until), self.all_channels)
        self.horizon = max(self.horizon, until) if until != INF else max(self.horizon, self.now)
        self._check_errors()
        npout = st.ch["npout"]
        for c in np.flatnonzero(npout).tolist():
            for seq, done in st.pout[c, :npout[c]].tolist():
                self.pim_done[self.pim_ids[c].pop(seq)] = done
        npout[:] = 0
        return self.take_completions()

    def take_completions(self) -> Completions:
        """The requests completed since the last call, and forget them."""
        st = self.st
        n = int(st.out_n[0])
        if n >= HAND_OVER:        # hand the rows over and write the next run's into another array: no copy
            done = st.out[:n]
            spare = self._spare_out
            # the array handed over the time before, if the caller has let go of it (no view of its memory is
            # left but `spare` itself): memory the kernel wrote recently is in cache, a new array's is not
            # (a new array each run moved the copy's cost into the kernel's first writes)
            if spare is None or spare.shape != st.out.shape or sys.getrefcount(spare.base) > 2:
                spare = empty(st.out.shape, DONE)
            self._spare_out = st.out
            self.st = st._replace(out=spare)
        else:
            done = st.out[:n].copy()
        st.out_n[0] = 0
        return Completions(done["id"], done["enter"], done["done"], done["write"])

    def _check_errors(self) -> None:
        err = self.st.ch["err"]
        if not err.any():
            return
        c = int(np.flatnonzero(err)[0])
        if err[c] == ERR_PIM_ROW_CLOSED:
            raise LoomError(f"a PIM compute on channel {c} reads bank {int(self.st.ch['errb'][c])}, whose row is "
                            "closed; a bundle must activate its rows before computing on them.")
        if err[c] == ERR_OUT_FULL:  # pragma: no cover - the output rings are sized for every queued request
            raise RuntimeError("DRAM engine: completion buffer overflow")

    # ---- results --------------------------------------------------------------------------------

    @property
    def now(self) -> int:
        """The last cycle at which any channel issued a command."""
        return int(self.st.ch["now"].max())

    def counts(self) -> dict[str, int]:
        """Commands issued, by name, over every channel."""
        total = self.st.ch["cnt"].sum(axis=0)
        return {NAMES[i]: int(total[i]) for i in range(NCMD)}

    def command_log(self):
        """The issued commands as a structured array (time, channel, command, bank, row, mask), in
        (time, channel) order; needs the engine built with `log` > 0."""
        st = self.st
        n = int(st.log_n[0])
        if n >= st.log.shape[0] and st.log.shape[0] > 0:
            raise LoomError("the command log is full; build the engine with a larger `log`.")
        rec = st.log[:n].copy()
        return rec[np.lexsort((np.arange(n), rec["ch"], rec["t"]))]    # issue order within a cycle

    def energy(self, end: int) -> EnergyReport:
        """The energy of every command so far and of the background up to cycle `end`."""
        ch = self.st.ch
        return energy(self.device, self.counts(), int(ch["pactb"].sum()), int(ch["pcompb"].sum()),
                      *self.background_cycles(end))

    def background_cycles(self, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Per (channel, rank): cycles with some bank open and with all banks closed, up to `end`."""
        ch, nr = self.st.ch, self.device.org.ranks
        act, pre = ch["act_cycles"][:, :nr].copy(), ch["pre_cycles"][:, :nr].copy()
        span = np.maximum(end - ch["since"][:, :nr], 0)
        open_now = ch["nopen"][:, :nr] > 0
        act[open_now] += span[open_now]
        pre[~open_now] += span[~open_now]
        return act, pre
