"""Iteration-level batching of decode requests (Orca-style), the loop NeuPIMs and Duplex serve with.

A batch has `batch` slots. Each iteration every active request generates one token (its context
grows by one); a request that has generated its `output_len` tokens leaves and the next request of the
trace takes its slot, starting from its prompt (prefill is done elsewhere: NeuPIMs' devices only
generate). The step function simulates one iteration for the current contexts. The first `warmup`
iterations are run but not measured; throughput is tokens over time of the next `measure` iterations.

Before them, `fast_forward` iterations advance the batch without simulating it. Which requests are in
the batch, and their contexts, do not depend on how long an iteration takes (every request is already
waiting, and each iteration adds one token to each), so a steady state of continuous batching (long
and short requests mixed, contexts spread from prompt to prompt + output) is reached exactly by
counting tokens. NeuPIMs' trace generator samples its batches the same way, after a warm-up
(casys-kaist/NeuPIMs trace-generator/get_distributions.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import pandas as pd

from loomsim.errors import LoomError


@dataclass(frozen=True)
class StepResult:
    """One iteration of a system: its time, energy, and any other figures (busy time per unit, ...)."""

    time_s: float
    energy_j: float = 0.0
    stats: dict[str, float] = field(default_factory=dict)


@dataclass
class ServingRun:
    """Every iteration of a serving run, and the measured interval's figures."""

    iterations: pd.DataFrame            # iteration, measured, batch, tokens, time_s, energy_j, <stats...>
    warmup: int

    @property
    def measured(self) -> pd.DataFrame:
        return self.iterations[self.iterations["measured"]]

    @property
    def throughput(self) -> float:
        """Generated tokens per second over the measured interval."""
        m = self.measured
        return float(m["tokens"].sum() / m["time_s"].sum())

    @property
    def energy_per_token(self) -> float:
        m = self.measured
        return float(m["energy_j"].sum() / m["tokens"].sum())

    def mean(self, stat: str) -> float:
        """Time-weighted mean of a per-iteration stat over the measured interval."""
        m = self.measured
        return float((m[stat] * m["time_s"]).sum() / m["time_s"].sum())


def serve_decode(trace: pd.DataFrame, batch: int, step: Callable[[Sequence[tuple[int, int]]], StepResult], *,
                 warmup: int, measure: int, fast_forward: int = 0,
                 progress: Callable[[int, int], None] | None = None) -> ServingRun:
    """Run iteration-level batching over `trace` (request, input_len, output_len rows, in order).

    `step(active)` gets, per active request, (request id, number of keys its new token attends to:
    prompt + tokens generated so far + itself) and returns that iteration's StepResult. Ids let a
    system keep per-request state (which DRAM channel holds a request's KV cache).
    """
    if batch < 1:
        raise LoomError(f"serving needs a batch of at least 1 request, got {batch}.")
    if warmup < 0 or measure < 1 or fast_forward < 0:
        raise LoomError(f"serving needs fast_forward >= 0, warmup >= 0 and measure >= 1 iterations, got "
                        f"{fast_forward}, {warmup} and {measure}.")
    rows = list(trace[["input_len", "output_len"]].itertuples(index=False, name=None))
    if len(rows) < batch:
        raise LoomError(f"the trace has {len(rows)} requests, fewer than the batch of {batch}.")
    nxt = 0
    active: list[list[int]] = []     # [request id, context so far, tokens still to generate]

    def admit():
        nonlocal nxt
        while len(active) < batch and nxt < len(rows):
            inp, out = rows[nxt]
            active.append([nxt, int(inp), int(out)])
            nxt += 1

    def advance():
        for r in active:
            r[1] += 1
            r[2] -= 1
        active[:] = [r for r in active if r[2] > 0]
        admit()

    def check(it):
        if not active:
            raise LoomError(f"the trace ran out after {it} iterations; give more requests or fewer iterations.")

    admit()
    for it in range(fast_forward):
        check(it)
        advance()
    records = []
    total = warmup + measure
    for it in range(total):
        check(fast_forward + it)
        res = step([(rid, c + 1) for rid, c, _ in active])
        records.append({"iteration": it, "measured": it >= warmup, "batch": len(active), "tokens": len(active),
                        "time_s": res.time_s, "energy_j": res.energy_j, **res.stats})
        advance()
        if progress:
            progress(it + 1, total)
    return ServingRun(pd.DataFrame(records), warmup)
