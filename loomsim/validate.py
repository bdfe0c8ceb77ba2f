"""The validation harness: published results beside simulated ones, experiment by experiment.

A design's experiments live in `configs/experiments/<design>.yaml`:

    design: neupims
    source: Heo et al., ASPLOS'24
    runner: neupims                     # a registered runner (see `experiment_runner`)
    setup: {model: gpt3-7b-neupims, batch: 256, dataset: sharegpt}    # defaults for every experiment
    experiments:
      - id: speedup_vs_npu_only
        claim: NeuPIMs vs NPU-only throughput
        source: abstract; Fig. 12
        metric: neupims.throughput / npu_only.throughput
        published: 2.4                  # or a range: [1.3, 3.0]
        tolerance: 0.25                 # relative, on the published value (default 0.25)
        setup: {batch: 256}             # overrides of the defaults
        reduced: {batch: 64}            # overrides for the `golden` test tier (CI)

A runner turns one setup into named figures (`neupims.throughput`, `npu_only.npu_util`, ...); the
metric is an arithmetic expression over them. Each distinct setup is simulated once per run.
Nothing here knows a design: a reproduction that misses stays red, with the numbers beside it.
"""
from __future__ import annotations

import ast
import inspect
import json
import operator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from loomsim.errors import ConfigError, LoomError, Problem, choices_text, closest
from loomsim.registry import Registry
from loomsim.yamlio import line_of, load_located

_RUNNERS: Registry[Callable[[dict], dict[str, float]]] = Registry("experiment runner")
DEFAULT_TOLERANCE = 0.25
KEYS = {"id", "claim", "source", "metric", "published", "tolerance", "setup", "reduced", "note"}
TOP = {"design", "description", "source", "runner", "setup", "experiments"}


def experiment_runner(name: str):
    """Register `fn(setup[, memo]) -> {figure name: value}` as the runner experiments call by
    `runner: name`; `memo` (optional) is a dict shared by the calls of one `run_experiments`."""
    return _RUNNERS.register(name)


def runners() -> dict[str, Callable]:
    import loomsim.designs  # noqa: F401  (registers the built-in runners)
    return _RUNNERS.items()


@dataclass(frozen=True)
class Experiment:
    id: str
    claim: str
    source: str
    metric: str
    published: float | tuple[float, float]
    tolerance: float
    setup: dict
    reduced: dict
    line: int | None = None

    def bounds(self) -> tuple[float, float]:
        if isinstance(self.published, tuple):
            return self.published
        return self.published * (1 - self.tolerance), self.published * (1 + self.tolerance)


@dataclass(frozen=True)
class ExperimentFile:
    design: str
    runner: str
    source: str
    experiments: tuple[Experiment, ...]
    path: str = field(default="", compare=False)


# ---- metric expressions -------------------------------------------------------------------------

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _names(node) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [n + "." + node.attr for n in _names(node.value)]
    return []


