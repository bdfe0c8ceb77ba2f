"""Search over a map space behind one ask/tell interface (Timeloop's Next/Report).

A strategy proposes candidates (`ask`) and hears their costs (`tell`); `run_search` is the one place
that glues a map space (legality), a strategy (what next) and a cost model (what it costs).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from loomsim.errors import LoomError, choices_text

OBJECTIVES: dict[str, Callable[[Any], tuple]] = {
    # each key orders costs: primary objective, then the other as a tie-break
    "latency": lambda c: (c.latency_ps, c.energy_pj),
    "energy": lambda c: (c.energy_pj, c.latency_ps),
    "edp": lambda c: (c.edp, c.latency_ps),
}


class Strategy(ABC):
    """Proposes mappings to evaluate and learns from their costs."""

    @abstractmethod
    def ask(self, n: int) -> list:
        """Up to `n` candidates to evaluate next; an empty list when the strategy is done."""

    def tell(self, candidates: list, costs: list) -> None:
        """Costs of the last candidates asked (None for a rejected one)."""


class Exhaustive(Strategy):
    """Every candidate of the space, in its order."""

    def __init__(self, space: Iterable):
        self._it = iter(space)

    def ask(self, n: int) -> list:
        out = []
        for cand in self._it:
            out.append(cand)
            if len(out) == n:
                break
        return out


@dataclass
class SearchResult:
    best: Any
    best_cost: Any
    evaluated: int = 0
    rejected: Counter = field(default_factory=Counter)

    def summary(self) -> dict:
        return {"evaluated": self.evaluated, "rejected": dict(self.rejected),
                "rejected_total": sum(self.rejected.values())}


def run_search(space, evaluate: Callable, strategy: Strategy, objective: str = "latency",
               budget: int | None = None, batch: int = 256) -> SearchResult:
    if objective not in OBJECTIVES:
        raise LoomError(f"unknown objective '{objective}'; valid: {choices_text(OBJECTIVES)}.")
    key = OBJECTIVES[objective]
    result = SearchResult(None, None)
    while budget is None or result.evaluated + sum(result.rejected.values()) < budget:
        cands = strategy.ask(batch)
        if not cands:
            break
        costs = []
        for cand in cands:
            reason = space.check(cand)
            if reason is not None:
                result.rejected[reason] += 1
                costs.append(None)
                continue
            cost = evaluate(cand)
            result.evaluated += 1
            costs.append(cost)
            if result.best_cost is None or key(cost) < key(result.best_cost):
                result.best, result.best_cost = cand, cost
        strategy.tell(cands, costs)
    return result
