"""The SimPy component's look-ahead gives the same timeline as running a full copy of the engine ahead.

The oracle below is the previous component's method, written plainly: at every submission and every
wake-up, commit the engine to now, copy all of it, run the copy to completion and wake at the earliest
completion of a pending submission. It is quadratic in the submissions in flight but obviously right.
`DramSystem` restarts only the channels a submission touches and runs them only as far as needed; the
tests require the same event times and the same completion cycle for every request, in closed-loop
scenarios (a requester submits again when its last submission completes) with PIM bundles, refresh and
many requesters sharing channels.
"""
import copy

import numpy as np
import pytest
import simpy

from dram_support import device
from loomsim.arch.dram_presets import load_device
from loomsim.simulator.dram.component import DramSystem
from loomsim.simulator.dram.engine import DramEngine
from loomsim.simulator.dram.pim import gemv
from loomsim.simulator.dram.state import INF


class CloneAheadSystem:
    """The oracle: predicts by running a copy of the whole engine to completion."""

    def __init__(self, env, dev):
        self.env, self.dev, self.tck = env, dev, dev.tck_ps
        self.engine = DramEngine(dev)
        self.subs = []                 # [event, request ids or op ids, kind, done per part, submitted]
        self.generation = 0

    def _commit(self, until):
        out = self.engine.run(until=until)
        done = dict(zip(out.id.tolist(), out.done.tolist()))
        ops, self.engine.pim_done = self.engine.pim_done, {}
        for sub in self.subs:
            table = done if sub[2] == "stream" else ops
            for k, i in enumerate(sub[1]):
                if i in table:
                    sub[3][k] = table[i]
        for sub in [s for s in self.subs if (s[3] >= 0).all()]:
            self.subs.remove(sub)
            at = max(int(sub[3].max()), sub[4]) * self.tck
            self.env.process(self._fire(sub, at))

    def _fire(self, sub, at):
        yield self.env.timeout(max(0, at - self.env.now))
        sub[0].succeed((sub[4], sub[3].copy()))

    def _now(self):
        now = -(-self.env.now // self.tck)
        if now > self.engine.horizon:
            self._commit(now)
        return now

    def stream(self, addr, write):
        now = self._now()
        ids = self.engine.submit(addr, write, now).tolist()
        return self._add("stream", ids, now)

    def bundle(self, b):
        now = self._now()
        return self._add("pim", self.engine.submit_pim(b.channel, [s.encoded() for s in b.steps], now), now)

    def _add(self, kind, ids, now):
        sub = [self.env.event(), ids, kind, np.full(len(ids), -1, dtype=np.int64), now]
        self.subs.append(sub)
        if not ids:
            self._commit(now)
        self._predict()
        return sub[0]

    def _predict(self):
        if not self.subs:
            return
        clone = copy.deepcopy(self.engine)
        out = clone.run(until=INF)
        done = dict(zip(out.id.tolist(), out.done.tolist()))
        first = min(max(max((done if s[2] == "stream" else clone.pim_done).get(i, s[3][k])
                            for k, i in enumerate(s[1])), s[4]) for s in self.subs)
        self.generation += 1
        self.env.process(self._wake(self.generation, first))

    def _wake(self, generation, cycle):
        yield self.env.timeout(max(0, cycle * self.tck - self.env.now))
        if generation == self.generation:
            self._commit(cycle)
            self._predict()


def scenario(system_class, dev, seed, requesters=5, rounds=6, bundles=True):
    """Closed-loop requesters: each waits, submits a stream (or a PIM bundle), waits for it, repeats.
    Returns every requester's (submit time, done time, per-request completion cycles) in order."""
    env = simpy.Environment()
    sys = system_class(env, dev)
    log = {}

    def requester(r):
        own = np.random.default_rng(seed * 100 + r)
        for i in range(rounds):
            yield env.timeout(int(own.integers(0, 120)) * dev.tck_ps)
            if bundles and r == 0 and dev.pim.mode != "none":
                b = gemv(dev, int(own.integers(0, dev.org.channels)), [int(own.integers(0, 64)) for _ in range(2)],
                         int(own.integers(1, 6)), vector=(1, 5))
                value = yield sys.bundle(b)
            else:
                n = int(own.integers(1, 120))
                addr = own.integers(0, 1 << 16, n) * dev.atom if r % 2 else \
                    (int(own.integers(0, 1 << 12)) * dev.atom * 16 + np.arange(n) * dev.atom)
                value = yield sys.stream(addr, own.random(n) < 0.3)
            got = (value.submitted_cycle, value.real.copy()) if hasattr(value, "real") else value
            log.setdefault(r, []).append((env.now, got[0], got[1].tolist()))

    for r in range(requesters):
        env.process(requester(r))
    env.run()
    return log


@pytest.mark.parametrize("seed", range(4))
def test_closed_loop_streams_complete_exactly_as_with_a_full_copy_run_ahead(seed):
    dev = device("HBM2", channels=4, ranks=2, refresh="all_bank")
    assert scenario(DramSystem, dev, seed, bundles=False) == scenario(CloneAheadSystem, dev, seed, bundles=False)


@pytest.mark.parametrize("mode,refresh,seed", [("dual_row_buffer", "all_bank", 7), ("dual_row_buffer", "per_bank", 11),
                                               ("blocked", "per_bank", 9), ("blocked", "all_bank", 12),
                                               ("shared", "none", 13)])
def test_pim_bundles_and_streams_complete_exactly_as_with_a_full_copy_run_ahead(mode, refresh, seed):
    dev = load_device("HBM2-PIM", {"organisation": {"channels": 2}, "pim": {"mode": mode},
                                   "controller": {"refresh": refresh}})
    assert scenario(DramSystem, dev, seed, requesters=6) == scenario(CloneAheadSystem, dev, seed, requesters=6)


def test_the_look_ahead_restarts_only_the_channels_a_submission_touches():
    dev = device("HBM2", channels=8, refresh="all_bank")
    env = simpy.Environment()
    sys = DramSystem(env, dev)
    amap = sys.engine.map
    big = np.array([amap.encode(ch=c, row=r, col=k) for c in range(8) for r in range(40) for k in range(16)])

    def long_stream():
        yield sys.stream(big, 0)

    def small_streams():
        for i in range(20):
            yield env.timeout(50 * dev.tck_ps)
            yield sys.stream(np.array([amap.encode(ch=3, row=1000 + i)]), 0)

    env.process(long_stream())
    env.process(small_streams())
    env.run()
    # the big stream's 5120 requests were predicted once per channel, plus re-runs of channel 3 only:
    # far fewer than 20 full re-runs of everything (~100,000 commands)
    assert sys.ahead.commands < 3 * sys.engine.commands
