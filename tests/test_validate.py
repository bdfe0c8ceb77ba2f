"""The validation harness: experiment files, metric expressions, published vs simulated."""
import pytest

from loomsim.errors import ConfigError, LoomError
from loomsim.validate import evaluate_metric, experiment_runner, load_experiments, run_experiments

CALLS = []


@experiment_runner("toy-for-tests")
def toy(setup):
    CALLS.append(dict(setup))
    return {"fast.throughput": 10.0 * setup["batch"], "slow.throughput": 4.0 * setup["batch"], "util": 0.5}


GOOD = """\
design: toy
runner: toy-for-tests
setup: {batch: 8}
experiments:
  - {id: speedup, metric: fast.throughput / slow.throughput, published: 2.4, source: Fig. 1}
  - {id: speedup-again, metric: fast.throughput / slow.throughput, published: 2.0, tolerance: 0.1}
  - {id: util, metric: util * 100, published: [40, 60], reduced: {batch: 2}}
"""


def test_run_reports_within_and_runs_each_setup_once(tmp_path):
    p = tmp_path / "toy.yaml"
    p.write_text(GOOD)
    CALLS.clear()
    table = run_experiments(load_experiments(p))
    assert list(table["simulated"]) == [2.5, 2.5, 50.0]
    assert list(table["within"]) == [True, False, True]     # 2.5 vs 2.0 +-10% misses
    assert CALLS == [{"batch": 8}]                            # one setup, simulated once
    reduced = run_experiments(load_experiments(p), reduced=True)
    assert {"batch": 2} in CALLS and list(reduced["simulated"]) == [2.5, 2.5, 50.0]


def test_metric_expressions():
    figs = {"a.x": 3.0, "b.x": 2.0}
    assert evaluate_metric("(a.x - b.x) / b.x * 100", figs) == 50.0
    with pytest.raises(LoomError, match="Did you mean 'a.x'"):
        evaluate_metric("a.y / b.x", figs)
    with pytest.raises(LoomError, match="only numbers, figure names"):
        evaluate_metric("__import__('os')", figs)


@pytest.mark.parametrize("text,fragment,line", [
    (GOOD.replace("runner: toy-for-tests", "runner: toy-for-test"), "unknown runner", 2),
    (GOOD.replace("published: 2.4,", "publish: 2.4,"), "unknown key 'publish'", 5),
    (GOOD.replace("published: [40, 60]", "published: [60, 40]"), "not a number or a [low, high] range", 7),
    (GOOD.replace("tolerance: 0.1", "tolerance: 2"), "not a relative tolerance", 6),
    (GOOD.replace("metric: util * 100", "metric: util **"), "not an expression", 7),
])
def test_bad_experiment_files_name_the_line(tmp_path, text, fragment, line):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_experiments(p)
    hits = [pr for pr in err.value.problems if fragment in str(pr)]
    assert hits and hits[0].line == line, str(err.value)
