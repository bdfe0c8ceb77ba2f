"""DramEngine's input and output: arrival rings that grow as a submission needs, requests out of time
order, and completion rows handed over without a copy."""
import numpy as np
import pytest

from dram_support import addresses, device
from loomsim.errors import LoomError
from loomsim.simulator.dram.engine import HAND_OVER, DramEngine


def _done(e):
    out = e.run()
    order = np.argsort(out.id)
    return out.id[order], out.done[order]


def test_a_submission_larger_than_the_rings_grows_them_and_simulates_as_with_room():
    dev = device(channels=2, refresh="all_bank")
    addr = addresses(dev, 3000, "random", seed=5)
    arrival = np.arange(3000) // 4
    small = DramEngine(dev, fifo=16)                 # rings of 16: doubled many times within one call
    small.submit(addr, addr % 3 == 0, arrival)
    roomy = DramEngine(dev, fifo=4096)
    roomy.submit(addr, addr % 3 == 0, arrival)
    assert small.st.fifo.shape[1] >= 1024
    ids, done = _done(small)
    ids2, done2 = _done(roomy)
    assert np.array_equal(ids, np.arange(3000)) and np.array_equal(ids, ids2) and np.array_equal(done, done2)
    assert small.counts() == roomy.counts()


def test_a_request_back_in_time_after_the_rings_grew_is_refused_and_nothing_of_it_stays_queued():
    dev = device(channels=2)
    addr = addresses(dev, 200, "seq")
    arrival = np.arange(200)
    arrival[150] = 0                                 # goes back in time, after the rings of 8 grew
    e = DramEngine(dev, fifo=8)
    tails = e.st.ch["ftail"].copy()
    with pytest.raises(LoomError, match="go back in time .*submit requests in arrival order"):
        e.submit(addr, 0, arrival)
    assert np.array_equal(e.st.ch["ftail"], tails)
    e.submit(addr[:10], 0, 5)                        # the engine still takes a good submission
    ids, _ = _done(e)
    assert np.array_equal(ids, np.arange(10))         # the refused requests took no ids


def test_completions_handed_over_stay_as_returned_while_kept_and_their_rows_are_reused_once_let_go():
    dev = device(channels=2)
    e = DramEngine(dev)
    kept, copies = [], []
    for k in range(4):                               # runs of 2 x HAND_OVER completions: handed over, not copied
        e.submit(addresses(dev, 2 * HAND_OVER, "random", seed=k), 0, e.horizon)
        out = e.run()
        assert out.id.size == 2 * HAND_OVER
        kept.append(out)
        copies.append((out.id.copy(), out.done.copy(), out.enter.copy(), out.write.copy()))
    for out, (ids, done, enter, write) in zip(kept, copies):    # later runs wrote elsewhere
        assert np.array_equal(out.id, ids) and np.array_equal(out.done, done)
        assert np.array_equal(out.enter, enter) and np.array_equal(out.write, write)
    del kept, out
    bases = set()
    for k in range(4):                               # let go at once: two arrays take turns
        e.submit(addresses(dev, 2 * HAND_OVER, "random", seed=10 + k), 0, e.horizon)
        e.run()
        bases.add(id(e.st.out.base))
    assert len(bases) == 2
