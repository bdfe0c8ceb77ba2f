"""`DramEngine`: the Python side of the cycle-level engine — submit requests and PIM ops, run, read results.

The engine owns the persistent state (`state.State`) and the compiled timing tables. Requests are
decoded in numpy and appended to each channel's arrivals ring; `run(until)` calls the numba kernel,
then collects the requests it completed. Per channel, arrivals must not go back in time (requesters
are merged in time order by the caller, e.g. the SimPy component submits at the current time).
Times are cycles of the device clock (tCK = `device.tck_ps` picoseconds).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loomsim.arch.dram_device import DramDevice
from loomsim.errors import LoomError
from loomsim.simulator.dram import kernel
from loomsim.simulator.dram.commands import NAMES, NCMD, compile_tables
from loomsim.simulator.dram.kernel_io import enqueue
from loomsim.simulator.dram.mapping import AddressMap
from loomsim.simulator.dram.state import (ERR_OUT_FULL, ERR_PIM_ROW_CLOSED, H_ERR, H_ERRB, H_FHEAD, H_FTAIL, H_NOUT,
                                          H_NOW, H_NPOUT, H_PHEAD, H_PTAIL, INF, L_BANK, L_CH, L_CMD, L_ROW, L_T, NO,
                                          O_DONE, O_ENTER, O_ID, O_WRITE, P_ARR, P_BANK, P_COUNT, P_OP, P_ROW, PO_DONE,
                                          PO_SEQ, R_ACT, R_OPEN, R_PRE, R_SINCE, grow_ring, make_cfg, make_state)

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
        m = self.map
        self._decode = (np.array([m.pos[f] for f in ("ch", "ra", "bg", "ba", "ro", "co")], dtype=np.int64),
                        np.array([m.width[f] for f in ("ch", "ra", "bg", "ba", "ro", "co")], dtype=np.int64),
                        np.int64(m.shift), np.int64(m.span - 1), np.int64(m.banks_per_rank),
                        np.int64(m.banks_per_group))

    # ---- submitting work -----------------------------------------------------------------------

    def submit(self, addr, write, arrival) -> np.ndarray:
        """Queue requests (byte addresses, 0/1 writes, arrival cycles); returns their ids."""
        addr = np.ascontiguousarray(addr, dtype=np.int64)
        n = addr.size
        write = np.ascontiguousarray(np.broadcast_to(np.asarray(write, dtype=np.int64), (n,)))
        arrival = np.ascontiguousarray(np.broadcast_to(np.asarray(arrival, dtype=np.int64), (n,)))
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        if n == 0:
            return ids
        if arrival.min() < self.horizon:
            raise LoomError(f"a request arrives at cycle {int(arrival.min())}, before cycle {self.horizon}, up to "
                            "which the engine has already run; submit before running past its arrival.")
        per_channel = np.bincount(self.map.field(addr, "ch"), minlength=self.channels)
        st = self.st
        self._reserve_fifo(int((st.chs[:, H_FTAIL] - st.chs[:, H_FHEAD] + per_channel).max()))
        st = self.st
        before = st.chs[:, H_FTAIL].copy()
        last = self.last_arrival.copy()
        bad = enqueue(st, *self._decode, last, addr, write, arrival, np.int64(self.next_id))
        if bad >= 0:
            st.chs[:, H_FTAIL] = before                   # take back what was appended
            c = int(self.map.field(addr[bad:bad + 1], "ch")[0])
            raise LoomError(f"requests to DRAM channel {c} go back in time (arrival {int(arrival[bad])} after "
                            f"{int(last[c])}); submit requests in arrival order.")
        self.last_arrival = last
        self.next_id += n
        return ids

    def _reserve_fifo(self, need: int) -> None:
        st = self.st
        cap = st.fifo.shape[1]
        if need <= cap:
            return
        new = cap
        while new < need:
            new *= 2
        fifo = grow_ring(st.fifo, st.chs[:, H_FHEAD], st.chs[:, H_FTAIL], new)
        out = np.zeros((self.channels, new + st.q.shape[1], NO), dtype=np.int64)
        self.st = st._replace(fifo=fifo, out=out)

    def submit_pim(self, channel: int, ops: list[tuple], arrival: int) -> list[int]:
        """Queue PIM ops (op code, bank mask, row, bank, count) on one channel; returns their ids."""
        if not 0 <= channel < self.channels:
            raise LoomError(f"PIM bundle for channel {channel}; the device has channels 0..{self.channels - 1}.")
        if arrival < self.horizon:
            raise LoomError(f"a PIM bundle arrives at cycle {arrival}, before cycle {self.horizon}, "
                            "up to which the engine has already run.")
        st = self.st
        head, tail = int(st.chs[channel, H_PHEAD]), int(st.chs[channel, H_PTAIL])
        cap = st.pim.shape[1]
        if tail - head + len(ops) > cap:
            new = cap
            while new < tail - head + len(ops):
                new *= 2
            hs, ts = st.chs[:, H_PHEAD], st.chs[:, H_PTAIL]
            self.st = st = st._replace(pim=grow_ring(st.pim, hs, ts, new), p_mask=grow_ring(st.p_mask, hs, ts, new),
                                       pout=np.zeros((self.channels, new, 2), dtype=np.int64))
            cap = new
        ids = []
        for j, (op, mask, row, bank, count) in enumerate(ops):
            i = (tail + j) % cap
            p = st.pim[channel, i]
            p[P_OP], p[P_ROW], p[P_BANK], p[P_COUNT], p[P_ARR] = op, row, bank, count, arrival
            st.p_mask[channel, i] = np.uint64(mask)
            self.pim_ids[channel][tail + j] = self.next_pim_id      # keyed by position in the ring's sequence
            ids.append(self.next_pim_id)
            self.next_pim_id += 1
        st.chs[channel, H_PTAIL] = tail + len(ops)
        return ids

    # ---- running ---------------------------------------------------------------------------------

    def run(self, until: int = INF) -> Completions:
        """Issue every command before cycle `until` (INF: until all submitted work is done)."""
        st = self.st
        self.commands += kernel.run(self.cfg, self.tables.upd_n, self.tables.upd_f, self.tables.upd_v,
                                    self.tables.win_n, self.tables.win_t, st, np.int64(until), self.all_channels)
        self.horizon = max(self.horizon, until) if until != INF else max(self.horizon, int(st.chs[:, H_NOW].max()))
        self._check_errors()
        for c in np.flatnonzero(st.chs[:, H_NPOUT]).tolist():
            for seq, done in st.pout[c, :st.chs[c, H_NPOUT]].tolist():
                self.pim_done[self.pim_ids[c].pop(seq)] = done
        st.chs[:, H_NPOUT] = 0
        return self.take_completions()

    def take_completions(self) -> Completions:
        """The requests completed since the last call, and forget them."""
        st = self.st
        n = st.chs[:, H_NOUT]
        done = np.concatenate([st.out[c, :n[c]] for c in range(self.channels)])
        st.chs[:, H_NOUT] = 0
        return Completions(done[:, O_ID].copy(), done[:, O_ENTER].copy(), done[:, O_DONE].copy(),
                           done[:, O_WRITE].copy())

    def _check_errors(self) -> None:
        err = self.st.chs[:, H_ERR]
        if not err.any():
            return
        c = int(np.flatnonzero(err)[0])
        if err[c] == ERR_PIM_ROW_CLOSED:
            raise LoomError(f"a PIM compute on channel {c} reads bank {int(self.st.chs[c, H_ERRB])}, whose row is "
                            "closed; a bundle must activate its rows before computing on them.")
        if err[c] == ERR_OUT_FULL:  # pragma: no cover - the output rings are sized for every queued request
            raise RuntimeError("DRAM engine: completion buffer overflow")

    # ---- results --------------------------------------------------------------------------------

    @property
    def now(self) -> int:
        """The last cycle at which any channel issued a command."""
        return int(self.st.chs[:, H_NOW].max())

    def counts(self) -> dict[str, int]:
        """Commands issued, by name, over every channel."""
        total = self.st.cnt.sum(axis=0)
        return {NAMES[i]: int(total[i]) for i in range(NCMD)}

    def command_log(self):
        """The issued commands as a structured array (time, channel, command, bank, row, mask), in
        (time, channel) order; needs the engine built with `log` > 0."""
        st = self.st
        n = int(st.log_n[0])
        if n >= st.log.shape[0] and st.log.shape[0] > 0:
            raise LoomError("the command log is full; build the engine with a larger `log`.")
        rec = np.zeros(n, dtype=[("t", "i8"), ("ch", "i8"), ("cmd", "i8"), ("bank", "i8"), ("row", "i8"),
                                 ("mask", "u8")])
        rec["t"], rec["ch"], rec["cmd"] = st.log[:n, L_T], st.log[:n, L_CH], st.log[:n, L_CMD]
        rec["bank"], rec["row"], rec["mask"] = st.log[:n, L_BANK], st.log[:n, L_ROW], st.log_mask[:n]
        return rec[np.lexsort((np.arange(n), rec["ch"], rec["t"]))]    # issue order within a cycle

    def background_cycles(self, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Per (channel, rank): cycles with some bank open and with all banks closed, up to `end`."""
        r = self.st.rank
        act, pre = r[:, :, R_ACT].copy(), r[:, :, R_PRE].copy()
        span = np.maximum(end - r[:, :, R_SINCE], 0)
        open_now = r[:, :, R_OPEN] > 0
        act[open_now] += span[open_now]
        pre[~open_now] += span[~open_now]
        return act, pre
