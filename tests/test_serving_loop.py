"""Iteration-level batching: slots refill as requests finish, and the measured interval's throughput."""
import pandas as pd
import pytest

from loomsim.errors import LoomError
from loomsim.simulator.serving import StepResult, serve_decode


def trace(pairs):
    return pd.DataFrame([(i, 0.0, a, b) for i, (a, b) in enumerate(pairs)],
                        columns=["request", "arrival_s", "input_len", "output_len"])


def test_slots_refill_and_contexts_grow():
    seen = []

    def step(active):
        seen.append([c for _, c in active])
        ids.append([i for i, _ in active])
        return StepResult(time_s=1e-3 * len(active))
    ids = []
    run = serve_decode(trace([(10, 2), (20, 1), (30, 3), (40, 5)]), batch=2, step=step, warmup=1, measure=3)
    # iteration 0: requests 0 and 1 (new tokens attend prompt + 1); request 1 finishes after one token
    assert seen[0] == [11, 21]
    assert seen[1] == [12, 31]          # request 0's second token; request 2 took request 1's slot
    assert seen[2] == [32, 41]          # request 0 done; request 3 admitted
    assert ids[:3] == [[0, 1], [0, 2], [2, 3]]
    assert list(run.iterations["measured"]) == [False, True, True, True]
    assert run.throughput == pytest.approx(6 / 6e-3)      # 2 tokens per 2 ms in each measured step


def test_time_weighted_means_and_energy_per_token():
    def step(contexts):
        return StepResult(time_s=2.0, energy_j=4.0, stats={"npu_util": 0.5})
    run = serve_decode(trace([(1, 100)] * 4), batch=4, step=step, warmup=0, measure=2)
    assert run.mean("npu_util") == 0.5 and run.energy_per_token == 1.0


@pytest.mark.parametrize("kw,fragment", [(dict(batch=0), "batch"), (dict(batch=8), "fewer than the batch"),
                                         (dict(measure=0), "measure")])
def test_bad_serving_arguments(kw, fragment):
    args = dict(batch=2, warmup=0, measure=1)
    args.update(kw)
    with pytest.raises(LoomError, match=fragment):
        serve_decode(trace([(1, 1)] * 4), step=lambda c: StepResult(1.0), **args)


def test_running_out_of_requests_is_reported():
    with pytest.raises(LoomError, match="ran out"):
        serve_decode(trace([(1, 1)] * 2), batch=2, step=lambda c: StepResult(1.0), warmup=0, measure=5)
