"""The HTML report: self-contained, and its figures carry the result's numbers."""
import base64
import json
import re

import numpy as np

import pytest

from loomsim import simulate
from loomsim.reports import render, utilisation_timeline, write_report


@pytest.fixture(scope="module")
def result():
    return simulate("npu", "gemm M=64 N=512 K=256")


def _decode(value):
    """Plotly writes numeric arrays as {"dtype": ..., "bdata": base64}; turn them back into lists."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return value


def plotly_data(html: str, div_id: str) -> list:
    """The data array passed to Plotly.newPlot for one figure, arrays decoded."""
    m = re.search(r'Plotly\.newPlot\(\s*"' + re.escape(div_id) + r'",\s*', html)
    assert m, f"no figure {div_id}"
    data, _ = json.JSONDecoder().raw_decode(html, m.end())
    return [{k: _decode(v) for k, v in trace.items()} for trace in data]


def test_report_is_self_contained_and_carries_the_figures_data(result, tmp_path):
    path = write_report(result, tmp_path / "r.html")
    html = path.read_text()
    from plotly.offline import get_plotlyjs
    assert get_plotlyjs() in html                                       # plotly.js is inline
    rest = html.replace(get_plotlyjs(), "")
    assert not re.search(r"<script[^>]*\bsrc=", rest) and "http" not in rest   # nothing to fetch
    energy = plotly_data(html, "fig-energy")
    total = sum(sum(trace["y"]) for trace in energy)
    assert total == pytest.approx(result.energy_pj)
    traffic = plotly_data(html, "fig-traffic")
    frames = result.to_frames()
    expected = frames["traffic"].groupby(["level", "direction"])["bytes"].sum()
    got = {(lvl, t["name"]): y for t in traffic for lvl, y in zip(t["x"], t["y"])}
    assert got == {k: v for k, v in expected.items()}
    timeline = plotly_data(html, "fig-timeline")
    assert {t["name"] for t in timeline} == {"mxu", "hbm", "hbm->vmem"}
    assert f"{result.cycles}" in html.replace(",", "") or f"{result.cycles:.6g}" in html


def test_timeline_busy_fraction_integrates_to_busy_time(result):
    frames = result.to_frames()
    tl = utilisation_timeline(frames["timeline"], result.total_ps, bins=50)
    width_ps = result.total_ps / 50
    for comp, g in tl.groupby("component"):
        busy = next(c["busy_ps"] for c in result.components if c["name"] == comp)
        assert g["busy"].sum() * width_ps == pytest.approx(busy, rel=1e-9)
        assert g["busy"].max() <= 1 + 1e-12


def test_render_names_simplifications(result):
    assert "Simplifications in this model" in render(result)
