"""`DramSystem`: the cycle-level engine behind SimPy — one event per submitted stream or PIM bundle.

Requesters (DMA transfers, PIM controllers) submit work at the current SimPy time; the engine decides
every DRAM command, and SimPy sees one event per submission, when its last request or command is done.

How the two clocks stay consistent. The engine is *committed* only up to the current SimPy time: every
command before it is final, since later submissions arrive later. To know when to wake a waiting
requester, a look-ahead (`lookahead.py`) runs the channels further, and a timer is set for the
earliest completion it predicts; when the timer fires, the engine is committed up to that cycle, which
finishes that submission exactly as predicted. Requests from several requesters are thereby merged in
time order, command by command.

What keeps the look-ahead cheap when thousands of submissions overlap:
* channels are independent, so a new submission restarts the look-ahead only on the channels it
  touches (copying them from the committed engine); the others keep their predictions;
* the look-ahead runs only as far as it must to know the earliest completion: until every channel
  with work left has passed it (a request not yet issued on a channel completes after that
  channel's horizon), in steps that double while no submission is known to complete;
* predictions are kept per request, so a submission is known to complete when every one of its
  requests is either committed or predicted; restarting a channel withdraws only its predictions.
So the work per submission follows the commands between its arrival and the next completion on the
channels it touches, not the number of submissions in flight. `component_lookahead` in
`simulator/bench.py` measures it.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
import simpy

from loomsim.arch.dram_device import DramDevice
from loomsim.simulator.dram.energy import EnergyReport
from loomsim.simulator.dram.engine import DramEngine, simplifications
from loomsim.simulator.dram.kernel_io import channel_counts
from loomsim.simulator.dram.lookahead import Lookahead
from loomsim.simulator.dram.pim import PimBundle
from loomsim.simulator.dram.state import INF

FIRST_STEP = 1024          # cycles the look-ahead first runs ahead while no completion is known


@dataclass
class Submission:
    """One stream or bundle: its requests (or PIM op ids), its SimPy event, and its results. The event's
    value is the Submission itself, so a requester can read `done_ps` and, for a stream, every
    request's completion (`request_done_ps()`)."""

    kind: str                     # "stream" or "pim"
    ids: np.ndarray               # request ids (stream) or PIM op ids (pim), consecutive
    event: simpy.Event
    submitted_cycle: int
    label: str = ""
    done_cycle: int = -1
    request_done: np.ndarray | None = None      # per request, in submission order (streams)
    pending: int = 0              # requests (ops) not yet committed
    tck_ps: int = 0
    # look-ahead bookkeeping: per request the committed and the predicted done cycle (-1: not known)
    real: np.ndarray = field(default=None, repr=False)
    spec: np.ndarray = field(default=None, repr=False)
    known: int = 0                # requests committed or predicted
    version: int = 0              # bumped when a prediction is withdrawn

    @property
    def done_ps(self) -> int:
        return self.done_cycle * self.tck_ps

    def request_done_ps(self) -> np.ndarray:
        """Completion time of every request of a stream, in ps, in the order submitted."""
        return self.request_done * self.tck_ps


class _Index:
    """Submissions by the consecutive ids of their requests (or ops), oldest first."""

    def __init__(self):
        self.starts = np.zeros(64, dtype=np.int64)
        self.subs: list[Submission] = []
        self.first = 0                            # subs before it are all complete

    def add(self, sub: Submission) -> None:
        if len(self.subs) == self.starts.size:
            self.starts = np.concatenate([self.starts, np.zeros_like(self.starts)])
        self.starts[len(self.subs)] = sub.ids[0]
        self.subs.append(sub)

    def groups(self, ids: np.ndarray, done: np.ndarray):
        """(submission, index of each id in it, done cycles) for every submission among `ids`."""
        while self.first < len(self.subs) and self.subs[self.first].pending == 0:
            self.first += 1
        where = np.searchsorted(self.starts[self.first:len(self.subs)], ids, side="right") - 1 + self.first
        order = np.argsort(where, kind="stable")
        where, ids, done = where[order], ids[order], done[order]
        cuts = np.flatnonzero(np.diff(where)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, where.size]):
            sub = self.subs[int(where[lo])]
            yield sub, ids[lo:hi] - sub.ids[0], done[lo:hi]


