"""The SimPy component's look-ahead gives exactly the timeline of copying the whole engine and running it ahead.

The oracle, `CopyAheadSystem`, is the component's previous method, kept as it was: at every submission
and every wake-up, commit the engine to now, copy all of it, run the copy until all submitted work is
done, and wake at the earliest completion the copy shows. It is quadratic in the submissions in flight
but plainly right. `DramSystem` extends or restarts only the channels new work goes to and runs them
only as far as needed; the tests require the same global sequence of completions (SimPy time,
requester, submission cycle, per-request completion cycles), in closed-loop scenarios (a requester
submits again when its last submission completes) with PIM bundles, refresh, writes and reads mixed,
many requesters sharing channels, submissions in the same cycle, and whole programs on NeuPIMs' HBM.
"""
import numpy as np
import pytest
import simpy

from dram_support import device
from loomsim.arch.dram_presets import load_device
from loomsim.simulator.dram import component
from loomsim.simulator.dram.component import DramSystem
from loomsim.simulator.dram.engine import DramEngine
from loomsim.simulator.dram.pim import gemv
from loomsim.simulator.dram.state import INF, State


class CopyAheadSystem:
    """The oracle: the previous `DramSystem`, which predicts by running a copy of the whole engine."""

    def __init__(self, env, dev):
        self.env, self.device, self.tck = env, dev, dev.tck_ps
        self.engine = DramEngine(dev)
        self.subs, self.by_request, self.by_op = [], {}, {}
        self.generation = 0

    def stream(self, addr, write, label=""):
        addr = np.asarray(addr, dtype=np.int64)
        now = self._commit_to_now()
        ids = self.engine.submit(addr, write, now)
        sub = component.Submission("stream", ids, self.env.event(), now, label,
                                   request_done=np.full(addr.size, -1, dtype=np.int64), tck_ps=self.tck)
        sub.pending = set(range(addr.size))
        for k, i in enumerate(ids.tolist()):
            self.by_request[i] = (sub, k)
        self._add(sub)
        return sub.event

    def bundle(self, bundle):
        now = self._commit_to_now()
        ids = self.engine.submit_pim(bundle.channel, [s.encoded() for s in bundle.steps], now)
        sub = component.Submission("pim", np.asarray(ids, dtype=np.int64), self.env.event(), now, bundle.label,
                                   tck_ps=self.tck)
        sub.pending = set(ids)
        for i in ids:
            self.by_op[i] = sub
        self._add(sub)
        return sub.event

    def _add(self, sub):
        self.subs.append(sub)
        if not sub.pending:
            self._finish(sub, sub.submitted_cycle)
        self._predict()

    def _commit_to_now(self):
        now = -(-self.env.now // self.tck)
        if now > self.engine.horizon:
            self._absorb(self.engine.run(until=now))
        return now

    def _absorb(self, completions):
        for rid, done in zip(completions.id.tolist(), completions.done.tolist()):
            sub, k = self.by_request.pop(rid)
            sub.request_done[k] = done
            sub.pending.discard(k)
            if not sub.pending:
                self._finish(sub, int(sub.request_done.max()))
        for op, done in list(self.engine.pim_done.items()):
            sub = self.by_op.pop(op)
            del self.engine.pim_done[op]
            sub.pending.discard(op)
            sub.done_cycle = max(sub.done_cycle, done)
            if not sub.pending:
                self._finish(sub, sub.done_cycle)

    def _finish(self, sub, done_cycle):
        sub.done_cycle = max(done_cycle, sub.submitted_cycle)
        at = sub.done_cycle * self.tck
        if at <= self.env.now:
            sub.event.succeed(sub)
        else:
            self.env.process(self._fire_at(sub, at))

    def _fire_at(self, sub, at):
        yield self.env.timeout(at - self.env.now)
        sub.event.succeed(sub)

    def _predict(self):
        if not [s for s in self.subs if s.pending]:
            return
        self.generation += 1
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
            sub = self.by_op[op]
            finish[id(sub)] = max(finish.get(id(sub), -1), done)
        self.env.process(self._wake(self.generation, min(finish.values())))

    def _wake(self, generation, done_cycle):
        yield self.env.timeout(max(0, done_cycle * self.tck - self.env.now))
        if generation == self.generation:
            self._absorb(self.engine.run(until=done_cycle))
            self._predict()

    # what a DramModel asks of its system besides submitting
    cycle_at = DramSystem.cycle_at
    energy = DramSystem.energy
    device_notes = DramSystem.device_notes

    def finish(self):
        self._absorb(self.engine.run(until=INF))


def scenario(system_class, dev, seed, requesters=5, rounds=6, bundles=True, grain=1, stream_max=120):
    """Closed-loop requesters: each waits, submits a stream (requester 0: a PIM bundle), waits for it,
    repeats. Waits are multiples of `grain` cycles (a coarse grain makes submissions in the same cycle).
    Returns every completion in the order SimPy delivered them."""
    env = simpy.Environment()
    sys = system_class(env, dev)
    log = []

    def requester(r):
        own = np.random.default_rng(seed * 100 + r)
        for i in range(rounds):
            cycle = -(-env.now // dev.tck_ps)
            yield env.timeout(((-cycle) % grain + int(own.integers(0, 120 // grain)) * grain) * dev.tck_ps)
            if bundles and r == 0 and dev.pim.mode != "none":
                b = gemv(dev, int(own.integers(0, dev.org.channels)), [int(own.integers(0, 64)) for _ in range(2)],
                         int(own.integers(1, 6)), vector=(1, 5))
                sub = yield sys.bundle(b)
                done = []
            else:
                n = int(own.integers(1, stream_max))
                addr = own.integers(0, 1 << 16, n) * dev.atom if r % 2 else \
                    (int(own.integers(0, 1 << 12)) * dev.atom * 16 + np.arange(n) * dev.atom)
                sub = yield sys.stream(addr, own.random(n) < 0.3)
                done = sub.request_done.tolist()
            log.append((env.now, r, sub.submitted_cycle, sub.done_cycle, done))

    for r in range(requesters):
        env.process(requester(r))
    env.run()
    return log


@pytest.mark.parametrize("seed", range(4))
def test_closed_loop_streams_complete_exactly_as_with_a_full_copy_run_ahead(seed):
    dev = device("HBM2", channels=4, ranks=2, refresh="all_bank")
    got = scenario(DramSystem, dev, seed, bundles=False)
    assert len(got) == 30 and got == scenario(CopyAheadSystem, dev, seed, bundles=False)


@pytest.mark.parametrize("seed", range(3))
def test_many_requesters_submitting_in_the_same_cycles_complete_as_with_a_full_copy_run_ahead(seed):
    dev = device("HBM2", channels=2, refresh="per_bank")
    got = scenario(DramSystem, dev, seed, requesters=12, rounds=5, bundles=False, grain=40, stream_max=40)
    assert len({s for _, _, s, *_ in got}) < len(got) - 10     # many submissions share a cycle
    assert got == scenario(CopyAheadSystem, dev, seed, requesters=12, rounds=5, bundles=False, grain=40,
                           stream_max=40)


@pytest.mark.parametrize("mode,refresh,seed", [("dual_row_buffer", "all_bank", 7), ("dual_row_buffer", "per_bank", 11),
                                               ("blocked", "per_bank", 9), ("blocked", "all_bank", 12),
                                               ("shared", "none", 13)])
def test_pim_bundles_and_streams_complete_exactly_as_with_a_full_copy_run_ahead(mode, refresh, seed):
    dev = load_device("HBM2-PIM", {"organisation": {"channels": 2}, "pim": {"mode": mode},
                                   "controller": {"refresh": refresh}})
    got = scenario(DramSystem, dev, seed, requesters=6)
    assert got == scenario(CopyAheadSystem, dev, seed, requesters=6)


def test_streams_to_a_backlogged_channel_re_run_only_that_channel_and_predict_the_same():
    """A long stream fills every channel; small streams to one channel then queue behind it. Each restarts
    only that channel's look-ahead, from where the engine already stands: the engine decides every
    command up to the admission of the last request that has arrived (later arrivals queue behind it),
    so a backlogged channel's copy starts near the backlog's end and the look-ahead issues each command
    about once, where copying the whole engine at each of the ~40 predictions re-ran the remaining work."""
    dev = device("HBM2", channels=8, refresh="all_bank")

    def run(system_class):
        env = simpy.Environment()
        sys = system_class(env, dev)
        amap = sys.engine.map
        big = np.array([amap.encode(ch=c, row=r, col=k) for r in range(40) for c in range(8) for k in range(16)])
        log = []

        def long_stream():
            sub = yield sys.stream(big, 0)
            log.append((env.now, sub.request_done.tolist()))

        def small_streams():
            for i in range(20):
                yield env.timeout(50 * dev.tck_ps)
                sub = yield sys.stream(np.array([amap.encode(ch=3, row=1000 + i)]), 0)
                log.append((env.now, sub.request_done.tolist()))

        env.process(long_stream())
        env.process(small_streams())
        env.run()
        return sys, log

    sys, log = run(DramSystem)
    assert log == run(CopyAheadSystem)[1]
    assert sys.ahead.commands < 1.1 * sys.engine.commands
    assert sys.ahead.syncs == 8 + 20                          # the first stream's channels, then channel 3


def test_pim_bundles_queued_behind_others_extend_the_look_ahead_without_restarting_it():
    """Bundles queue per channel; a bundle submitted while the look-ahead is still on an earlier one of
    that channel is only shown to it (the kernel looks at the head op alone). Requesters submit without
    waiting, as `DramModel` does."""
    dev = load_device("HBM2-PIM", {"organisation": {"channels": 2}, "controller": {"refresh": "all_bank"}})

    def run(system_class):
        env = simpy.Environment()
        sys = system_class(env, dev)
        log = []

        def pim(p):                       # submits without waiting, as a DramModel does
            events = []
            for i in range(6):
                yield env.timeout((7 * p + 3) * dev.tck_ps)
                events.append(sys.bundle(gemv(dev, p % 2, [p * 8 + i], 4, vector=(1, 5))))
            for e in events:
                sub = yield e
                log.append((env.now, p, sub.done_cycle))

        for p in range(4):
            env.process(pim(p))
        env.run()
        return sys, log

    sys, log = run(DramSystem)
    assert len(log) == 24 and log == run(CopyAheadSystem)[1]
    assert sys.ahead.syncs < 12                               # most of the 24 bundles extended the look-ahead


def test_a_program_on_neupims_hbm_gives_the_same_result_with_either_look_ahead(monkeypatch):
    """Transfers and PIM attention bundles of a small NeuPIMs decode layer, simulated end to end."""
    from loomsim.designs.neupims import DEFAULT, make_system
    from loomsim.simulator import simulate

    system = make_system("neupims", {**DEFAULT, "batch": 4})
    active = [(i, 40 + 29 * i) for i in range(4)]
    system.packer.assign(active)
    program = system.layers_program(active, 1)
    new = simulate(system.arch, program)
    monkeypatch.setattr(component, "DramSystem", CopyAheadSystem)
    old = simulate(system.arch, program)
    assert new.total_ps == old.total_ps
    assert new.tasks == old.tasks


def test_a_long_queue_of_bundles_keeps_its_predictions_compact_and_exact(monkeypatch):
    """150 bundles arrive on one channel about as fast as it runs them, so a few are always queued: each
    new one extends the look-ahead, which then runs once per completion without being restarted; its
    record of predictions is compacted to the uncommitted ones on the way (here after 2 runs, not 64)."""
    monkeypatch.setattr(component, "KEEP_CHUNKS", 2)
    dev = load_device("HBM2-PIM", {"organisation": {"channels": 1}, "controller": {"refresh": "all_bank"}})

    def run(system_class):
        env = simpy.Environment()
        sys = system_class(env, dev)
        log = []

        def pim():
            events = []
            for i in range(150):
                events.append(sys.bundle(gemv(dev, 0, [i % 64], 1 + i % 3)))
                yield env.timeout(100 * dev.tck_ps)          # about a bundle's time: a short queue stays
            for e in events:
                sub = yield e
                log.append((env.now, sub.done_cycle))

        env.process(pim())
        env.run()
        return sys, log

    sys, log = run(DramSystem)
    assert len(log) == 150 and log == run(CopyAheadSystem)[1]
    assert sys.ahead.syncs < 25 and sys.predictions > 200
    assert max(len(chunks) for chunks in sys.predicted[id(sys.bundles)]) <= 3
