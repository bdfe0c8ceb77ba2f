"""Top-k routing of tokens to experts, drawn from a seeded distribution (uniform or skewed).

Real routing depends on the data; a performance study needs the per-expert token counts that a
distribution gives instead. Each token picks `top_k` distinct experts; `skewed` draws them with
probabilities proportional to 1/(rank+1)^skew (a Zipf law over the experts), by Gumbel-top-k
sampling, which is exact sampling without replacement. Duplex evaluates uniform expert choice
(/work/shared/reference/pim-designs.md §3.3).
"""
from __future__ import annotations

import numpy as np

from loomsim.errors import LoomError

DISTRIBUTIONS = ("uniform", "skewed")


def route(tokens: int, experts: int, top_k: int, rng: np.random.Generator, distribution: str = "uniform",
          skew: float = 1.0) -> np.ndarray:
    """[tokens, top_k] distinct expert indices per token."""
    if experts < 1 or top_k < 1 or top_k > experts:
        raise LoomError(f"routing needs 1 <= top_k <= experts; got top_k={top_k}, experts={experts}.")
    if tokens < 1:
        raise LoomError(f"routing needs at least one token, got {tokens}.")
    if distribution not in DISTRIBUTIONS:
        from loomsim.errors import closest
        hint = closest(distribution, DISTRIBUTIONS)
        raise LoomError(f"unknown routing distribution '{distribution}'; valid: {', '.join(DISTRIBUTIONS)}."
                        + (f" Did you mean '{hint}'?" if hint else ""))
    if distribution == "uniform":
        logp = np.zeros(experts)
    else:
        if skew < 0:
            raise LoomError(f"skew must be >= 0, got {skew}.")
        logp = -skew * np.log(np.arange(1, experts + 1))
    gumbel = rng.gumbel(size=(tokens, experts))
    return np.argsort(-(logp[None, :] + gumbel), axis=1)[:, :top_k]


def expert_counts(routing: np.ndarray, experts: int) -> np.ndarray:
    """Tokens each expert receives."""
    return np.bincount(routing.ravel(), minlength=experts)
