"""Helpers for the DRAM tests: small devices, addresses by bank, and runs that return the command log."""
from __future__ import annotations

import numpy as np

from loomsim.arch.dram_presets import load_device
from loomsim.simulator.dram.commands import NAMES
from loomsim.simulator.dram.engine import DramEngine
from loomsim.simulator.dram.mapping import AddressMap
from loomsim.simulator.dram.reference import ReferenceController


def device(preset="HBM2", channels=1, ranks=1, refresh="none", timing=None, **controller):
    org = {"channels": channels, "ranks": ranks}
    return load_device(preset, {"organisation": org, "timing": timing or {},
                                "controller": {"refresh": refresh, **controller}})


def address(dev, rank=0, bg=0, ba=0, row=0, col=0, ch=0) -> int:
    return AddressMap.of(dev).encode(ch, rank, bg, ba, row, col)


def run(dev, reqs, pim=()):
    """reqs: (op 'R'|'W', dict of address fields, arrival). Returns (engine, completions, log) where
    log is a list of (cycle, command name, bank, row)."""
    addr = [address(dev, **fields) for _, fields, _ in reqs]
    write = [op == "W" for op, _, _ in reqs]
    arrival = [a for _, _, a in reqs]
    e = DramEngine(dev, log=100_000)
    if reqs:
        e.submit(addr, write, arrival)
    for channel, steps, at in pim:
        e.submit_pim(channel, [s.encoded() for s in steps], at)
    out = e.run()
    log = [(int(r["t"]), NAMES[r["cmd"]], int(r["bank"]), int(r["row"])) for r in e.command_log()]
    return e, out, log


def times(log, name, bank=None):
    return [t for t, n, b, _ in log if n == name and (bank is None or b == bank)]


def not_ready_before(dev, log, name, bank, t):
    """The plain-Python reference, given every command before `t`, agrees `name` on `bank` was not
    allowed at t - 1 and is allowed at t (the gate is tight)."""
    from loomsim.simulator.dram import commands as C
    ref = ReferenceController(dev)
    ch = ref.channels[0]
    for when, n, b, _ in log:
        if when >= t:
            break
        cmd = NAMES.index(n)
        banks = [b] if b >= 0 else []
        if cmd in (C.PREA, C.REF):
            rank = b // dev.banks_per_rank
            banks = list(range(rank * dev.banks_per_rank, (rank + 1) * dev.banks_per_rank))
        for bk in banks:
            ch.last[(bk, cmd)] = when
        if cmd in (C.ACT,):
            ch.acts[b // dev.banks_per_rank].append(when)
    cmd = NAMES.index(name)
    return ref.ready(ch, cmd, [bank]) == t


def addresses(dev, n, kind="seq", seed=0):
    if kind == "seq":
        return np.arange(n, dtype=np.int64) * dev.atom
    return np.random.default_rng(seed).integers(0, dev.capacity // dev.atom, n) * dev.atom
