"""Search over a map space behind one ask/tell interface (Timeloop's Next/Report), and the loop that glues it.

A strategy proposes points of the space as digit rows (`ask`, one digit per choice of
`MapSpace.radices`) and hears their scores (`tell`). `run_search` is the one place that glues a map
space (decoding and legality), a strategy (what next) and the numba cost model (what it costs): one
numba call per batch, so memory is bounded by the batch, never by the size of the space.

Objectives order mappings by one metric or lexicographically by several ("latency,energy": the
fastest, and among equally fast the most frugal). A budget is a number of evaluations (deterministic
for a seed) and/or seconds of wall time (not deterministic: it depends on the machine).
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from loomsim.errors import LoomError, choices_text, closest

METRICS = ("latency", "energy", "edp")


def parse_objective(text: str) -> tuple[str, ...]:
    """'edp' or a lexicographic list such as 'latency,energy'."""
    parts = tuple(p.strip() for p in str(text).split(",") if p.strip())
    for p in parts:
        if p not in METRICS:
            hint = closest(p, METRICS)
            raise LoomError(f"unknown objective '{p}'; valid: {choices_text(METRICS)}, or several joined by commas "
                            "for a lexicographic order (e.g. latency,energy)." + (f" Did you mean '{hint}'?" if hint else ""))
    if not parts:
        raise LoomError("empty objective; use latency, energy, edp or e.g. latency,energy.")
    # the remaining metrics break ties, so the order is total
    return parts + tuple(m for m in ("latency", "energy") if m not in parts)


def metric_columns(objective: tuple[str, ...], latency: np.ndarray, energy: np.ndarray) -> list[np.ndarray]:
    cols = {"latency": latency, "energy": energy, "edp": latency * energy}
    return [cols[m] for m in objective]


def order(objective: tuple[str, ...], latency: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Indices sorting candidates best first (rejected ones, with infinite cost, last)."""
    cols = metric_columns(objective, latency, energy)
    return np.lexsort(tuple(reversed(cols)))


def better(objective, a: tuple[float, float], b: tuple[float, float] | None) -> bool:
    """Is (latency, energy) a strictly better than b?"""
    if b is None:
        return True
    key = lambda le: tuple({"latency": le[0], "energy": le[1], "edp": le[0] * le[1]}[m] for m in objective)  # noqa
    return key(a) < key(b)


class Strategy(ABC):
    """Proposes points of a map space (digit rows) and learns from their scores."""

    name = "strategy"

    def __init__(self, space, objective: tuple[str, ...], seed: int = 0):
        self.space = space
        self.objective = objective
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def ask(self, n: int) -> np.ndarray:
        """Up to n digit rows to evaluate next; an empty array when the strategy is done."""

    def tell(self, digits: np.ndarray, latency: np.ndarray, energy: np.ndarray) -> None:
        """Scores of the rows last asked (infinite for rejected ones)."""

    def skipped(self) -> Counter:
        """Candidates the strategy pruned without evaluating, by reason (whole sub-spaces at once)."""
        return Counter()


@dataclass
class SearchResult:
    """The best mapping found and what it took to find it."""

    best_row: np.ndarray | None
    best: tuple[float, float] | None          # (latency ps, energy pJ)
    evaluated: int = 0
    rejected: Counter = field(default_factory=Counter)
    pruned: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    strategy: str = ""
    trace: list = field(default_factory=list)  # (evaluations so far, best latency, best energy) on improvement

    @property
    def legal(self) -> int:
        return self.evaluated - sum(self.rejected.values())

    def summary(self) -> dict:
        return {"strategy": self.strategy, "evaluated": self.evaluated, "legal": self.legal,
                "rejected": dict(sorted(self.rejected.items())), "rejected_total": sum(self.rejected.values()),
                "pruned": dict(sorted(self.pruned.items())), "search_seconds": round(self.seconds, 3)}


def run_search(space, cost_model, strategy: Strategy, budget: int | None = None, seconds: float | None = None,
               batch: int = 4096) -> SearchResult:
    """Ask, decode, evaluate (one numba call per batch), tell; until the strategy or the budget ends."""
    if budget is None and seconds is None and space.size > 10**7 and strategy.name != "exhaustive":
        raise LoomError(f"a search over {space.size:.3g} mappings needs a budget (evaluations or seconds).")
    result = SearchResult(None, None, strategy=strategy.name)
    objective = strategy.objective
    t0 = time.perf_counter()
    while budget is None or result.evaluated < budget:
        if seconds is not None and time.perf_counter() - t0 >= seconds:
            break
        n = batch if budget is None else min(batch, budget - result.evaluated)
        digits = strategy.ask(n)
        if len(digits) == 0:
            break
        rows = space.decode(digits)
        reason, lat, en, _ = cost_model.evaluate(rows)
        result.evaluated += len(rows)
        codes, counts = np.unique(reason[reason != 0], return_counts=True)
        for c, k in zip(codes, counts):
            result.rejected[cost_model.reason_name(int(c))] += int(k)
        if (reason == 0).any():
            i = order(objective, lat, en)[0]
            if better(objective, (lat[i], en[i]), result.best):
                result.best_row, result.best = rows[i].copy(), (float(lat[i]), float(en[i]))
                result.trace.append((result.evaluated, result.best[0], result.best[1]))
        strategy.tell(digits, lat, en)
    result.pruned = strategy.skipped()
    result.seconds = time.perf_counter() - t0
    return result
