"""The engine's command logs on full-size devices are those the kernel issued before its speed work.

The property tests compare kernel and reference on small traces and a small device. Work on the
kernel's hot path for speed (kernel_pick.py, kernel_rules.py) must not change a single command, also
where the small device does not reach: 32 or 64 banks a channel, queues of 32 to 64, thousands of
requests. Each case below runs 20,000 requests (half random, half short sequential runs, a third
writes) on two channels of a shipped preset and compares a digest of the whole command log (cycle,
channel, command, bank, row, bank set) and of every request's completion cycle with the digest
recorded from the kernel of main at ddd2dbf (before the speed work), whose logs the property tests
had tied to the reference. A deliberate change of the model changes these digests: record them
again, and say why, in the same commit.

FR-FCFS weighs the banks in one of two ways (kernel_pick.py): group by group, or all at once once enough
banks have queued requests. Each case also runs with the second way forced on from one busy bank, so
both ways are held to the same digests.
"""
import hashlib

import numpy as np
import pytest

from loomsim.arch.dram_presets import load_device
from loomsim.simulator.dram.engine import DramEngine

# (preset, scheduler, page policy, refresh, arrivals) -> (digest, commands), recorded at ddd2dbf
RECORDED = {
    ("HBM2", "frfcfs", "open", "all_bank", "spread"): ("747f74890e878cf2", 41346),
    ("HBM2", "frfcfs", "open", "all_bank", "at_once"): ("f650f9be6ca0775f", 42111),
    ("HBM2", "frfcfs", "adaptive", "per_bank", "spread"): ("0f4ff1ce335d1c15", 33130),
    ("HBM2", "frfcfs", "adaptive", "per_bank", "at_once"): ("f71d566a3f937592", 31999),
    ("HBM2", "fcfs", "closed", "all_bank", "spread"): ("7bf026d0bc81565b", 40536),
    ("DDR4", "frfcfs", "open", "all_bank", "spread"): ("54d781411d9220c8", 42028),
    ("DDR5", "frfcfs", "adaptive", "none", "spread"): ("4ea9261a4b964867", 31180),
    ("DDR5", "frfcfs", "open", "all_bank", "at_once"): ("864912d15faa54a8", 42029),
    ("HBM3", "frfcfs", "open", "per_bank", "spread"): ("57b2f32c44696821", 45958),
    ("GDDR6", "frfcfs", "open", "all_bank", "spread"): ("0dd5e8a586a92f6a", 42086),
    ("LPDDR5", "frfcfs", "closed", "all_bank", "spread"): ("338f0d85462196d6", 40242),
}


def digest(preset, scheduler, page, refresh, arrivals, n=20_000, seed=7, all_banks=False, org=None):
    org = {"channels": 2, **(org or {})}
    dev = load_device(preset, {"organisation": org,
                               "controller": {"scheduler": scheduler, "page_policy": page, "refresh": refresh}})
    rng = np.random.default_rng(seed)
    words = dev.capacity // dev.atom
    rand = rng.integers(0, words, n)
    runs = (rng.integers(0, words // 64, n // 16)[:, None] * 64 + np.arange(16)).reshape(-1)
    addr = np.where(rng.random(n) < 0.5, rand, runs[:n]) * dev.atom
    write = (rng.random(n) < 0.33).astype(np.int64)
    arrival = np.sort(rng.integers(0, n * 4, n)) if arrivals == "spread" else np.zeros(1, dtype=np.int64)
    e = DramEngine(dev, log=8 * n)
    if all_banks:
        e.cfg = e.cfg._replace(vec_on=1, vec_off=1)
    e.submit(addr, write, arrival)
    first = e.run(until=n)
    if all_banks and scheduler == "frfcfs" and refresh != "per_bank":
        assert e.st.ch["vmode"].all()            # mid-trace, every channel weighs all banks at once
    last = e.run()
    ids, done = np.concatenate([first.id, last.id]), np.concatenate([first.done, last.done])
    log = e.command_log()
    h = hashlib.sha256(np.ascontiguousarray(log).tobytes())
    h.update(np.ascontiguousarray(done[np.argsort(ids)]).tobytes())
    return h.hexdigest()[:16], len(log)


@pytest.mark.parametrize("case", list(RECORDED), ids=lambda c: "-".join(c))
def test_command_log_matches_the_pre_speedup_kernel(case):
    assert digest(*case) == RECORDED[case]


@pytest.mark.parametrize("case", list(RECORDED), ids=lambda c: "-".join(c))
def test_weighing_all_banks_at_once_issues_the_same_commands(case):
    assert digest(*case, all_banks=True) == RECORDED[case]


def test_weighing_all_banks_at_once_beyond_two_ranks():
    """Beyond two ranks the all-bank choice looks the groups' shared parts up in memory (kernel_pick.pick_all),
    not in registers: it must issue what group-by-group weighing issues."""
    case = ("DDR4", "frfcfs", "open", "all_bank", "spread")
    assert digest(*case, n=8000, org={"ranks": 4}, all_banks=True) == digest(*case, n=8000, org={"ranks": 4})


@pytest.mark.parametrize("groups, per_group", [(8, 2), (2, 8)])
def test_weighing_all_banks_at_once_with_other_bank_groups(groups, per_group):
    """The all-bank choice reads each bank's bank-group part from its group's row: by a permute from the two
    rows eight banks span when groups have four or more banks (with eight, one row), by a loop below."""
    case = ("DDR4", "frfcfs", "open", "all_bank", "spread")
    org = {"bankgroups": groups, "banks_per_group": per_group}
    assert digest(*case, n=8000, org=org, all_banks=True) == digest(*case, n=8000, org=org)
