"""`DramSystem`: the cycle-level engine behind SimPy — one event per submitted stream or PIM bundle.

Requesters (DMA transfers, PIM controllers) submit work at the current SimPy time; the engine decides
every DRAM command, and SimPy sees one event per submission, when its last request or command is done.

How the two clocks stay consistent. The engine is *committed* only up to the current SimPy time: every
command before it is final, since later submissions arrive later. To know when to wake a waiting
requester, a look-ahead (`lookahead.py`) runs the channels further, and a timer is set for the
earliest completion it predicts; when the timer fires, the engine is committed up to that cycle, which
finishes that submission exactly as predicted. Requests from several requesters are thereby merged in
time order, command by command.

The timeline is exactly the one of the simplest method, which at every submission and every wake-up
copies the whole engine, runs the copy until all submitted work is done and wakes at the earliest
completion it sees (`tests/test_dram_lookahead.py` keeps that method as the oracle). That costs the
commands of every submission in flight, at every submission: quadratic when thousands overlap. Here:
* channels are independent, so new work touches only the look-ahead of the channels it goes to; and
  when the look-ahead has not yet reached the new work's place in a channel's arrival ring (the
  channel is backlogged), the look-ahead stays valid and only learns of the new work;
* otherwise that channel's look-ahead is copied from the engine again and its predictions of
  uncommitted requests are withdrawn;
* the look-ahead runs only as far as it must to know the earliest completion: until every channel
  with work left has passed it (work not yet issued on a channel completes after that channel's
  horizon), in steps that double while no submission is fully predicted;
* predictions are kept per request, so a submission is fully known when each of its requests is
  committed or predicted.
So the work per submission follows the commands between now and the next completion on the channels
it touches, not the number of submissions in flight; `loom bench dram_overlap` measures it.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
import simpy

from loomsim.arch.dram_device import DramDevice
from loomsim.simulator.dram.energy import EnergyReport
from loomsim.simulator.dram.engine import DramEngine, simplifications
from loomsim.simulator.dram.lookahead import Lookahead
from loomsim.simulator.dram.pim import PimBundle
from loomsim.simulator.dram.state import INF

FIRST_STEP = 1024          # cycles the look-ahead first runs ahead while no submission is fully predicted
KEEP_CHUNKS = 64           # predictions kept per channel before they are compacted to the uncommitted ones


@dataclass(eq=False)
class Submission:
    """One stream or bundle: its requests (or PIM op ids), its SimPy event, and its results. The event's
    value is the Submission itself, so a requester can read `done_ps` and, for a stream, every
    request's completion (`request_done_ps()`)."""

    kind: str                     # "stream" or "pim"
    ids: np.ndarray               # request ids (stream) or PIM op ids (pim); consecutive
    event: simpy.Event
    submitted_cycle: int
    label: str = ""
    done_cycle: int = -1
    request_done: np.ndarray | None = None      # per request, in submission order (streams)
    pending: int = 0              # requests (ops) not yet committed
    tck_ps: int = 0
    # per request (op): the committed done cycle and the predicted one; -1 while not known
    real: np.ndarray = field(default=None, repr=False)
    spec: np.ndarray = field(default=None, repr=False)
    known: int = 0                # requests committed or predicted
    version: int = 0              # bumped whenever the submission's entry in the heap goes stale
    order: np.ndarray | None = field(default=None, repr=False)  # uncommitted requests, latest predicted first
    top: int = 0                  # the first of `order` not yet committed

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
        self.first = 0                            # submissions before it are all complete

    def add(self, sub: Submission) -> None:
        if len(self.subs) == self.starts.size:
            self.starts = np.concatenate([self.starts, np.zeros_like(self.starts)])
        self.starts[len(self.subs)] = sub.ids[0]
        self.subs.append(sub)

    def groups(self, ids: np.ndarray, done: np.ndarray):
        """(submission, index of each id in it, done cycles, position of the last of them in `ids`) for
        every submission among `ids`, in order of submission. Ids of submissions already complete may
        be attributed to another complete one (callers skip complete submissions)."""
        if ids.size == 0:
            return
        while self.first < len(self.subs) and self.subs[self.first].pending == 0:
            self.first += 1
        starts = self.starts[self.first:len(self.subs)]
        lo, hi = np.searchsorted(starts, (ids.min(), ids.max()), side="right") - 1 + self.first
        if lo == hi:                              # the common case: all of one submission
            sub = self.subs[int(lo)]
            yield sub, ids - sub.ids[0], done, ids.size - 1
            return
        where = np.searchsorted(starts, ids, side="right") - 1 + self.first
        if where.size > 1 and (where[1:] < where[:-1]).any():
            order = np.argsort(where, kind="stable")
            where, ids, done, pos = where[order], ids[order], done[order], order
        else:
            pos = np.arange(where.size)
        cuts = np.flatnonzero(where[1:] != where[:-1]) + 1
        for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), where.size]):
            sub = self.subs[int(where[lo])]
            yield sub, ids[lo:hi] - sub.ids[0], done[lo:hi], int(pos[lo:hi].max())


