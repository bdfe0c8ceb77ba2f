"""Loading DRAM device YAML (the shipped presets in `configs/dram/`, or a user's file) into a `DramDevice`.

A device file has `name`, `standard`, `tCK` and the sections `organisation`, `timing`, `power` and/or
`energy`, `pim`, `controller`; `base: HBM2` starts from another device and overrides what it gives.
Every problem is reported with file, line, YAML path, what was expected and the closest valid name.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from loomsim.arch import units
from loomsim.arch.dram_device import (SECTIONS, DramController, DramDevice, DramPim, check_device, resolve_pim,
                                      resolve_timing)
from loomsim.arch.params import params_of
from loomsim.arch.units import UnitError
from loomsim.errors import ConfigError, LoomError, Problem, choices_text, closest
from loomsim.yamlio import load_located, line_of

TOP_LEVEL = ("name", "standard", "description", "base", "tCK") + tuple(SECTIONS)
OPTIONAL_SECTIONS = ("power", "energy", "pim", "controller")


def preset_names() -> list[str]:
    folder = resources.files("loomsim.configs") / "dram"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_device_path(ref: str) -> Path:
    """A device YAML path as given, or the name of a shipped preset ('HBM2')."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    shipped = resources.files("loomsim.configs") / "dram" / f"{ref}.yaml"
    if shipped.is_file():
        return Path(str(shipped))
    names = preset_names()
    hint = closest(str(ref), names)
    raise LoomError(f"no DRAM device file '{ref}' and no preset named '{ref}'. Presets: {choices_text(names)}."
                    + (f" Did you mean '{hint}'?" if hint else ""))


def device_files(ref: str) -> list[Path]:
    """The device file `ref` names and the files it is based on (`base:`), most derived first; stops at a
    file that cannot be read or parsed (loading the device reports that)."""
    out: list[Path] = []
    try:
        path = resolve_device_path(ref)
        while path not in out:
            out.append(path)
            doc = load_located(path.read_text(), str(path))
            if not isinstance(doc, dict) or "base" not in doc:
                break
            path = resolve_device_path(str(doc["base"]))
    except (LoomError, OSError, ValueError):
        pass
    return out


def check_preset_name(ref: str) -> str:
    """For the `preset:` parameter kind: a UnitError (reported with file and line) unless `ref` resolves."""
    try:
        resolve_device_path(ref)
    except LoomError as exc:
        raise UnitError(str(exc), "a preset name (" + ", ".join(preset_names()) + ") or a device YAML path") from None
    return ref


class _Merged:
    """Section values gathered from a chain of device files, each remembering where it was written."""

    def __init__(self):
        self.top: dict[str, tuple[Any, str, int | None]] = {}
        self.sections: dict[str, dict[str, tuple[Any, str, int | None]]] = {s: {} for s in SECTIONS}
        self.section_seen: dict[str, tuple[str, int | None]] = {}


def _read(path: Path, merged: _Merged, problems: list[Problem], chain: tuple[str, ...]) -> None:
    name = str(path)
    try:
        doc = load_located(path.read_text(), name)
    except OSError as exc:
        raise LoomError(f"cannot read DRAM device file '{path}': {exc.strerror}.") from None
    if not isinstance(doc, dict):
        problems.append(Problem(name, line_of(doc), "", "a device file must be a YAML mapping.",
                                "keys " + ", ".join(TOP_LEVEL)))
        return
    if "base" in doc:
        base = doc["base"]
        try:
            base_path = resolve_device_path(str(base))
        except LoomError as exc:
            problems.append(Problem(name, line_of(doc, "base"), "base", str(exc)))
        else:
            if str(base_path) in chain:
                problems.append(Problem(name, line_of(doc, "base"), "base", f"'{base}' is based on this file: a cycle."))
            else:
                _read(base_path, merged, problems, chain + (str(base_path),))
    for key, value in doc.items():
        if key not in TOP_LEVEL:
            problems.append(Problem(name, line_of(doc, key), str(key), f"unknown key '{key}'.",
                                    "one of: " + ", ".join(TOP_LEVEL), closest(str(key), TOP_LEVEL)))
        elif key in SECTIONS:
            if not isinstance(value, dict):
                problems.append(Problem(name, line_of(doc, key), key, f"'{key}' must be a mapping.",
                                        f"{key}: {{key: value, ...}}"))
                continue
            merged.section_seen[key] = (name, line_of(doc, key))
            _section(SECTIONS[key], key, value, name, merged.sections[key], problems)
        elif key == "tCK":
            try:
                tck = units.parse_time(value)
                if isinstance(tck, units.Cycles) or tck <= 0:
                    raise UnitError(f"{value!r} is not a positive time.", "a clock period such as '1ns' or '625ps'")
                merged.top[key] = (tck, name, line_of(doc, key))
            except UnitError as exc:
                problems.append(Problem(name, line_of(doc, key), key, str(exc), exc.expected))
        elif key != "base":
            merged.top[key] = (value, name, line_of(doc, key))


