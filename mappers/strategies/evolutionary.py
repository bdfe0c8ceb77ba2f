"""An evolutionary search: a population of mappings, bred by crossover and mutation, the best survive."""
from __future__ import annotations

import numpy as np

from loomsim.mappers.search import Strategy, order
from loomsim.mappers.strategies import strategy


@strategy("evolutionary")
class Evolutionary(Strategy):
    """Starts from random mappings; each generation keeps the `population` best seen (elitism) and
    breeds children by uniform crossover of two parents drawn from them, then resamples each digit
    with probability `mutation` (at least one per child). Rejected mappings score infinitely bad, so
    the population drifts toward legal, cheap mappings. Deterministic for a seed."""

    population = 256
    mutation = 0.15

    def __init__(self, space, objective, seed: int = 0):
        super().__init__(space, objective, seed)
        self._pop = np.zeros((0, len(space.radices)), np.int64)
        self._lat = np.zeros(0)
        self._en = np.zeros(0)
        self._radices = np.array(space.radices, np.int64)

    def ask(self, n: int) -> np.ndarray:
        if len(self._pop) < self.population or not np.isfinite(self._lat).any():
            return self.space.sample_digits(self.rng, n)
        k = len(self._pop)
        a = self._pop[self.rng.integers(0, k, n)]
        b = self._pop[self.rng.integers(0, k, n)]
        child = np.where(self.rng.random(a.shape) < 0.5, a, b)
        mutate = self.rng.random(a.shape) < self.mutation
        mutate[np.arange(n), self.rng.integers(0, a.shape[1], n)] = True
        fresh = self.rng.integers(0, self._radices, size=a.shape)
        return np.where(mutate, fresh, child)

    def tell(self, digits, latency, energy) -> None:
        pop = np.concatenate([self._pop, digits])
        lat = np.concatenate([self._lat, latency])
        en = np.concatenate([self._en, energy])
        keep = order(self.objective, lat, en)[:self.population]
        self._pop, self._lat, self._en = pop[keep], lat[keep], en[keep]
