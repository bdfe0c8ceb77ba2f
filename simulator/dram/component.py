"""`DramSystem`: the cycle-level engine behind SimPy — one event per submitted stream or PIM bundle.

Requesters (DMA transfers, PIM controllers) submit work at the current SimPy time; the engine decides
every DRAM command, and SimPy sees one event per submission, when its last request or command is done.

How the two clocks stay consistent: the engine is *committed* only up to the current SimPy time (every
command before it is final, since later submissions arrive later). To know when to wake a waiting
requester, the engine's state is copied and the copy runs all submitted work to completion; a timer is
set for the earliest predicted completion. If something is submitted before the timer fires, the
prediction is redone from the new committed state (the old timer is ignored); when it fires, the real
engine is committed up to that time, which finishes the work exactly as predicted. Requests from
several requesters are thereby merged in time order, command by command.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy

from loomsim.arch.dram_device import DramDevice
from loomsim.simulator.dram.energy import EnergyReport
from loomsim.simulator.dram.engine import DramEngine, simplifications
from loomsim.simulator.dram.pim import PimBundle
from loomsim.simulator.dram.state import INF, State


@dataclass
class Submission:
    """One stream or bundle: its requests (or PIM op ids), its SimPy event, and its results. The event's
    value is the Submission itself, so a requester can read `done_ps` and, for a stream, every
    request's completion (`request_done_ps()`)."""

    kind: str                     # "stream" or "pim"
    ids: np.ndarray               # request ids (stream) or PIM op ids (pim)
    event: simpy.Event
    submitted_cycle: int
    label: str = ""
    done_cycle: int = -1
    request_done: np.ndarray | None = None      # per request, in submission order (streams)
    pending: set = field(default_factory=set)
    tck_ps: int = 0

    @property
    def done_ps(self) -> int:
        return self.done_cycle * self.tck_ps

    def request_done_ps(self) -> np.ndarray:
        """Completion time of every request of a stream, in ps, in the order submitted."""
        return self.request_done * self.tck_ps


class DramSystem:
    """A DRAM device system under a SimPy environment."""

    def __init__(self, env: simpy.Environment, device: DramDevice):
        self.env = env
        self.device = device
        self.engine = DramEngine(device)
        self.tck = device.tck_ps
        self.subs: list[Submission] = []
        self.by_request: dict[int, tuple[Submission, int]] = {}
        self.by_op: dict[int, Submission] = {}
        self.generation = 0
        self.predictions = 0

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
        addr = np.asarray(addr, dtype=np.int64)
        now = self._commit_to_now()
        ids = self.engine.submit(addr, write, now)
        sub = Submission("stream", ids, self.env.event(), now, label,
                         request_done=np.full(addr.size, -1, dtype=np.int64), tck_ps=self.tck)
        sub.pending = set(range(addr.size))
        for k, i in enumerate(ids.tolist()):
            self.by_request[i] = (sub, k)
        self._add(sub)
        return sub.event

    def bundle(self, bundle: PimBundle) -> simpy.Event:
        """A PIM bundle arriving now on its channel; the event fires when its last command is done."""
        bundle.validate(self.device)
        now = self._commit_to_now()
        ids = self.engine.submit_pim(bundle.channel, [s.encoded() for s in bundle.steps], now)
        sub = Submission("pim", np.asarray(ids, dtype=np.int64), self.env.event(), now, bundle.label,
                         tck_ps=self.tck)
        sub.pending = set(ids)
        for i in ids:
            self.by_op[i] = sub
        self._add(sub)
        return sub.event

    def _add(self, sub: Submission) -> None:
        self.subs.append(sub)
        if not sub.pending:
            self._finish(sub, sub.submitted_cycle)
        self._predict()

    # ---- committing and predicting ----------------------------------------------------------------

    def _commit_to_now(self) -> int:
        now = self.cycle_at(self.env.now)
        if now > self.engine.horizon:
            self._absorb(self.engine.run(until=now))
        return now

    def _absorb(self, completions) -> None:
        """Record what a committed run finished; fire the events of submissions now complete."""
        for rid, done in zip(completions.id.tolist(), completions.done.tolist()):
            sub, k = self.by_request.pop(rid)
            sub.request_done[k] = done
            sub.pending.discard(k)
            if not sub.pending:
                self._finish(sub, int(sub.request_done.max()))
        for op, done in list(self.engine.pim_done.items()):
            sub = self.by_op.pop(op, None)
            if sub is None:
                continue
            del self.engine.pim_done[op]
            sub.pending.discard(op)
            sub.done_cycle = max(sub.done_cycle, done)
            if not sub.pending:
                self._finish(sub, sub.done_cycle)

    def _finish(self, sub: Submission, done_cycle: int) -> None:
        sub.done_cycle = max(done_cycle, sub.submitted_cycle)
        at = self.ps_of(sub.done_cycle)
        if at <= self.env.now:
            sub.event.succeed(sub)
        else:                                          # data still on its way: fire when it lands
            self.env.process(self._fire_at(sub, at))

    def _fire_at(self, sub, at):
        yield self.env.timeout(at - self.env.now)
        sub.event.succeed(sub)

    def _predict(self) -> None:
        """Run a copy of the engine to completion; wake up at the earliest completion it predicts."""
        waiting = [s for s in self.subs if s.pending]
        if not waiting:
            return
        self.generation += 1
        self.predictions += 1
        clone = self.engine.__class__.__new__(self.engine.__class__)
        clone.__dict__.update(self.engine.__dict__)
        clone.st = State(*[a.copy() for a in self.engine.st])
        clone.pim_ids = [dict(d) for d in self.engine.pim_ids]
        clone.pim_done = {}
        out = clone.run(until=INF)
        finish = {}
        for rid, done in zip(out.id.tolist(), out.done.tolist()):
            sub = self.by_request[rid][0]
            finish[id(sub)] = max(finish.get(id(sub), -1), done)
        for op, done in clone.pim_done.items():
            sub = self.by_op.get(op)
            if sub is not None:
                finish[id(sub)] = max(finish.get(id(sub), -1), done)
        self.env.process(self._wake(self.generation, min(finish.values())))

    def _wake(self, generation: int, done_cycle: int):
        yield self.env.timeout(max(0, self.ps_of(done_cycle) - self.env.now))
        if generation != self.generation:
            return                                     # superseded by a newer prediction
        # every command of that submission issued before its done cycle, so this finishes it
        self._absorb(self.engine.run(until=done_cycle))
        self._predict()

    # ---- results ----------------------------------------------------------------------------------

    def finish(self) -> None:
        """Run everything still pending (at the end of a simulation)."""
        self._absorb(self.engine.run(until=INF))

    def energy(self, end_cycle: int) -> EnergyReport:
        return self.engine.energy(max(end_cycle, self.engine.now))

    def device_notes(self) -> tuple[str, ...]:
        return simplifications(self.device)
