"""Component models: the running state of each component while a program executes.

One model per component spec type, registered with `@model_for("type")`. A model that executes tasks
implements `execute(task, done)`, a SimPy generator that takes one task from start to completion and
triggers `done`; time inside a task comes from closed forms (the systolic array) or from the memory
model, never from one SimPy event per cycle. Every model counts its actions; energy is counts times
the per-action energies resolved into the spec.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

import simpy

from loomsim.arch.units import PS_PER_S, edge_time_ps, next_edge_ps
from loomsim.dtypes import dtype
from loomsim.errors import LoomError
from loomsim.registry import Registry
from loomsim.simulator.systolic import pipelined_run, tile_breakdown, tile_cycles, tile_traffic

_MODELS: Registry = Registry("simulation model for component type")
model_for = _MODELS.register


def build_model(spec, ctx) -> "ComponentModel":
    cls = _MODELS.get(spec.type_name)
    if cls is None:
        raise LoomError(f"no simulation model for component type '{spec.type_name}' ({spec.name}).")
    return cls(spec, ctx)


@dataclass(frozen=True)
class Count:
    """One action count: e.g. (vmem, read, A, 1024, access)."""

    action: str
    operand: str
    unit: str


class ComponentModel:
    """Base of all models: busy time, intervals for the timeline, action counts."""

    simplifications: tuple[str, ...] = ()
    accepts: tuple[str, ...] = ()   # task kinds this component executes

    def __init__(self, spec, ctx):
        self.spec = spec
        self.ctx = ctx
        self.port_busy_ps = 0          # busy time charged directly (an SRAM's port time)
        self.intervals: list[tuple[int, int]] = []
        self.counts: Counter = Counter()
        # when the unit can take the next task: with one issue queue the queue's own process already
        # waits for the previous task; with several, each queue's next task starts no earlier than this
        self.free_at = 0

    @property
    def name(self) -> str:
        return self.spec.name

    def add(self, action: str, operand: str, value: int | float, unit: str) -> None:
        self.counts[Count(action, operand, unit)] += value

    def mark_busy(self, start: int, end: int) -> None:
        self.intervals.append((start, end))

    @property
    def busy_ps(self) -> int:
        """Time with at least one task in progress (the union of the intervals; overlapping transfers
        of a pipelined link count once), plus any busy time charged directly."""
        return union_ps(self.intervals) + self.port_busy_ps

    def energy(self) -> list[tuple[str, float]]:
        """(action, pJ) rows."""
        return []

    def execute(self, task, done: simpy.Event):  # pragma: no cover - the engine checks `accepts` first
        raise NotImplementedError


def union_ps(intervals) -> int:
    """Length of the union of (start, end) intervals."""
    total, reach = 0, None
    for s, e in sorted(intervals):
        if reach is None or s > reach:
            total += e - s
            reach = e
        elif e > reach:
            total += e - reach
            reach = e
    return total


def ps_of_cycles(start_ps: int, cycles: int, clock_hz: int) -> tuple[int, int]:
    """(first clock edge at or after start, end time after `cycles` cycles of that clock)."""
    k0, t0 = next_edge_ps(start_ps, clock_hz)
    return t0, edge_time_ps(k0 + cycles, clock_hz)


# ---- memories ----------------------------------------------------------------------------------

@model_for("sram")
class SramModel(ComponentModel):
    """Counts port-width accesses by operand; its bandwidth bounds the tasks that use it."""

    simplifications = ("SRAM: DMA fills and compute reads do not contend for ports; each task is bounded by "
                       "the SRAM's bandwidth on its own.",)

    def access(self, action: str, operand: str, nbytes: int, times: int = 1) -> None:
        """Count an access (`times` identical ones); busy time is the port time each takes at full SRAM
        bandwidth."""
        if nbytes <= 0:
            return
        self.add(action, operand, nbytes * times, "B")
        self.add(action, operand, -(-nbytes // self.spec.port_width) * times, "access")
        self.port_busy_ps += self.transfer_ps(nbytes) * times

    @property
    def bandwidth(self) -> float:
        return self.spec.bytes_per_cycle * self.spec.clock

    def transfer_ps(self, nbytes: int) -> int:
        cycles = -(-nbytes // self.spec.bytes_per_cycle)
        return -(-cycles * PS_PER_S // self.spec.clock)

    def energy(self):
        rows = []
        for action, per in (("read", self.spec.read_energy), ("write", self.spec.write_energy)):
            n = sum(v for c, v in self.counts.items() if c.action == action and c.unit == "access")
            rows.append((action, n * per))
        return rows


@model_for("dram")
class DramModel(ComponentModel):
    """Off-chip DRAM. With a preset, the cycle-level engine (`simulator.dram`) times every command and
    transfers become request streams; without one, peak bandwidth shared in request order plus the
    unloaded latency per transfer."""

    def __init__(self, spec, ctx):
        super().__init__(spec, ctx)
        self.cycle_level = spec.cycle_level
        if self.cycle_level:
            from loomsim.simulator.dram.component import DramSystem
            from loomsim.simulator.dram.layout import TensorLayout
            self.system = DramSystem(ctx.env, spec.device())
            self.layout = TensorLayout(self.system.device)
            self.accepts = ("pim",)
            self.simplifications = self.system.device_notes()
            self.pim_intervals: dict[int, list[tuple[int, int]]] = {}
            self._seen: Counter = Counter()
        else:
            self.bus = simpy.Resource(ctx.env, capacity=1)
            self.simplifications = ("DRAM: peak bandwidth shared in request order plus the unloaded latency per "
                                    "transfer; no banks, row hits or refresh (give the dram a preset: for the "
                                    "cycle-level engine).",)

    def access(self, action: str, operand: str, nbytes: int) -> None:
        self.add(action, operand, nbytes, "B")

    @property
    def bandwidth(self) -> float:
        return self.spec.bandwidth

    @property
    def latency_ps(self) -> int:
        return self.spec.latency_ps()

    # ---- cycle-level ----------------------------------------------------------------------------

    def stream(self, task, write: bool) -> simpy.Event:
        """Submit a transfer's requests now; the event fires when its last request completes."""
        addr = self.layout.addresses(task)
        event = self.system.stream(addr, int(write), label=task.label)
        self.add("request", task.tensor, addr.size, "request")
        return event

    def execute(self, task, done):
        """Submit a PIM bundle and move on: bundles for other channels run alongside, and a channel's
        bundles queue in submission order in the engine; `done` fires when this one's last command is."""
        env = self.ctx.env
        start = env.now
        event = self.system.bundle(task.bundle)
        env.process(self._pim_finish(task, done, event, start))
        yield env.timeout(0)

    def _pim_finish(self, task, done, event, start):
        env = self.ctx.env
        yield event
        self.mark_busy(start, env.now)
        self.pim_intervals.setdefault(task.bundle.channel, []).append((start, env.now))
        self.sync_counts()
        self.add("pim_bundle", task.label, 1, "bundle")
        self.ctx.record(task, start, env.now)
        done.succeed()

    def pim_busy_ps(self) -> float:
        """Mean over the device's channels of the time some PIM bundle of the channel was in progress."""
        if not self.cycle_level or not self.pim_intervals:
            return 0.0
        return sum(union_ps(iv) for iv in self.pim_intervals.values()) / self.system.device.org.channels

    def sync_counts(self) -> None:
        """Command counts so far (a Counter delta, so the result's counts stay current)."""
        for name, n in self.system.engine.counts().items():
            if n != self._seen[name]:
                self.add(name, "", n - self._seen[name], "command")
                self._seen[name] = n

    def energy(self):
        if not self.cycle_level:
            rows = []
            for action, per_bit in (("read", self.spec.read_energy_per_bit), ("write", self.spec.write_energy_per_bit)):
                nbytes = sum(v for c, v in self.counts.items() if c.action == action and c.unit == "B")
                rows.append((action, nbytes * 8 * per_bit))
            return rows
        self.system.finish()
        self.sync_counts()
        report = self.system.energy(self.system.cycle_at(self.ctx.env.now))
        if report.model == "none":           # no device energy model: the per-bit figures of the spec
            rows = []
            for action, per_bit in (("read", self.spec.read_energy_per_bit), ("write", self.spec.write_energy_per_bit)):
                nbytes = sum(v for c, v in self.counts.items() if c.action == action and c.unit == "B")
                rows.append((action, nbytes * 8 * per_bit))
            return rows
        return sorted(report.pj.items())