class DramSystem:
    """A DRAM device system under a SimPy environment."""

    def __init__(self, env: simpy.Environment, device: DramDevice):
        self.env = env
        self.device = device
        self.engine = DramEngine(device)
        self.ahead = Lookahead(self.engine)
        self.tck = device.tck_ps
        self.streams, self.bundles = _Index(), _Index()
        self.predicted: list[list] = [[] for _ in range(self.engine.channels)]  # per channel: (sub, index)
        self.known = []                                # heap of (done cycle, order, version, sub)
        self.order = 0
        self.generation = 0
        self.predictions = 0                           # look-ahead rounds (statistics)

    # ---- clock conversion -------------------------------------------------------------------

    def cycle_at(self, t_ps: int) -> int:
        """The first DRAM clock edge at or after `t_ps`."""
        return -(-t_ps // self.tck)

    def ps_of(self, cycle: int) -> int:
        return cycle * self.tck

    # ---- submitting ---------------------------------------------------------------------------

    def stream(self, addr, write, label: str = "") -> simpy.Event:
        """Requests (byte addresses; `write` 0/1 per request or one value) arriving now; the returned event
        fires when the last one completes, with the `Submission` (completion times) as its value."""
        addr = np.ascontiguousarray(addr, dtype=np.int64).reshape(-1)
        now = self._commit_to_now()
        ids = self.engine.submit(addr, write, now)
        sub = self._new("stream", ids, now, label)
        sub.request_done = sub.real
        if ids.size:
            self.streams.add(sub)
            pos, width, shift, span_mask = self.engine._decode[:4]
            counts = np.zeros(self.engine.channels, dtype=np.int64)
            channel_counts(addr, pos, width, shift, span_mask, counts)
            self._restart(np.flatnonzero(counts))
        return self._submitted(sub)

    def bundle(self, bundle: PimBundle) -> simpy.Event:
        """A PIM bundle arriving now on its channel; the event fires when its last command is done."""
        bundle.validate(self.device)
        now = self._commit_to_now()
        ids = np.asarray(self.engine.submit_pim(bundle.channel, [s.encoded() for s in bundle.steps], now),
                         dtype=np.int64)
        sub = self._new("pim", ids, now, bundle.label)
        if ids.size:
            self.bundles.add(sub)
            self._restart(np.array([bundle.channel], dtype=np.int64))
        return self._submitted(sub)

    def _new(self, kind: str, ids: np.ndarray, now: int, label: str) -> Submission:
        n = ids.size
        return Submission(kind, ids, self.env.event(), now, label, pending=n, tck_ps=self.tck,
                          real=np.full(n, -1, dtype=np.int64), spec=np.full(n, -1, dtype=np.int64))

    def _submitted(self, sub: Submission) -> simpy.Event:
        if not sub.pending:
            self._finish(sub, sub.submitted_cycle)
        self._predict()
        return sub.event

    # ---- committing -------------------------------------------------------------------------------

    def _commit_to_now(self) -> int:
        now = self.cycle_at(self.env.now)
        if now > self.engine.horizon:
            self._commit(now)
        return now

    def _commit(self, until: int) -> None:
        """Run the engine to `until`; record what it finished; fire the submissions now complete."""
        out = self.engine.run(until=until)
        if out.id.size:
            for sub, k, done in self.streams.groups(out.id, out.done):
                self._record(sub, k, done)
        if self.engine.pim_done:
            ops = np.fromiter(self.engine.pim_done.keys(), dtype=np.int64)
            done = np.fromiter(self.engine.pim_done.values(), dtype=np.int64)
            self.engine.pim_done.clear()
            for sub, k, d in self.bundles.groups(ops, done):
                self._record(sub, k, d)

    def _record(self, sub: Submission, k: np.ndarray, done: np.ndarray) -> None:
        sub.known += int(np.count_nonzero(sub.spec[k] < 0))
        sub.real[k] = done
        sub.pending -= k.size
        if sub.pending == 0:
            self._finish(sub, int(sub.real.max()))
        elif sub.known == sub.spec.size:
            self._push(sub)

    def _push(self, sub: Submission) -> None:
        """`sub` is known to complete: put it in the heap of known completions."""
        self.order += 1
        heapq.heappush(self.known, (int(np.maximum(sub.real, sub.spec).max()), self.order, sub.version, sub))

    def _finish(self, sub: Submission, done_cycle: int) -> None:
        sub.done_cycle = max(done_cycle, sub.submitted_cycle)
        sub.version += 1                               # whatever was predicted is now settled
        at = self.ps_of(sub.done_cycle)
        if at <= self.env.now:
            sub.event.succeed(sub)
        else:                                          # data still on its way: fire when it lands
            self.env.process(self._fire_at(sub, at))

    def _fire_at(self, sub, at):
        yield self.env.timeout(at - self.env.now)
        sub.event.succeed(sub)

    # ---- predicting -------------------------------------------------------------------------------

    def _restart(self, channels: np.ndarray) -> None:
        """New work on `channels`: withdraw their predictions and restart their look-ahead from the engine."""
        for c in channels.tolist():
            for sub, k in self.predicted[c]:
                if sub.pending and False:
                    lost = int(np.count_nonzero((sub.spec[k] >= 0) & (sub.real[k] < 0)))
                    sub.spec[k] = -1
                    if lost:
                        sub.known -= lost
                        sub.version += 1
            self.predicted[c] = []
        self.ahead.sync(channels)

    def _predict_from(self, index: _Index, c: int, ids: np.ndarray, done: np.ndarray) -> None:
        for sub, k, d in index.groups(ids, done):
            if not sub.pending:
                continue
            sub.known += int(np.count_nonzero(sub.real[k] < 0))
            sub.spec[k] = d
            self.predicted[c].append((sub, k))
            if sub.known == sub.spec.size:
                self._push(sub)

    def _earliest(self) -> int:
        """The earliest predicted completion of a submission every part of which is known; INF if none."""
        while self.known:
            done, _, version, sub = self.known[0]
            if sub.pending and version == sub.version and sub.known == sub.spec.size:
                return max(done, sub.submitted_cycle)
            heapq.heappop(self.known)
        return INF

    def _predict(self) -> None:
        """Run the look-ahead until the earliest completion is certain; wake up then."""
        if not (self.streams.subs or self.bundles.subs):
            return
        self.predictions += 1
        step = FIRST_STEP
        while True:
            earliest = self._earliest()
            busy = np.flatnonzero(self.ahead.busy())
            behind = busy[self.ahead.horizon[busy] < earliest]
            if behind.size == 0:
                break                                  # no channel can still finish something sooner
            target = earliest if earliest < INF else int(self.ahead.horizon[busy].min()) + step
            step *= 2
            behind = behind[self.ahead.horizon[behind] < target]
            requests, ops = self.ahead.run(behind, target)
            for c, ids, done in requests:
                self._predict_from(self.streams, c, ids, done)
            for c, ids, done in ops:
                self._predict_from(self.bundles, c, ids, done)
        if earliest < INF:
            self.generation += 1
            self.env.process(self._wake(self.generation, earliest))

    def _wake(self, generation: int, done_cycle: int):
        yield self.env.timeout(max(0, self.ps_of(done_cycle) - self.env.now))
        if generation != self.generation:
            return                                     # superseded by a newer prediction
        # every command of that submission issued before its done cycle, so this finishes it
        self._commit(max(done_cycle, self.engine.horizon))
        self._predict()

    # ---- results ----------------------------------------------------------------------------------

    def finish(self) -> None:
        """Run everything still pending (at the end of a simulation)."""
        self._commit(INF)

    def energy(self, end_cycle: int) -> EnergyReport:
        return self.engine.energy(max(end_cycle, self.engine.now))

    def device_notes(self) -> tuple[str, ...]:
        return simplifications(self.device)