class DramSystem:
    """A DRAM device system under a SimPy environment."""

    def __init__(self, env: simpy.Environment, device: DramDevice):
        self.env = env
        self.device = device
        self.engine = DramEngine(device)
        self.ahead = Lookahead(self.engine)
        self.tck = device.tck_ps
        self.streams, self.bundles = _Index(), _Index()
        # per index (streams, bundles) and channel: the ids the channel's look-ahead predicted since its restart
        self.predicted = {id(ix): [[] for _ in range(self.engine.channels)] for ix in (self.streams, self.bundles)}
        self.heap: list = []           # fully known submissions: (earliest completion, n, version, submission)
        self.pushes = 0
        self.waiting = 0               # submissions not yet complete
        self.generation = 0
        self.predictions = 0           # look-ahead rounds (statistics)

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
        tails = self.engine.st.ch["ftail"].copy()
        ids = self.engine.submit(addr, write, now)
        sub = self._new("stream", ids, now, label)
        sub.request_done = sub.real
        if ids.size:
            self.streams.add(sub)
            self._touch(np.flatnonzero(self.engine.channel_counts(addr)), "f", tails)
        return self._submitted(sub)

    def bundle(self, bundle: PimBundle) -> simpy.Event:
        """A PIM bundle arriving now on its channel; the event fires when its last command is done."""
        bundle.validate(self.device)
        now = self._commit_to_now()
        tails = self.engine.st.ch["ptail"].copy()
        ids = np.asarray(self.engine.submit_pim(bundle.channel, [s.encoded() for s in bundle.steps], now),
                         dtype=np.int64)
        sub = self._new("pim", ids, now, bundle.label)
        if ids.size:
            self.bundles.add(sub)
            self._touch(np.array([bundle.channel]), "p", tails)
        return self._submitted(sub)

    def _new(self, kind: str, ids: np.ndarray, now: int, label: str) -> Submission:
        n = ids.size
        return Submission(kind, ids, self.env.event(), now, label, pending=n, tck_ps=self.tck,
                          real=np.full(n, -1, dtype=np.int64), spec=np.full(n, -1, dtype=np.int64))

    def _submitted(self, sub: Submission) -> simpy.Event:
        if sub.pending:
            self.waiting += 1
        else:
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
        """Run the engine to `until`; record what it finished; fire the submissions now complete, in the
        order their last requests (then ops) were completed."""
        out = self.engine.run(until=until)
        finished = []
        if out.id.size:
            for sub, k, done, last in self.streams.groups(out.id, out.done):
                if self._record(sub, k, done):
                    finished.append((last, sub))
        finished.sort(key=lambda x: x[0])
        for _, sub in finished:
            self._finish(sub, int(sub.real.max()))
        if self.engine.pim_done:
            ops = np.fromiter(self.engine.pim_done.keys(), dtype=np.int64)
            done = np.fromiter(self.engine.pim_done.values(), dtype=np.int64)
            self.engine.pim_done.clear()
            finished = [(last, sub) for sub, k, d, last in self.bundles.groups(ops, done) if self._record(sub, k, d)]
            finished.sort(key=lambda x: x[0])
            for _, sub in finished:
                self._finish(sub, int(sub.real.max()))

    def _record(self, sub: Submission, k: np.ndarray, done: np.ndarray) -> bool:
        """Requests `k` of `sub` are committed, done at `done`. Returns whether `sub` is now complete."""
        spec = sub.spec[k]
        guessed = spec >= 0
        if not np.array_equal(spec[guessed], done[guessed]):   # pragma: no cover - a broken invariant
            raise RuntimeError(f"DRAM look-ahead mispredicted a completion of '{sub.label}'")
        sub.known += k.size - int(np.count_nonzero(guessed))
        sub.real[k] = done
        sub.pending -= k.size
        if sub.pending == 0:
            return True
        if sub.order is not None:                     # fully known: its latest uncommitted part may now be earlier
            before = sub.top
            while sub.real[sub.order[sub.top]] >= 0:
                sub.top += 1
            if sub.top != before and sub.spec[sub.order[sub.top]] < sub.spec[sub.order[before]]:
                self._push(sub)
        elif sub.known == sub.spec.size:
            self._push(sub)
        return False

    def _push(self, sub: Submission) -> None:
        """`sub` is fully known: (re)enter it in the heap, keyed by the latest predicted completion of its
        uncommitted parts (when the simplest method would wake for it)."""
        if sub.order is None:
            rest = np.flatnonzero(sub.real < 0)
            sub.order = rest[np.argsort(-sub.spec[rest], kind="stable")]
            sub.top = 0
        sub.version += 1
        self.pushes += 1
        heapq.heappush(self.heap, (int(sub.spec[sub.order[sub.top]]), self.pushes, sub.version, sub))

    def _finish(self, sub: Submission, done_cycle: int) -> None:
        sub.done_cycle = max(done_cycle, sub.submitted_cycle)
        sub.version += 1                               # its heap entry, if any, is stale
        sub.order = None
        if sub.ids.size:
            self.waiting -= 1
        at = self.ps_of(sub.done_cycle)
        if at <= self.env.now:
            sub.event.succeed(sub)
        else:                                          # data still on its way: fire when it lands
            self.env.process(self._fire_at(sub, at))

    def _fire_at(self, sub, at):
        yield self.env.timeout(at - self.env.now)
        sub.event.succeed(sub)

    # ---- predicting -------------------------------------------------------------------------------

    def _touch(self, channels: np.ndarray, ring: str, old_tails: np.ndarray) -> None:
        """New work went into `ring` of `channels`: extend their look-ahead, or restart it from the engine
        and withdraw its predictions of uncommitted requests."""
        restart = [c for c in channels.tolist() if not self.ahead.extend(c, ring, int(old_tails[c]))]
        if not restart:
            return
        for index in (self.streams, self.bundles):
            chunks = self.predicted[id(index)]
            ids = [i for c in restart for i in chunks[c]]
            for c in restart:
                chunks[c] = []
            if ids:
                ids = np.concatenate(ids)
                for sub, k, _, _ in index.groups(ids, ids):
                    self._withdraw(sub, k)
        self.ahead.sync(np.array(restart, dtype=np.int64))

    def _withdraw(self, sub: Submission, k: np.ndarray) -> None:
        """The predictions of requests `k` of `sub` are void (their channel's look-ahead restarts)."""
        if not sub.pending:
            return
        lost = (sub.spec[k] >= 0) & (sub.real[k] < 0)
        n = int(np.count_nonzero(lost))
        if n:
            sub.spec[k[lost]] = -1
            sub.known -= n
            sub.version += 1
            sub.order = None

    def _learn(self, index: _Index, predicted: list) -> None:
        """Record what one look-ahead run predicts: `predicted` holds (channel, request or op ids, done
        cycles) for each channel that completed some."""
        chunks = self.predicted[id(index)]
        for c, ids, _ in predicted:
            chunks[c].append(ids)
            if len(chunks[c]) > KEEP_CHUNKS:             # without restarts, keep only what may be withdrawn
                chunks[c] = [self._uncommitted(index, np.concatenate(chunks[c]))]
        ids = np.concatenate([p[1] for p in predicted]) if len(predicted) > 1 else predicted[0][1]
        done = np.concatenate([p[2] for p in predicted]) if len(predicted) > 1 else predicted[0][2]
        for sub, k, d, _ in index.groups(ids, done):
            if not sub.pending:                          # pragma: no cover - the look-ahead runs after the engine
                continue
            sub.known += int(np.count_nonzero((sub.real[k] < 0) & (sub.spec[k] < 0)))
            sub.spec[k] = d
            if sub.known == sub.spec.size:
                self._push(sub)

    @staticmethod
    def _uncommitted(index: _Index, ids: np.ndarray) -> np.ndarray:
        """The ids among `ids` whose requests (ops) are not committed yet."""
        keep = [sub.ids[k[sub.real[k] < 0]] for sub, k, _, _ in index.groups(ids, ids) if sub.pending]
        return np.concatenate(keep) if keep else ids[:0]

    def _earliest(self) -> int:
        """The earliest wake-up a fully known submission asks for; INF if none is fully known."""
        heap = self.heap
        while heap:
            cycle, _, version, sub = heap[0]
            if version == sub.version:
                return cycle
            heapq.heappop(heap)
        return INF

    def _predict(self) -> None:
        """Run the look-ahead until the earliest completion is certain; wake up then."""
        if not self.waiting:
            return
        self.predictions += 1
        ahead = self.ahead
        step = FIRST_STEP
        while True:
            earliest = self._earliest()
            busy = np.flatnonzero(ahead.busy())
            horizon = ahead.horizon[busy]
            if not (horizon < earliest).any():
                break                                  # no channel can still finish something sooner
            target = earliest if earliest < INF else int(horizon.min()) + step
            step *= 2
            requests, ops = ahead.run(busy[horizon < target], target)
            if requests:
                self._learn(self.streams, requests)
            if ops:
                self._learn(self.bundles, ops)
        if earliest == INF:                            # pragma: no cover - a broken invariant
            raise RuntimeError("DRAM look-ahead: submissions wait but no channel has work left")
        self.generation += 1
        self.env.process(self._wake(self.generation, earliest))

    def _wake(self, generation: int, done_cycle: int):
        yield self.env.timeout(max(0, self.ps_of(done_cycle) - self.env.now))
        if generation != self.generation:
            return                                     # superseded by a newer prediction
        # every command of that submission issued before its done cycle, so this finishes it
        self._commit(done_cycle)
        self._predict()

    # ---- results ----------------------------------------------------------------------------------

    def finish(self) -> None:
        """Run everything still pending (at the end of a simulation)."""
        self._commit(INF)

    def energy(self, end_cycle: int) -> EnergyReport:
        return self.engine.energy(max(end_cycle, self.engine.now))

    def device_notes(self) -> tuple[str, ...]:
        return simplifications(self.device)