@model_for("link")
class LinkModel(ComponentModel):
    """A DMA path: executes transfers in program order, pipelining their latencies.

    A transfer holds the link (and the DRAM bus at either end) for bytes / bandwidth, where the
    bandwidth is the smallest of the link's and both ends'; its data arrives one latency (DRAM
    latency plus link latency) later, while the next transfer already streams. With a cycle-level
    DRAM at an end, the DRAM engine decides when its requests complete instead, and the transfer ends
    when both the DRAM is done and the link has moved the bytes.
    """

    accepts = ("transfer",)

    def execute(self, task, done):
        env, models = self.ctx.env, self.ctx.models
        src, dst = models[task.src], models[task.dst]
        if {task.src, task.dst} != {self.spec.src, self.spec.dst}:
            raise LoomError(f"task {task.id} ({task.label}) moves {task.src}->{task.dst} over link '{self.name}', "
                            f"which joins {self.spec.src} and {self.spec.dst}.")
        cycle = [m for m in (src, dst) if isinstance(m, DramModel) and m.cycle_level]
        if cycle:
            yield from self._execute_cycle_level(task, done, src, dst, cycle[0])
            return
        bw = min(self.spec.bandwidth, src.bandwidth, dst.bandwidth)
        occupancy = -(-task.nbytes * PS_PER_S // int(bw)) if task.nbytes else 0
        latency = self.spec.latency_ps() + sum(m.latency_ps for m in (src, dst) if isinstance(m, DramModel))
        while self.free_at > env.now:            # another issue queue's transfer holds the link
            yield env.timeout(self.free_at - env.now)
        buses = [m.bus for m in (src, dst) if isinstance(m, DramModel)]
        requests = [bus.request() for bus in buses]
        for req in requests:
            yield req
        start = env.now
        self.free_at = max(self.free_at, start + occupancy)
        yield env.timeout(occupancy)
        for bus, req in zip(buses, requests):
            bus.release(req)
        end = env.now
        self.mark_busy(start, end)
        for m in (src, dst):
            if isinstance(m, DramModel):
                m.mark_busy(start, end)
        src.access("read", task.tensor, task.nbytes)
        dst.access("write", task.tensor, task.nbytes)
        self.add("transfer", task.tensor, task.nbytes, "B")
        self.ctx.record(task, start, end + latency)
        if latency:
            env.process(_succeed_later(env, latency, done))
        else:
            done.succeed()

    def _execute_cycle_level(self, task, done, src, dst, dram):
        """Issue the transfer's requests, hold the link for bytes / link bandwidth, and move on: the next
        transfer streams while this one's requests are still in the DRAM queues (a DMA engine keeps
        requests outstanding). The transfer is done when its last request is, and not before the link
        has moved its bytes."""
        env = self.ctx.env
        other = dst if dram is src else src
        bw = min(self.spec.bandwidth, other.bandwidth)
        occupancy = -(-task.nbytes * PS_PER_S // int(bw)) if task.nbytes else 0
        start = max(env.now, self.free_at)       # after another issue queue's transfer has moved
        self.free_at = start + occupancy
        if start > env.now:
            yield env.timeout(start - env.now)
        event = dram.stream(task, write=dram is dst) if task.nbytes else None
        if occupancy:
            yield env.timeout(occupancy)
        self.mark_busy(start, env.now)
        src.access("read", task.tensor, task.nbytes)
        dst.access("write", task.tensor, task.nbytes)
        self.add("transfer", task.tensor, task.nbytes, "B")
        env.process(self._finish(task, done, dram, event, start))

    def _finish(self, task, done, dram, event, start):
        env = self.ctx.env
        if event is not None and not event.processed:
            yield event
        dram.mark_busy(start, env.now)
        dram.sync_counts()
        latency = self.spec.latency_ps()
        if latency:
            yield env.timeout(latency)
        self.ctx.record(task, start, env.now)
        done.succeed()

    def energy(self):
        nbytes = sum(v for c, v in self.counts.items() if c.unit == "B")
        return [("transfer", nbytes * 8 * self.spec.energy_per_bit)]


def _succeed_later(env, delay, event):
    yield env.timeout(delay)
    event.succeed()


# ---- compute -----------------------------------------------------------------------------------

@model_for("systolic_array")
class SystolicArrayModel(ComponentModel):
    """Runs GEMM tiles; cycles from the closed forms in `systolic.py`, bounded by SRAM bandwidth.

    With `fold_pipelining: double_buffered` each array is a pipeline across tasks too: a task holds the
    unit until its last vector has entered (the next task may then stream) and is done when its last
    output has left; the next task's first preload starts as soon as its inputs are ready and the
    previous fold has started streaming (the idle bank is free), exactly as between folds of one task.
    """

    accepts = ("matmul",)

    def __init__(self, spec, ctx):
        super().__init__(spec, ctx)
        self.pipes: dict[int, tuple[int, int, int]] = {}   # array -> (last fold's stream start edge, t, D)
        self.busy_until = 0                                # end of the last busy interval marked

    @property
    def simplifications(self):
        if self.spec.fold_pipelining == "double_buffered":
            return ("Systolic array (double-buffered folds): outputs leave at a fold's last row, so a short "
                    "partial fold after a tall one may emit on a column in the same cycle (as if every row had "
                    "an output tap); an SRAM-bound task delays its own release and completion as a whole.",)
        return ("Systolic array: folds run back to back (no overlap of a fold's drain with the next "
                "fold's preload; no weight double-buffering inside the array).",)

    def execute(self, task, done):
        env, spec = self.ctx.env, self.spec
        if task.queue:
            raise LoomError(f"task {task.id} ({task.label}) names issue queue '{task.queue}', but a systolic array "
                            "runs one instruction stream (its folds pipeline across consecutive tasks).")
        sram = self.ctx.models[task.sram]
        nb = self.ctx.nbytes
        pieces = task.pieces()
        if len(pieces) > spec.count:
            raise LoomError(f"task {task.id} ({task.label}) splits a tile across {len(pieces)} arrays, but "
                            f"'{self.name}' has count {spec.count}.")
        pipelined = spec.fold_pipelining == "double_buffered"
        k_now, start = next_edge_ps(env.now, spec.clock)
        # the task's inputs were ready when its last dependency finished (at or before now)
        k_ready = next_edge_ps(max((self.ctx.done_ps[d] for d in task.deps), default=0), spec.clock)[0]
        # each array runs its piece; the SRAM's ports are shared equally by the arrays in use. Pieces of
        # one shape (most of a task's, when it spreads over many arrays) are worked out once.
        ways = len(pieces)
        release, finish, first_edge = start, start, k_now
        shapes: dict[tuple[int, int, int, int], list] = {}
        cycles_sum, macs = 0, 0
        for i, shape in enumerate(pieces):
            b, m, n, k = shape
            info = shapes.get(shape)
            if info is None:
                tr = tile_traffic(spec.dataflow, spec.rows, spec.cols, m, n, k, task.accumulate)
                piece = {("read", task.a): nb(task.a, b * tr.a_reads), ("read", task.b): nb(task.b, b * tr.b_reads),
                         ("read", task.z): nb(task.z, b * tr.z_reads), ("write", task.z): nb(task.z, b * tr.z_writes)}
                if pipelined:
                    run = pipelined_run(spec.dataflow, spec.rows, spec.cols, m, n, k, b)
                    cycles, fc = run.total, run.breakdown
                else:
                    run = None
                    cycles = tile_cycles(spec.dataflow, spec.rows, spec.cols, m, n, k, b, spec.fold_pipelining)
                    fc = tile_breakdown(spec.dataflow, spec.rows, spec.cols, m, n, k, b, spec.fold_pipelining)
                info = shapes[shape] = [cycles, piece, sram.transfer_ps(sum(piece.values()) * ways), fc, run, 0]
            cycles, _, sram_ps, _, run, _ = info
            info[5] += 1
            sram_end = start + sram_ps
            if pipelined:
                run_release, run_end, k_first = self._pipelined_piece(i, k_now, k_ready, run)
                first_edge = min(first_edge, k_first)
            else:
                run_end = run_release = ps_of_cycles(env.now, cycles, spec.clock)[1]
            if sram_end > run_release:          # the SRAM ports, not the array, set the pace
                self.add("sram_bound", "", 1, "tile")
            release, finish = max(release, run_release, sram_end), max(finish, run_end, sram_end)
            cycles_sum += cycles
            macs += b * m * n * k
        yield env.timeout(release - env.now)
        begin = edge_time_ps(first_edge, spec.clock)      # its first preload may overlap the previous task
        if finish > self.busy_until:     # busy intervals stay disjoint (the timeline adds them up)
            self.mark_busy(max(begin, self.busy_until), finish)
            self.busy_until = finish
        self.add("mac", "", macs, "MAC")
        self.add("cycles", "", cycles_sum, "cycle")
        for phase in ("preload", "fill", "stream", "drain"):
            self.add(f"cycles.{phase}", "", sum(getattr(fc, phase) * count for _, _, _, fc, _, count in shapes.values()),
                     "cycle")
        for _, piece, _, _, _, count in shapes.values():
            for (action, tensor), nbytes in piece.items():
                sram.access(action, tensor, nbytes, count)
        self.ctx.record(task, begin, finish)
        if finish > release:
            env.process(_succeed_later(env, finish - release, done))
        else:
            done.succeed()

    def _pipelined_piece(self, i: int, k_now: int, k_ready: int, run):
        """(release ps, done ps, first preload edge) of a piece (its `pipelined_run`) on array i,
        continuing its pipeline."""
        spec = self.spec
        p0 = run.first_preload
        prev = self.pipes.get(i)
        if prev is None:
            s0 = k_now + p0
            load = k_now
        else:
            last_s, last_t, last_d = prev
            load = max(k_ready, last_s)     # the idle bank is free once the previous fold streams
            s0 = max(load + p0, last_s + max(last_t, last_d + p0), k_now)
        base = s0 - p0                      # the run's cycle 0 (its first preload) as an edge index
        last_start = base + run.stream_end - run.stream
        self.pipes[i] = (last_start, run.stream, run.last_drain)
        clock = spec.clock
        return edge_time_ps(base + run.stream_end, clock), edge_time_ps(base + run.total, clock), load

    def energy(self):
        macs = sum(v for c, v in self.counts.items() if c.action == "mac")
        return [("mac", macs * self.ctx.arch.energy[f"mac.{self.spec.dtype}"])]


@model_for("vector_unit")
class VectorUnitModel(ComponentModel):
    """Runs element-wise work at lanes x ops_per_cycle operations per cycle."""

    accepts = ("vector",)

    def execute(self, task, done):
        env, spec = self.ctx.env, self.spec
        ops = task.elements * task.ops
        pieces = task.parts or (task.elements,)
        if len(pieces) > spec.count:
            raise LoomError(f"task {task.id} ({task.label}) splits across {len(pieces)} units, but '{self.name}' "
                            f"has count {spec.count}.")
        per_cycle = spec.lanes * spec.ops_per_cycle
        cycles = max(-(-e * task.ops // per_cycle) for e in pieces)
        start, end = ps_of_cycles(max(env.now, self.free_at), cycles, spec.clock)
        if task.sram:
            sram = self.ctx.models[task.sram]
            nb = self.ctx.nbytes
            moved = [("read", t, nb(t, e)) for t, e in task.reads] + [("write", t, nb(t, e)) for t, e in task.writes]
            sram_end = start + sram.transfer_ps(sum(b for _, _, b in moved))
            if sram_end > end:
                self.add("sram_bound", "", 1, "op")
                end = sram_end
            for action, t, b in moved:
                sram.access(action, t, b)
        self.free_at = end
        yield env.timeout(end - env.now)
        self.mark_busy(start, end)
        self.add("op", "", ops, "op")
        self.add("cycles", "", cycles, "cycle")
        self.ctx.record(task, start, end)
        done.succeed()

    def energy(self):
        ops = sum(v for c, v in self.counts.items() if c.action == "op")
        if not ops:
            return []
        key = f"vector.{self.spec.dtype}"
        if key not in self.ctx.arch.energy:
            raise LoomError(f"vector unit '{self.name}' ran {ops} operations but the architecture's energy table "
                            f"has no '{key}' entry; add energy: {{{key}: <pJ with a cited source>}}.")
        return [("op", ops * self.ctx.arch.energy[key])]


def nbytes_for(tensors: dict[str, str]) -> Callable[[str, int], int]:
    def nb(tensor: str, elements: int) -> int:
        try:
            return dtype(tensors[tensor]).nbytes(elements)
        except KeyError:
            raise LoomError(f"program has no data type for tensor '{tensor}'.") from None
    return nb
