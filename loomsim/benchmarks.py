"""The benchmark registry behind `loom bench NAME` and the `bench` test tier.

A layer adds a benchmark in its own `bench.py` module (`loomsim.simulator.bench`,
`loomsim.mappers.bench`, ...) with `@benchmark("name", "one-line help")`. A benchmark returns a tidy
pandas frame (`case, stat, unit, value`) of throughputs and of ratios against a baseline measured in
the same run; it asserts nothing about wall time (machines are shared and noisy).
"""
from __future__ import annotations

import importlib
from typing import Callable

import pandas as pd

from loomsim.registry import Registry

LAYERS = ("arch", "workloads", "mappers", "simulator", "reports", "designs")
_BENCHMARKS: Registry[tuple[Callable[..., pd.DataFrame], str]] = Registry("benchmark")


def benchmark(name: str, help: str):  # noqa: A002
    def deco(fn):
        _BENCHMARKS.register(name)((fn, help))
        return fn
    return deco


def benchmarks() -> dict[str, tuple[Callable[..., pd.DataFrame], str]]:
    """Every registered benchmark, after importing each layer's `bench` module (if it has one)."""
    for layer in LAYERS:
        try:
            importlib.import_module(f"loomsim.{layer}.bench")
        except ModuleNotFoundError as exc:
            if exc.name != f"loomsim.{layer}.bench":
                raise
    return _BENCHMARKS.items()
