"""A self-contained HTML report comparing systems that served the same trace (the main job's report).

Figures: throughput, energy per token and utilisations per system, then for each system the
per-component utilisation timeline of one decoder layer of a measured iteration. The numbers come from
the tidy frame `comparison_frame`, which is also what the terminal table prints.
"""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from loomsim.reports.html import utilisation_timeline


def comparison_frame(runs: dict, baseline: str | None = None) -> pd.DataFrame:
    """One row per system: throughput (tokens/s), relative throughput, utilisations, energy per token."""
    rows = []
    for name, run in runs.items():
        rows.append({"system": name, "throughput_tok_s": run.throughput,
                     "energy_per_token_mj": run.energy_per_token * 1e3,
                     "npu_util": run.mean("npu_util"), "pim_util": run.mean("pim_util"),
                     "dram_util": run.mean("dram_util"), "iterations": len(run.measured)})
    df = pd.DataFrame(rows)
    if baseline and baseline in runs:
        df["speedup"] = df["throughput_tok_s"] / float(df.loc[df.system == baseline, "throughput_tok_s"].iloc[0])
    return df


def figures(df: pd.DataFrame, layers: dict) -> dict[str, go.Figure]:
    figs = {}
    fig = go.Figure(go.Bar(x=df["system"], y=df["throughput_tok_s"], name="tokens/s"))
    fig.update_layout(title="Decode throughput (tokens per second, one device)", yaxis_title="tokens/s")
    figs["throughput"] = fig
    fig = go.Figure(go.Bar(x=df["system"], y=df["energy_per_token_mj"], name="mJ/token"))
    fig.update_layout(title="Energy per generated token (mJ, one device)", yaxis_title="mJ")
    figs["energy"] = fig
    fig = go.Figure()
    for stat in ("npu_util", "pim_util", "dram_util"):
        fig.add_trace(go.Bar(x=df["system"], y=df[stat], name=stat.replace("_util", "")))
    fig.update_layout(title="Utilisation over the measured interval", barmode="group", yaxis_range=[0, 1])
    figs["utilisation"] = fig
    for name, result in layers.items():
        tl = utilisation_timeline(result.to_frames()["timeline"], result.total_ps, bins=120)
        fig = go.Figure()
        for comp, g in tl.groupby("component", sort=False):
            fig.add_trace(go.Scatter(x=g["t_ns"], y=g["busy"], mode="lines", name=comp, line_shape="hv"))
        fig.update_layout(title=f"{name}: one decoder layer of a measured iteration (busy fraction per slice)",
                          xaxis_title="time (ns)", yaxis_range=[0, 1.05])
        figs[f"timeline-{name}"] = fig
    return figs


def render(df: pd.DataFrame, layers: dict, setup: dict, notes: list[str]) -> str:
    figs = figures(df, layers)
    parts = "".join(f.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{k}") for k, f in figs.items())
    table = df.to_html(index=False, border=0, float_format=lambda v: f"{v:,.4g}")
    setup_rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                         for k, v in setup.items())
    note_items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Loom: NeuPIMs and its baselines</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} td,th{{padding:2px 10px;text-align:left}}</style>
</head><body>
<h1>NeuPIMs and its baselines, serving the same trace</h1>
<h2>Setup</h2><table>{setup_rows}</table>
<h2>Results</h2>{table}
{parts}
<h2>Simplifications in these models</h2><ul>{note_items}</ul>
</body></html>
"""


def write_comparison(path: str | Path, df: pd.DataFrame, layers: dict, setup: dict, notes: list[str]) -> Path:
    path = Path(path)
    path.write_text(render(df, layers, setup, notes), encoding="utf-8")
    return path
