"""Search strategies, one module each, all behind `loomsim.mappers.search.Strategy` (ask/tell).

A new strategy is a module here with a `Strategy` subclass decorated `@strategy("name")`; `loom map
--strategy name` and `map_workload(..., strategy="name")` find it without any other edit.
"""
from __future__ import annotations

import importlib
import pkgutil

from loomsim.errors import LoomError, choices_text, closest

_STRATEGIES: dict[str, type] = {}


def strategy(name: str):
    def deco(cls):
        if name in _STRATEGIES:
            raise RuntimeError(f"strategy {name!r} registered twice")
        cls.name = name
        _STRATEGIES[name] = cls
        return cls
    return deco


def strategies() -> dict[str, type]:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    return dict(sorted(_STRATEGIES.items()))


def make_strategy(name: str, space, objective, seed: int = 0):
    found = strategies()
    if name not in found:
        hint = closest(name, found)
        raise LoomError(f"unknown search strategy '{name}'; valid: {choices_text(found)}."
                        + (f" Did you mean '{hint}'?" if hint else ""))
    return found[name](space, objective, seed)
