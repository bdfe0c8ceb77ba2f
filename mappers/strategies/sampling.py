"""Seeded random sampling: every choice of the space drawn uniformly, independently."""
from __future__ import annotations

import numpy as np

from loomsim.mappers.search import Strategy
from loomsim.mappers.strategies import strategy


@strategy("random")
class RandomSampling(Strategy):
    """Uniform over each choice (so over the space); the same seed draws the same mappings."""

    def ask(self, n: int) -> np.ndarray:
        return self.space.sample_digits(self.rng, n)
