"""`SimResult`: what one simulation produced, as plain data, tidy pandas frames and JSON."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd

from loomsim.errors import LoomError

SCHEMA = "loom.simresult/1"


@dataclass
class SimResult:
    """Per-task times, per-component busy time, action counts, energy, traffic and the resolved config."""

    arch_name: str
    arch_hash: str
    config: dict[str, Any]
    workload: str
    mapping: dict[str, Any]
    total_ps: int
    clock_hz: int
    tasks: dict[str, list]                 # columns: id, kind, unit, label, start_ps, end_ps
    components: list[dict[str, Any]]       # name, type, busy_ps, intervals
    counts: list[dict[str, Any]]           # component, action, operand, unit, value
    energy: list[dict[str, Any]]           # component, action, pj
    simplifications: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    # ---- headline numbers ------------------------------------------------------------------

    @property
    def cycles(self) -> int:
        """Total time in cycles of the reference clock (the architecture's top-level clock)."""
        return int(Fraction(self.total_ps * self.clock_hz, 10**12).__ceil__())

    @property
    def energy_pj(self) -> float:
        return sum(r["pj"] for r in self.energy)

    def count(self, component: str, action: str, unit: str, operand: str | None = None) -> float:
        return sum(r["value"] for r in self.counts if r["component"] == component and r["action"] == action
                   and r["unit"] == unit and (operand is None or r["operand"] == operand))

    def traffic(self) -> pd.DataFrame:
        """Bytes read and written per memory level (every component that counts bytes except links)."""
        types = {c["name"]: c["type"] for c in self.components}
        rows = [{"level": r["component"], "type": types[r["component"]], "direction": r["action"],
                 "tensor": r["operand"], "bytes": r["value"]}
                for r in self.counts if r["unit"] == "B" and types[r["component"]] in ("sram", "dram")]
        df = pd.DataFrame(rows, columns=["level", "type", "direction", "tensor", "bytes"])
        return df

    def utilisation(self) -> dict[str, float]:
        return {c["name"]: (c["busy_ps"] / self.total_ps if self.total_ps else 0.0) for c in self.components}

    # ---- frames ----------------------------------------------------------------------------

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """Tidy long-form frames: summary, components, counts, energy, traffic, tasks, timeline."""
        util = self.utilisation()
        summary = [
            ("cycles", "cycle", self.cycles),
            ("time", "ns", self.total_ps / 1000),
            ("clock", "MHz", self.clock_hz / 1e6),
            ("energy", "pJ", self.energy_pj),
            ("tasks", "count", len(self.tasks["id"])),
            ("wall_time", "s", self.wall_seconds),
        ]
        comp_rows = []
        for c in self.components:
            comp_rows.append({"component": c["name"], "type": c["type"], "stat": "busy", "unit": "ps",
                              "value": c["busy_ps"]})
            comp_rows.append({"component": c["name"], "type": c["type"], "stat": "utilisation", "unit": "fraction",
                              "value": util[c["name"]]})
            if "pim_busy_ps" in c:
                comp_rows.append({"component": c["name"], "type": c["type"], "stat": "pim_utilisation",
                                  "unit": "fraction", "value": c["pim_busy_ps"] / self.total_ps if self.total_ps else 0.0})
            if c["type"] == "systolic_array":
                macs = self.count(c["name"], "mac", "MAC")
                peak = c["pes"] * Fraction(self.total_ps * c["clock_hz"], 10**12)
                comp_rows.append({"component": c["name"], "type": c["type"], "stat": "mac_utilisation",
                                  "unit": "fraction", "value": float(macs / peak) if peak else 0.0})
        timeline = [{"component": c["name"], "start_ps": s, "end_ps": e}
                    for c in self.components for s, e in c["intervals"]]
        return {
            "summary": pd.DataFrame(summary, columns=["stat", "unit", "value"]),
            "components": pd.DataFrame(comp_rows, columns=["component", "type", "stat", "unit", "value"]),
            "counts": pd.DataFrame(self.counts, columns=["component", "action", "operand", "unit", "value"]),
            "energy": pd.DataFrame(self.energy, columns=["component", "action", "pj"]),
            "traffic": self.traffic(),
            "tasks": pd.DataFrame(self.tasks, columns=["id", "kind", "unit", "label", "start_ps", "end_ps"]),
            "timeline": pd.DataFrame(timeline, columns=["component", "start_ps", "end_ps"]),
        }

    # ---- JSON ------------------------------------------------------------------------------

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps({"schema": SCHEMA, **asdict(self)}, indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    @staticmethod
    def from_json(path: str | Path) -> "SimResult":
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise LoomError(f"cannot read result file '{path}': {exc.strerror}.") from None
        except json.JSONDecodeError as exc:
            raise LoomError(f"'{path}' is not a Loom result: invalid JSON at line {exc.lineno}, column {exc.colno}.") \
                from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise LoomError(f"'{path}' is not a Loom result file (expected schema '{SCHEMA}'; write one with "
                            "`loom run ... --json FILE`).")
        data.pop("schema")
        try:
            return SimResult(**data)
        except TypeError as exc:
            raise LoomError(f"'{path}' is a damaged Loom result: {exc}.") from None


def collect(ctx, program, workload: str, wall_seconds: float) -> SimResult:
    """Gather the models' state after a run into a SimResult."""
    arch = ctx.arch
    by_id = {t.id: t for t in program.tasks}
    log = sorted(ctx.task_log)
    tasks = {"id": [], "kind": [], "unit": [], "label": [], "start_ps": [], "end_ps": []}
    for tid, start, end in log:
        t = by_id[tid]
        for key, value in (("id", tid), ("kind", t.kind), ("unit", t.unit), ("label", t.label),
                           ("start_ps", start), ("end_ps", end)):
            tasks[key].append(value)
    total = max(tasks["end_ps"], default=0)
    components, counts, energy, notes = [], [], [], []
    for name, model in ctx.models.items():
        spec = model.spec
        entry = {"name": name, "type": spec.type_name, "busy_ps": model.busy_ps, "intervals": model.intervals,
                 "clock_hz": getattr(spec, "clock", None) or 0}
        if spec.type_name == "systolic_array":
            entry["pes"] = spec.pes
        if hasattr(model, "pim_busy_ps") and getattr(model, "pim_intervals", None):
            entry["pim_busy_ps"] = model.pim_busy_ps()
        components.append(entry)
        for c, value in sorted(model.counts.items(), key=lambda kv: (kv[0].action, kv[0].operand, kv[0].unit)):
            counts.append({"component": name, "action": c.action, "operand": c.operand, "unit": c.unit,
                           "value": value})
        for action, pj in model.energy():
            energy.append({"component": name, "action": action, "pj": pj})
        notes += [n for n in getattr(model, "simplifications", ()) if n not in notes]
    notes += [n for n in program.mapping.get("simplifications", ()) if n not in notes]
    clock = arch.clock or next((c["clock_hz"] for c in components if c["type"] == "systolic_array"), 10**9)
    return SimResult(arch.name, arch.content_hash(), arch.to_dict(), workload, dict(program.mapping), total, clock,
                     tasks, components, counts, energy, notes, wall_seconds)
