"""A self-contained HTML report of one simulation: plotly figures built from the result's tidy frames.

The file embeds plotly.js, so it opens with no network. Figures: a per-component utilisation
timeline, energy by component and action, and bytes per memory level; tables for the headline
numbers, the mapping, the named simplifications and the resolved configuration.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import yaml
from plotly.offline import get_plotlyjs

from loomsim.simulator.result import SimResult

BINS = 200


def utilisation_timeline(timeline: pd.DataFrame, total_ps: int, bins: int = BINS) -> pd.DataFrame:
    """Busy fraction of each component in `bins` equal slices of the run (tidy: component, t_ns, busy)."""
    edges = np.linspace(0, max(total_ps, 1), bins + 1)
    rows = []
    for comp, g in timeline.groupby("component", sort=False):
        s, e = g["start_ps"].to_numpy(float), g["end_ps"].to_numpy(float)
        # busy time before t: sum over intervals of clip(t - s, 0, e - s), in chunks to bound memory
        covered = np.zeros(len(edges))
        for i in range(0, len(s), 20000):
            cs, ce = s[i:i + 20000], e[i:i + 20000]
            covered += np.clip(edges[:, None] - cs[None, :], 0, (ce - cs)[None, :]).sum(axis=1)
        busy = np.diff(covered) / np.diff(edges)
        rows.append(pd.DataFrame({"component": comp, "t_ns": edges[:-1] / 1000, "busy": busy}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["component", "t_ns", "busy"])


def figures(result: SimResult) -> dict[str, go.Figure]:
    frames = result.to_frames()
    figs = {}
    tl = utilisation_timeline(frames["timeline"], result.total_ps)
    fig = go.Figure()
    for comp, g in tl.groupby("component", sort=False):
        fig.add_trace(go.Scatter(x=g["t_ns"], y=g["busy"], mode="lines", name=comp, line_shape="hv"))
    fig.update_layout(title="Utilisation over time (busy fraction per slice)", xaxis_title="time (ns)",
                      yaxis_title="busy", yaxis_range=[0, 1.05])
    figs["timeline"] = fig

    en = frames["energy"]
    fig = go.Figure()
    for action, g in en.groupby("action", sort=False):
        fig.add_trace(go.Bar(x=g["component"], y=g["pj"], name=action))
    fig.update_layout(title="Energy by component (pJ)", barmode="stack", yaxis_title="pJ")
    figs["energy"] = fig

    tr = frames["traffic"].groupby(["level", "direction"], as_index=False)["bytes"].sum()
    fig = go.Figure()
    for direction, g in tr.groupby("direction", sort=False):
        fig.add_trace(go.Bar(x=g["level"], y=g["bytes"], name=direction))
    fig.update_layout(title="Traffic per memory level (bytes)", barmode="group", yaxis_title="bytes")
    figs["traffic"] = fig
    return figs


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, classes="tbl", float_format=lambda v: f"{v:,.6g}")


def render(result: SimResult) -> str:
    frames = result.to_frames()
    figs = figures(result)
    parts = [fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{name}")
             for name, fig in figs.items()]
    mapping = pd.DataFrame([(k, str(v)) for k, v in result.mapping.items() if k != "simplifications"],
                           columns=["key", "value"])
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.simplifications)
    title = f"Loom: {result.workload or 'program'} on {result.arch_name}"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} .tbl td,.tbl th{{padding:2px 10px;text-align:left}}
pre{{background:#f6f6f6;padding:1em}}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>architecture hash <code>{result.arch_hash}</code></p>
<h2>Summary</h2>{_table(frames["summary"])}
<h2>Components</h2>{_table(frames["components"])}
{''.join(parts)}
<h2>Energy</h2>{_table(frames["energy"])}
<h2>Mapping</h2>{_table(mapping)}
<h2>Simplifications in this model</h2><ul>{notes}</ul>
<h2>Resolved configuration</h2><pre>{html.escape(yaml.safe_dump(result.config, sort_keys=False))}</pre>
</body></html>
"""


def write_report(result: SimResult, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(render(result), encoding="utf-8")
    return path
