"""The shipped zoo: every `*.yaml` beside this module, loaded once and looked up by name or alias."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from loomsim.errors import ConfigError, LoomError, Problem, choices_text, closest
from loomsim.workloads.zoo.config import CompositionConfig, ModelConfig
from loomsim.workloads.zoo.loader import Family, parse_family, unresolved


@dataclass(frozen=True)
class Zoo:
    """All shipped families, with name and alias lookups (read-only once built)."""

    families: tuple[Family, ...]
    models: dict[str, ModelConfig]
    compositions: dict[str, CompositionConfig]
    aliases: dict[str, str]


def zoo_files() -> list:
    folder = resources.files("loomsim.workloads.zoo")
    return sorted((p for p in folder.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)


@functools.cache
def shipped() -> Zoo:
    """Load every shipped family; problems from all files are reported together."""
    families, refs, problems = [], [], []
    for f in zoo_files():
        try:
            fam, r = parse_family(f.read_text(), f"workloads/zoo/{f.name}", f.name[:-5])
        except ConfigError as exc:
            problems += exc.problems
            continue
        families.append(fam)
        refs += r
    models: dict[str, ModelConfig] = {}
    comps: dict[str, CompositionConfig] = {}
    aliases: dict[str, str] = {}
    owner: dict[str, str] = {}
    for fam in families:
        for entry in fam.models + fam.compositions:
            for n in (entry.name,) + tuple(entry.aliases):
                if n in owner:
                    problems.append(Problem(fam.path, None, entry.name, f"'{n}' is defined twice: in {owner[n]} "
                                                                       f"and in {fam.path}.", "unique zoo names"))
                owner[n] = fam.path
            (models if isinstance(entry, ModelConfig) else comps)[entry.name] = entry
            for a in entry.aliases:
                aliases[a] = entry.name
    problems += unresolved(refs, set(models))
    if problems:
        raise ConfigError(problems)
    return Zoo(tuple(families), models, comps, aliases)


def all_models() -> dict[str, ModelConfig]:
    return dict(shipped().models)


def _lookup(name: str, table: dict, what: str, other: dict, other_what: str, other_fn: str):
    zoo = shipped()
    key = str(name).strip().lower()
    key = zoo.aliases.get(key, key)
    if key in table:
        return table[key]
    if key in other:
        raise LoomError(f"'{name}' is a {other_what}, not a {what}; use {other_fn}('{name}').")
    valid = sorted(table) + sorted(a for a, n in zoo.aliases.items() if n in table)
    hint = closest(key, valid)
    raise LoomError(f"unknown {what} '{name}'. Valid {what}s: {choices_text(sorted(table), limit=80)}."
                    + (f" Did you mean '{hint}'?" if hint else ""))


def get_model(name: str) -> ModelConfig:
    """A zoo model by name or alias; an unknown name is a LoomError listing the valid ones."""
    zoo = shipped()
    return _lookup(name, zoo.models, "model", zoo.compositions, "composition of experts", "get_composition")


def get_composition(name: str) -> CompositionConfig:
    zoo = shipped()
    return _lookup(name, zoo.compositions, "composition", zoo.models, "model", "get_model")


def list_models(family: str | None = None) -> list[str]:
    """Zoo model names, sorted; optionally those of one family (file stem, e.g. 'llama')."""
    zoo = shipped()
    if family is not None:
        fams = {f.name: f for f in zoo.families}
        if family not in fams:
            hint = closest(family, fams)
            raise LoomError(f"unknown zoo family '{family}'. Families: {choices_text(fams)}."
                            + (f" Did you mean '{hint}'?" if hint else ""))
        return sorted(m.name for m in fams[family].models)
    return sorted(zoo.models)


def list_compositions() -> list[str]:
    return sorted(shipped().compositions)


def list_families() -> list[str]:
    return [f.name for f in shipped().families]