def parse_metric(text: str) -> ast.AST:
    """A metric: numbers, figure names (a.b) and + - * / with parentheses."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise LoomError(f"metric '{text}' is not an expression: {exc.msg} at column {exc.offset}.") from None
    for node in ast.walk(tree):
        if not isinstance(node, (ast.BinOp, ast.Name, ast.Attribute, ast.Constant, ast.Load, ast.USub, ast.UnaryOp,
                                 *_OPS)):
            raise LoomError(f"metric '{text}' uses {type(node).__name__}; only numbers, figure names and "
                            "+ - * / are allowed.")
    return tree


def evaluate_metric(text: str, figures: dict[str, float]) -> float:
    def ev(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        name = _names(node)[0]
        if name not in figures:
            hint = closest(name, figures)
            raise LoomError(f"metric '{text}' names figure '{name}', which the runner did not produce; it "
                            f"produced: {choices_text(figures)}." + (f" Did you mean '{hint}'?" if hint else ""))
        return float(figures[name])
    return ev(parse_metric(text))


# ---- loading ------------------------------------------------------------------------------------

def experiment_path(design: str) -> Path:
    folder = resources.files("loomsim.configs") / "experiments"
    path = folder / f"{design}.yaml"
    if not path.is_file():
        names = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))
        hint = closest(design, names)
        raise LoomError(f"no experiments for design '{design}'; designs with experiments: "
                        f"{choices_text(names) or '(none)'}." + (f" Did you mean '{hint}'?" if hint else ""))
    return Path(str(path))


def designs() -> list[str]:
    folder = resources.files("loomsim.configs") / "experiments"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_experiments(path: str | Path) -> ExperimentFile:
    path = Path(path)
    doc = load_located(path.read_text(), str(path))
    probs: list[Problem] = []

    def bad(node, key, where, msg, expected=None, suggestion=None):
        probs.append(Problem(str(path), line_of(node, key), where, msg, expected, suggestion))

    if not isinstance(doc, dict):
        raise ConfigError([Problem(str(path), None, "", "an experiment file is a YAML mapping.", ", ".join(TOP))])
    for k in doc:
        if k not in TOP:
            bad(doc, k, k, f"unknown key '{k}'.", "one of " + ", ".join(sorted(TOP)), closest(k, TOP))
    for k in ("design", "runner", "experiments"):
        if k not in doc:
            bad(doc, None, k, f"missing required key '{k}'.")
    runner = doc.get("runner", "")
    known = runners()
    if runner and runner not in known:
        bad(doc, "runner", "runner", f"unknown runner '{runner}'.", "one of " + choices_text(known),
            closest(runner, known))
    defaults = dict(doc.get("setup") or {})
    out = []
    for i, e in enumerate(doc.get("experiments") or []):
        where = f"experiments[{i}]"
        if not isinstance(e, dict):
            bad(doc["experiments"], i, where, "an experiment is a mapping.", ", ".join(sorted(KEYS)))
            continue
        for k in e:
            if k not in KEYS:
                bad(e, k, f"{where}.{k}", f"unknown key '{k}'.", "one of " + ", ".join(sorted(KEYS)), closest(k, KEYS))
        for k in ("id", "metric", "published"):
            if k not in e:
                bad(e, None, where, f"missing required key '{k}'.")
        if not {"id", "metric", "published"} <= set(e):
            continue
        pub = e["published"]
        if isinstance(pub, list) and len(pub) == 2 and all(isinstance(x, (int, float)) for x in pub) and pub[0] <= pub[1]:
            pub = (float(pub[0]), float(pub[1]))
        elif isinstance(pub, (int, float)) and not isinstance(pub, bool):
            pub = float(pub)
        else:
            bad(e, "published", f"{where}.published", f"{pub!r} is not a number or a [low, high] range.",
                "a number such as 2.4, or a range such as [1.3, 3.0]")
            continue
        try:
            parse_metric(str(e["metric"]))
        except LoomError as exc:
            bad(e, "metric", f"{where}.metric", str(exc))
            continue
        tol = e.get("tolerance", DEFAULT_TOLERANCE)
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < 1:
            bad(e, "tolerance", f"{where}.tolerance", f"{tol!r} is not a relative tolerance.", "a number in [0, 1)")
            continue
        out.append(Experiment(str(e["id"]), str(e.get("claim", "")), str(e.get("source", "")), str(e["metric"]),
                              pub, float(tol), {**defaults, **(e.get("setup") or {})}, dict(e.get("reduced") or {}),
                              line_of(doc["experiments"], i)))
    if probs:
        raise ConfigError(probs)
    return ExperimentFile(str(doc["design"]), runner, str(doc.get("source", "")), tuple(out), str(path))


# ---- running ------------------------------------------------------------------------------------

def run_experiments(spec: ExperimentFile, reduced: bool = False, only: list[str] | None = None,
                    progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run every experiment (each distinct setup once); one row per experiment. A runner that takes a
    second argument gets one dict for the whole run, to share work between setups (the same system
    on the same trace serves several experiments)."""
    runner = runners()[spec.runner]
    shares = len(inspect.signature(runner).parameters) > 1
    memo: dict = {}
    cache: dict[str, dict[str, float]] = {}
    rows = []
    for ex in spec.experiments:
        if only and ex.id not in only:
            continue
        setup = {**ex.setup, **(ex.reduced if reduced else {})}
        key = json.dumps(setup, sort_keys=True, default=str)
        if key not in cache:
            if progress:
                progress(f"{spec.design}: simulating {setup}")
            cache[key] = runner(setup, memo) if shares else runner(setup)
        value = evaluate_metric(ex.metric, cache[key])
        lo, hi = ex.bounds()
        rows.append({"design": spec.design, "id": ex.id, "claim": ex.claim, "source": ex.source,
                     "published": ex.published if not isinstance(ex.published, tuple) else f"{lo:g}-{hi:g}",
                     "simulated": value, "low": lo, "high": hi, "within": bool(lo <= value <= hi),
                     "reduced": reduced, "setup": key})
    return pd.DataFrame(rows)


def describe(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