def _section(cls, section: str, node: dict, filename: str, into: dict, problems: list[Problem]) -> None:
    declared = {p.key: p for p in params_of(cls)}
    for key, value in node.items():
        p = declared.get(key)
        if p is None:
            problems.append(Problem(filename, line_of(node, key), f"{section}.{key}", f"unknown key '{key}'.",
                                    "one of: " + ", ".join(declared), closest(str(key), declared)))
            continue
        try:
            into[p.name] = (p.kind.parse(value), filename, line_of(node, key))
        except UnitError as exc:
            problems.append(Problem(filename, line_of(node, key), f"{section}.{key}", str(exc), exc.expected))


def parse_overrides(section: str, node: dict) -> dict[str, Any]:
    """For a `dram` component's `timing:`-style override mapping: parsed values, or a UnitError naming the key."""
    cls = SECTIONS[section]
    declared = {p.key: p for p in params_of(cls)}
    if not isinstance(node, dict):
        raise UnitError(f"'{section}' must be a mapping of {section} parameter to value.",
                        f"e.g. {section}: {{{next(iter(declared))}: ...}}")
    out = {}
    for key, value in node.items():
        p = declared.get(key)
        if p is None:
            hint = closest(str(key), declared)
            raise UnitError(f"unknown {section} parameter '{key}'" + (f" (did you mean '{hint}'?)." if hint else "."),
                            "one of: " + ", ".join(declared))
        try:
            out[p.name] = p.kind.parse(value)
        except UnitError as exc:
            raise UnitError(f"{section}.{key}: {exc}", exc.expected) from None
    return out


def _unknown_section(section: str) -> bool:
    raise UnitError(f"unknown device section '{section}'", "one of " + ", ".join(SECTIONS))


def load_device(ref: str, overrides: dict[str, dict[str, Any]] | None = None, where: str = "",
                parsed: bool = False) -> DramDevice:
    """Load a preset name or device file, apply `overrides` ({section: {param: value}}), resolve.

    Override values are written as in a device YAML (`{"timing": {"tRCD": 16, "tFAW": "20ns"}}`), unless
    `parsed` says they are already parsed by the declarations (as a `dram` component's are). `where`
    names the place the overrides came from (an architecture file and component) for errors.
    """
    if overrides and not parsed:
        try:
            overrides = {section: parse_overrides(section, values) for section, values in overrides.items()
                         if section in SECTIONS or _unknown_section(section)}
        except UnitError as exc:
            raise LoomError(f"device overrides{' of ' + where if where else ''}: {exc} Expected {exc.expected}.") \
                from None
    path = resolve_device_path(ref)
    merged, problems = _Merged(), []
    _read(path, merged, problems, (str(path),))
    for section, values in (overrides or {}).items():
        for key, value in values.items():
            merged.sections[section][key] = (value, where or "overrides", None)
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    return _build(path, merged)


def _build(path: Path, merged: _Merged) -> DramDevice:
    fname = str(path)
    problems: list[Problem] = []
    for key in ("name", "tCK"):
        if key not in merged.top:
            problems.append(Problem(fname, None, key, f"missing required key '{key}'.",
                                    "a device name" if key == "name" else "a clock period such as '1ns'"))
    built: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        values = merged.sections[section]
        if not values and section in OPTIONAL_SECTIONS:
            built[section] = None
            continue
        missing = [p for p in params_of(cls) if p.required and p.name not in values]
        for p in missing:
            f, line = merged.section_seen.get(section, (fname, None))
            problems.append(Problem(f, line, section, f"missing required key '{p.key}'.",
                                    f"{p.key}: {p.kind.expected} ({p.help})"))
        if not missing:
            built[section] = cls(**{k: v[0] for k, v in values.items()})
    if problems:
        raise ConfigError(problems)
    tck = merged.top["tCK"][0]
    org = built["organisation"]
    timing = resolve_timing(built["timing"], org, tck)
    pim = resolve_pim(built["pim"] or DramPim(), timing, tck)
    controller = built["controller"] or DramController()
    for key, message, expected in check_device(org, timing, controller, pim, tck, built["power"], built["energy"]):
        section, _, param_name = key.partition(".")
        src = merged.sections.get(section, {}).get(param_name)
        f, line = (src[1], src[2]) if src else merged.section_seen.get(section, (fname, None))
        problems.append(Problem(f, line, key, message, expected))
    if problems:
        raise ConfigError(problems)
    return DramDevice(name=str(merged.top["name"][0]), standard=str(merged.top.get("standard", ("", 0, 0))[0]),
                      tck_ps=tck, org=org, timing=timing, power=built["power"], energy=built["energy"], pim=pim,
                      controller=controller, description=str(merged.top.get("description", ("", 0, 0))[0]),
                      source=fname)
