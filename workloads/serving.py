"""Serving inputs: request traces drawn from seeded length distributions and arrival processes.

A trace is a tidy frame with one row per request, `request, arrival_s, input_len, output_len`,
drawn from one `numpy.random.Generator` the caller seeds: the same seed gives the same frame.

    >>> import numpy as np
    >>> from loomsim.workloads.serving import requests, Gaussian, Poisson
    >>> t = requests(4, rng=np.random.default_rng(0), input_len=Gaussian(512, 64), output_len=128,
    ...              arrivals=Poisson(rate=8.0))
    >>> list(t.columns)
    ['request', 'arrival_s', 'input_len', 'output_len']

What the papers use (sources in `DATASETS` and docs/zoo.md):
- NeuPIMs resamples (input, output) token pairs from ShareGPT and Alpaca with replacement
  (casys-kaist/NeuPIMs trace-generator/get_distributions.py, `random.choices` over stats.tsv); the
  published means (ShareGPT 80 / 296, Alpaca 12 / 56) are those files' means. `DATASETS` models
  each marginal as a log-normal with the files' mean and standard deviation.
- Duplex draws lengths "from Gaussians" (paper §V) and, in Fig. 13, arrivals from a Poisson process.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loomsim.errors import LoomError, choices_text, closest

COLUMNS = ("request", "arrival_s", "input_len", "output_len")


def _positive(value, what: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LoomError(f"{what} must be a finite number, not {value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        raise LoomError(f"{what} must be {'non-negative' if allow_zero else 'positive'}, not {value!r}.")
    return float(value)


def _whole(value, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise LoomError(f"{what} must be a whole number, not {value!r}.")
    if value < minimum:
        raise LoomError(f"{what} must be at least {minimum}, not {value}.")
    return int(value)


def _tokens(x: np.ndarray) -> np.ndarray:
    """Real samples to token counts: rounded to the nearest integer, at least one token."""
    return np.maximum(np.rint(x), 1).astype(np.int64)


# ---- length distributions ---------------------------------------------------------------------

class LengthDistribution:
    """Token counts per request; `sample(rng, n)` returns n integers >= 1."""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class Fixed(LengthDistribution):
    """Every request has the same length (Duplex's (Lin, Lout) settings, Fig. 11)."""

    length: int

    def __post_init__(self):
        _whole(self.length, "a fixed length")

    def sample(self, rng, n):
        return np.full(n, self.length, dtype=np.int64)


@dataclass(frozen=True)
class Uniform(LengthDistribution):
    """Lengths uniform over the integers low..high, both included."""

    low: int
    high: int

    def __post_init__(self):
        _whole(self.low, "uniform low")
        _whole(self.high, "uniform high")
        if self.high < self.low:
            raise LoomError(f"uniform high ({self.high}) is below low ({self.low}).")

    def sample(self, rng, n):
        return rng.integers(self.low, self.high + 1, size=n, dtype=np.int64)


@dataclass(frozen=True)
class Gaussian(LengthDistribution):
    """Normal(mean, std) rounded to integers and clipped to >= 1.

    The clip moves the sample mean above `mean` when mean is within a few std of zero;
    `expected_mean()` gives the exact mean of the rounded, clipped variable."""

    mean: float
    std: float

    def __post_init__(self):
        _positive(self.mean, "gaussian mean")
        _positive(self.std, "gaussian std", allow_zero=True)

    def sample(self, rng, n):
        return _tokens(rng.normal(self.mean, self.std, size=n))

    def expected_mean(self) -> float:
        """E[max(1, round(X))] for X ~ Normal(mean, std), summed over integers to mean + 12 std."""
        if self.std == 0:
            return float(max(1, round(self.mean)))

        def cdf(x):
            return 0.5 * (1 + math.erf((x - self.mean) / (self.std * math.sqrt(2))))

        top = int(self.mean + 12 * self.std) + 2
        total = cdf(1.5)  # round(X) <= 1 becomes 1
        total += sum(k * (cdf(k + 0.5) - cdf(k - 0.5)) for k in range(2, top))
        return total


@dataclass(frozen=True)
class LogNormal(LengthDistribution):
    """A log-normal with the given mean and standard deviation of the lengths themselves, rounded and
    clipped to >= 1: sigma^2 = ln(1 + std^2/mean^2), mu = ln(mean) - sigma^2/2.

    Right-skewed like real prompt and answer lengths; matching mean and std is how `DATASETS` fits
    the NeuPIMs token statistics."""

    mean: float
    std: float

    def __post_init__(self):
        _positive(self.mean, "log-normal mean")
        _positive(self.std, "log-normal std", allow_zero=True)

    @property
    def sigma(self) -> float:
        return math.sqrt(math.log1p((self.std / self.mean) ** 2))

    @property
    def mu(self) -> float:
        return math.log(self.mean) - self.sigma ** 2 / 2

    def quantile(self, q: float) -> float:
        """The q-quantile of the continuous log-normal (before rounding)."""
        from statistics import NormalDist
        return math.exp(self.mu + self.sigma * NormalDist().inv_cdf(q))

    def sample(self, rng, n):
        return _tokens(rng.lognormal(self.mu, self.sigma, size=n))


def as_lengths(value, what: str) -> LengthDistribution:
    """A distribution, or a whole number meaning Fixed(number)."""
    if isinstance(value, LengthDistribution):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return Fixed(int(value))
    raise LoomError(f"{what} must be a token count or a length distribution (Fixed, Uniform, Gaussian, "
                    f"LogNormal), not {value!r}.")


# ---- arrival processes ------------------------------------------------------------------------

class Arrivals:
    """Arrival times in seconds; `sample(rng, n)` returns n non-decreasing times."""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class AllAtOnce(Arrivals):
    """Every request is waiting at time 0: a closed batch, refilled as requests finish (NeuPIMs, and
    Duplex outside Fig. 13)."""

    def sample(self, rng, n):
        return np.zeros(n)


@dataclass(frozen=True)
class Poisson(Arrivals):
    """A Poisson process of `rate` requests per second: exponential gaps of mean 1/rate, the first
    request one gap after time 0.

    Duplex's public simulator (LLMSimulator scheduler.cpp getActualArrivalTime) instead draws each
    gap in nanoseconds from a Poisson *count* distribution of mean 1e9/rate, whose gaps are almost
    constant; we follow the paper's Poisson process."""

    rate: float

    def __post_init__(self):
        _positive(self.rate, "the arrival rate (requests per second)")

    def sample(self, rng, n):
        return np.cumsum(rng.exponential(1.0 / self.rate, size=n))


# ---- published request mixes ------------------------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    """A request mix: input and output length distributions with where their numbers come from."""

    name: str
    input: LengthDistribution
    output: LengthDistribution
    source: str


_NEUPIMS = ("NeuPIMs (Heo et al., ASPLOS'24) quotes the means (shared/reference/pim-designs.md §2.3); "
            "casys-kaist/NeuPIMs @ f299af3 "
            "trace-generator/{}/stats.tsv holds the per-conversation token counts (openai-gpt tokenizer) "
            "that get_distributions.py resamples, rows with 0 output tokens dropped as it does: {}")

DATASETS = {
    "sharegpt": Dataset(
        "sharegpt",
        # 390,819 pairs: input mean 80.04, std 567.7 (median 17, p95 302, max 196,710);
        # output mean 295.7, std 261.6 (median 261, p95 727); input/output correlation 0.007.
        input=LogNormal(mean=80.0, std=567.7),
        output=LogNormal(mean=296.0, std=261.6),
        source=_NEUPIMS.format("share-gpt2", "input mean 80.04 std 567.7, output mean 295.7 std 261.6 "
                                             "(390,819 pairs)")),
    "alpaca": Dataset(
        "alpaca",
        # 51,974 pairs: input mean 12.13, std 4.55 (median 11, p95 20); output mean 55.79,
        # std 55.24 (median 41, p95 151); correlation -0.04.
        input=LogNormal(mean=12.0, std=4.55),
        output=LogNormal(mean=56.0, std=55.24),
        source=_NEUPIMS.format("alpaca", "input mean 12.13 std 4.55, output mean 55.79 std 55.24 "
                                         "(51,974 pairs)")),
}


def dataset(name: str) -> Dataset:
    """A published request mix by name ('sharegpt', 'alpaca')."""
    key = str(name).lower().replace("-", "").replace("_", "")
    if key in DATASETS:
        return DATASETS[key]
    hint = closest(key, DATASETS)
    raise LoomError(f"unknown request dataset '{name}'. Valid datasets: {choices_text(DATASETS)}."
                    + (f" Did you mean '{hint}'?" if hint else ""))


# ---- the trace --------------------------------------------------------------------------------

def requests(n: int, *, rng: np.random.Generator | int, input_len=None, output_len=None,
             dataset_name: str | None = None, arrivals: Arrivals | None = None,
             max_total: int | None = None) -> pd.DataFrame:
    """A trace of n requests: `request, arrival_s, input_len, output_len`.

    Lengths come from `input_len` / `output_len` (a distribution or a fixed token count), or from a
    published mix (`dataset_name='sharegpt'`), either of which the other may override. Arrivals
    default to `AllAtOnce()`. `max_total` caps input + output as a context limit does: input is cut
    to max_total - 1, then output to what remains. Draws happen in a fixed order (inputs, outputs,
    arrivals) from `rng` (a Generator, or an int seed for one).
    """
    n = _whole(n, "the number of requests")
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = np.random.default_rng(int(rng))
    if not isinstance(rng, np.random.Generator):
        raise LoomError(f"rng must be a numpy.random.Generator or an integer seed, not {rng!r}.")
    mix = dataset(dataset_name) if dataset_name is not None else None
    if mix is None and (input_len is None or output_len is None):
        raise LoomError("give input_len and output_len (token counts or distributions), or a dataset_name "
                        f"({choices_text(DATASETS)}).")
    inputs = as_lengths(input_len if input_len is not None else mix.input, "input_len")
    outputs = as_lengths(output_len if output_len is not None else mix.output, "output_len")
    arrivals = AllAtOnce() if arrivals is None else arrivals
    if not isinstance(arrivals, Arrivals):
        raise LoomError(f"arrivals must be AllAtOnce() or Poisson(rate), not {arrivals!r}.")
    lin = inputs.sample(rng, n)
    lout = outputs.sample(rng, n)
    times = arrivals.sample(rng, n)
    if max_total is not None:
        cap = _whole(max_total, "max_total", minimum=2)
        lin = np.minimum(lin, cap - 1)
        lout = np.minimum(lout, cap - lin)
    frame = pd.DataFrame({"request": np.arange(n, dtype=np.int64), "arrival_s": times.astype(np.float64),
                          "input_len": lin, "output_len": lout})
    frame.attrs.update(input=repr(inputs), output=repr(outputs), arrivals=repr(arrivals),
                       dataset=mix.name if mix else None, max_total=max_total)
    return frame
