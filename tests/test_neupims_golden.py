"""Golden tier: NeuPIMs' experiments at their reduced setups (`loom validate neupims --reduced`).

Three kinds of check:
* every experiment yields a finite value, and the table is printed beside the published figures;
* physical relations the reduced setups must still obey whatever the batch: a dual row buffer never
  makes NeuPIMs slower than the same system with one (blocked) buffer; utilisations are fractions;
* the simulated values equal the recorded goldens (tests/goldens/neupims_reduced.json) to 0.1%, so a
  change of any model that moves a reproduction is seen and re-recorded on purpose:
  `LOOM_UPDATE_GOLDENS=1 pytest -m golden tests/test_neupims_golden.py`.

Whether each figure lands within its published tolerance is reported (by `loom validate`), not asserted:
the reduced setups are far smaller than the paper's, and a miss at full size stays red in the table.
"""
import json
import math
import os
from pathlib import Path

import pytest

from loomsim.validate import experiment_path, load_experiments, run_experiments

pytestmark = pytest.mark.golden
GOLDEN = Path(__file__).parent / "goldens" / "neupims_reduced.json"


@pytest.fixture(scope="module")
def table():
    t = run_experiments(load_experiments(experiment_path("neupims")), reduced=True)
    print("\n" + t[["id", "published", "simulated", "within"]].to_string(index=False))
    return t


def test_every_experiment_yields_a_finite_value(table):
    assert len(table) >= 11
    assert all(math.isfinite(v) and v >= 0 for v in table["simulated"]), table


def test_dual_row_buffer_never_loses(table):
    gain = table.set_index("id").loc["dual_row_buffer_gain", "simulated"]
    assert gain >= 0.0


def test_utilisations_are_fractions(table):
    t = table.set_index("id")
    for ex in ("npu_util_neupims_30b", "npu_util_npu_pim_30b", "pim_util_neupims_30b"):
        assert 0.0 < t.loc[ex, "simulated"] <= 100.0, ex


def test_values_equal_the_recorded_goldens(table):
    now = {r.id: float(r.simulated) for r in table.itertuples()}
    if os.environ.get("LOOM_UPDATE_GOLDENS"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(GOLDEN.read_text())
    assert set(recorded) == set(now), "experiments added or removed: re-record the goldens"
    moved = {k: (recorded[k], now[k]) for k in now if not math.isclose(now[k], recorded[k], rel_tol=1e-3, abs_tol=1e-9)}
    assert not moved, f"reduced NeuPIMs results moved (recorded, now): {moved}"
