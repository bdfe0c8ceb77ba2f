"""Memory is bounded by the evaluation batch, not by the size of the map space."""
import subprocess
import sys

import pytest

SCRIPT = """
import resource
from loomsim.mappers.bench import bench_space
from loomsim.mappers.search import parse_objective, run_search
from loomsim.mappers.strategies import make_strategy
space, cm = bench_space()
assert space.size > 10**12, space.size
for name in ("random", "evolutionary", "exhaustive"):
    run_search(space, cm, make_strategy(name, space, parse_objective("edp"), seed=0), budget=1_000_000)
print(space.size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.slow
def test_a_search_over_10_to_the_12_mappings_stays_under_500_mb():
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    size, peak_mib = (int(x) for x in r.stdout.split())
    print(f"space {size:.3g} mappings, peak RSS {peak_mib} MiB")
    assert size > 10**12 and peak_mib < 500
