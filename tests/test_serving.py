"""Request traces: sample statistics converge to the distributions' parameters; seeds reproduce."""
import math

import numpy as np
import pandas as pd
import pytest

from loomsim.errors import LoomError
from loomsim.workloads.serving import (DATASETS, AllAtOnce, Fixed, Gaussian, LogNormal, Poisson, Uniform,
                                       dataset, requests)

N = 400_000
SIGMAS = 5  # tolerance in standard errors: a false alarm about once in 3.5 million runs


def _draw(dist, seed=7, n=N):
    return dist.sample(np.random.default_rng(seed), n)


def test_gaussian_mean_and_std_converge():
    x = _draw(Gaussian(512, 64))
    assert abs(x.mean() - 512) < SIGMAS * 64 / math.sqrt(N)
    # rounding to integers adds variance 1/12: sqrt(64^2 + 1/12)
    assert abs(x.std() / math.sqrt(64 ** 2 + 1 / 12) - 1) < SIGMAS * math.sqrt(1 / (2 * N))


def test_clipped_gaussian_mean_matches_its_exact_expectation():
    dist = Gaussian(3, 4)                       # a third of the mass falls below 1.5 and is clipped
    x = _draw(dist)
    exact = dist.expected_mean()
    # the continuous closed form E[max(1, X)] = Phi(a) + mu (1 - Phi(a)) + sigma phi(a), a = (1 - mu) / sigma,
    # differs from the rounded one by well under 0.01 here; the clip lifts the mean from 3 to ~3.79 ...
    a = (1 - 3) / 4
    phi, cdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi), 0.5 * (1 + math.erf(a / math.sqrt(2)))
    assert exact == pytest.approx(cdf + 3 * (1 - cdf) + 4 * phi, abs=0.01)
    assert abs(x.mean() - exact) < SIGMAS * 4 / math.sqrt(N)   # ... and the sample follows it
    assert x.min() == 1


def test_gaussian_with_zero_std_is_constant():
    assert set(_draw(Gaussian(100.4, 0), n=10)) == {100}


def test_lognormal_mean_std_and_median_converge():
    dist = LogNormal(mean=296, std=261.6)      # the ShareGPT output fit
    x = _draw(dist)
    assert abs(x.mean() - 296) < SIGMAS * 261.6 / math.sqrt(N)
    assert abs(x.std() / 261.6 - 1) < 0.03
    assert abs(np.median(x) - dist.quantile(0.5)) <= 1


def test_lognormal_parameters_follow_moment_matching():
    dist = LogNormal(mean=80, std=567.7)
    assert dist.sigma == pytest.approx(math.sqrt(math.log(1 + (567.7 / 80) ** 2)))
    assert math.exp(dist.mu + dist.sigma ** 2 / 2) == pytest.approx(80)


def test_uniform_covers_both_ends_with_the_discrete_moments():
    x = _draw(Uniform(256, 4096))
    n_values = 4096 - 256 + 1
    assert (x.min(), x.max()) == (256, 4096)
    assert abs(x.mean() - (256 + 4096) / 2) < SIGMAS * n_values / math.sqrt(12 * N)
    assert abs(x.std() / math.sqrt((n_values ** 2 - 1) / 12) - 1) < 0.01


def test_poisson_gaps_are_exponential_with_mean_one_over_rate():
    rate = 14.0                                 # Duplex Fig. 13: about 14 requests/s
    t = Poisson(rate).sample(np.random.default_rng(3), N)
    gaps = np.diff(np.concatenate([[0.0], t]))
    assert (gaps > 0).all()
    assert abs(gaps.mean() - 1 / rate) < SIGMAS * (1 / rate) / math.sqrt(N)
    assert abs(gaps.std() / gaps.mean() - 1) < 0.01                  # exponential: std == mean
    counts = np.bincount(t.astype(int))[:-1]                         # requests per whole second
    assert abs(counts.mean() - rate) < SIGMAS * math.sqrt(rate / len(counts))
    assert abs(counts.var() / rate - 1) < 0.1                        # Poisson counts: variance == mean


@pytest.mark.parametrize("name, mean_in, mean_out", [("sharegpt", 80, 296), ("alpaca", 12, 56)])
def test_published_mixes_have_neupims_means(name, mean_in, mean_out):
    t = requests(N, rng=11, dataset_name=name)
    mix = DATASETS[name]
    assert abs(t.input_len.mean() - mean_in) < SIGMAS * mix.input.std / math.sqrt(N) + 0.1
    assert abs(t.output_len.mean() - mean_out) < SIGMAS * mix.output.std / math.sqrt(N) + 0.1


def test_trace_frame_shape_and_types():
    t = requests(5, rng=np.random.default_rng(0), input_len=Gaussian(512, 64), output_len=128,
                 arrivals=Poisson(8.0))
    assert list(t.columns) == ["request", "arrival_s", "input_len", "output_len"]
    assert t.request.tolist() == [0, 1, 2, 3, 4] and (t.output_len == 128).all()
    assert t.arrival_s.is_monotonic_increasing and t.arrival_s.iloc[0] > 0
    assert str(t.input_len.dtype) == "int64" and str(t.arrival_s.dtype) == "float64"


def test_same_seed_same_frame_other_seed_other_frame():
    kw = dict(dataset_name="sharegpt", arrivals=Poisson(4.0))
    a = requests(1000, rng=5, **kw)
    b = requests(1000, rng=np.random.default_rng(5), **kw)
    c = requests(1000, rng=6, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_override_one_side_of_a_dataset_and_default_arrivals():
    t = requests(100, rng=1, dataset_name="alpaca", output_len=Fixed(7))
    assert (t.output_len == 7).all() and (t.arrival_s == 0).all()
    assert isinstance(AllAtOnce(), AllAtOnce)


def test_max_total_caps_input_plus_output():
    t = requests(10_000, rng=2, dataset_name="sharegpt", max_total=2048)
    assert (t.input_len + t.output_len <= 2048).all() and (t.output_len >= 1).all()


@pytest.mark.parametrize("make, words", [
    (lambda: Poisson(0), "rate"),
    (lambda: Poisson(-3.0), "rate"),
    (lambda: Gaussian(0, 5), "gaussian mean must be positive"),
    (lambda: Gaussian(10, -1), "gaussian std must be non-negative"),
    (lambda: LogNormal(-5, 1), "log-normal mean"),
    (lambda: Uniform(10, 5), "below low"),
    (lambda: Fixed(0), "at least 1"),
    (lambda: requests(0, rng=1, input_len=8, output_len=8), "number of requests"),
    (lambda: requests(3, rng="seed", input_len=8, output_len=8), "rng"),
    (lambda: requests(3, rng=1, input_len=8), "give input_len and output_len"),
    (lambda: requests(3, rng=1, input_len=2.5, output_len=8), "input_len must be a token count"),
    (lambda: requests(3, rng=1, input_len=8, output_len=8, arrivals=14.0), "arrivals must be"),
    (lambda: Poisson(float("inf")), "finite"),
])
def test_bad_arguments_are_rejected_with_a_reason(make, words):
    with pytest.raises(LoomError, match=words):
        make()


def test_unknown_dataset_suggests_closest():
    with pytest.raises(LoomError, match="Did you mean 'sharegpt'"):
        dataset("sharegtp")
    assert dataset("ShareGPT").name == "sharegpt"
