"""Turn an architecture YAML file into an `ArchSpec`, reporting every problem with file, line and path.

Validation follows ZigZag's order (check the input against the declared schema first, then build
domain objects) and Ramulator 2's habit of naming the parameter of the implementation that is wrong.
Problems are collected, not raised one at a time, so a user fixes a file in one pass.
"""
from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any

from loomsim.arch.energy import ACTIONS, EnergyTable, split_key, valid_keys
from loomsim.arch.params import FREQUENCY, params_of
from loomsim.arch.registry import ComponentSpec, component_types
from loomsim.arch.spec import ArchSpec
from loomsim.arch.units import Cycles, UnitError
from loomsim.errors import ConfigError, LoomError, Problem, choices_text, closest
from loomsim.yamlio import LocatedDict, load_located, line_of

TOP_LEVEL = {
    "name": "the architecture's name",
    "description": "free text",
    "clock": "default clock for components that give none",
    "components": "a mapping of component name to {type: ..., parameters}",
    "links": "a list of {from, to, bandwidth, ...}",
    "energy": "energy table entries, e.g. mac.bf16: 0.46pJ",
}


def shipped_arch_names() -> list[str]:
    folder = resources.files("loomsim.configs") / "arch"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_arch_path(ref: str | Path) -> Path:
    """A file path as given, or the name of a shipped architecture ('npu')."""
    path = Path(ref)
    if path.is_file():
        return path
    name = path.name[:-5] if path.name.endswith(".yaml") else path.name
    shipped = resources.files("loomsim.configs") / "arch" / f"{name}.yaml"
    if shipped.is_file():
        return Path(str(shipped))
    names = shipped_arch_names()
    hint = closest(name, names)
    raise LoomError(
        f"no architecture file '{ref}' and no shipped architecture named '{name}'. "
        f"Shipped architectures: {choices_text(names)}." + (f" Did you mean '{hint}'?" if hint else ""))


def load_arch(ref: str | Path) -> ArchSpec:
    """Load and validate an architecture from a file path or a shipped name."""
    path = resolve_arch_path(ref)
    try:
        text = path.read_text()
    except OSError as exc:
        raise LoomError(f"cannot read architecture file '{path}': {exc.strerror}.") from None
    return parse_arch(text, str(ref) if Path(ref).is_file() else str(path))


def parse_arch(text: str, filename: str = "<string>") -> ArchSpec:
    return _Builder(filename).build(load_located(text, filename))


class _Builder:
    """Walks one YAML document, collecting problems; builds the ArchSpec only if there are none."""

    def __init__(self, filename: str):
        self.file = filename
        self.problems: list[Problem] = []

    def problem(self, node, key, path, message, expected=None, suggestion=None):
        self.problems.append(Problem(self.file, line_of(node, key), path, message, expected, suggestion))

    def unknown_key(self, node, key, path, valid):
        self.problem(node, key, path, f"unknown key '{key}'.", "one of: " + choices_text(valid),
                     closest(key, valid))

    # ---- top level -------------------------------------------------------------------------

    def build(self, doc: Any) -> ArchSpec:
        if not isinstance(doc, dict):
            self.problem(doc, None, "", "the file must be a YAML mapping at the top level.",
                         "keys " + ", ".join(TOP_LEVEL))
            raise ConfigError(self.problems)
        for key in doc:
            if key not in TOP_LEVEL:
                self.unknown_key(doc, key, str(key), TOP_LEVEL)
        name = doc.get("name")
        if not isinstance(name, str) or not name:
            self.problem(doc, "name" if "name" in doc else None, "name",
                         "missing required key 'name'." if "name" not in doc else f"name {name!r} is not a string.",
                         "a non-empty string")
        clock = None
        if "clock" in doc:
            clock = self.parse_value(FREQUENCY, doc, "clock", "clock")
        description = doc.get("description", "")
        energy = self.build_energy(doc.get("energy"), doc)
        components = self.build_components(doc, clock, energy)
        declared = set(doc["components"]) if isinstance(doc.get("components"), dict) else set()
        links = self.build_links(doc, clock, energy, {str(n) for n in declared})
        if self.problems:
            raise ConfigError(sorted(self.problems, key=lambda p: (p.line is None, p.line or 0)))
        return ArchSpec(name=name, components=tuple(components), links=tuple(links), energy=energy,
                        clock=clock, description=str(description or ""), source=self.file)

    def parse_value(self, kind, node, key, path):
        try:
            return kind.parse(node[key])
        except UnitError as exc:
            self.problem(node, key, path, str(exc), exc.expected)
            return None

    # ---- energy table ----------------------------------------------------------------------

    def build_energy(self, node, doc) -> EnergyTable:
        table = EnergyTable.defaults()
        values, sources = dict(table.values), dict(table.sources)
        if node is None:
            return table
        if not isinstance(node, dict):
            self.problem(doc, "energy", "energy", "must be a mapping of entry to energy.",
                         "e.g. {mac.bf16: 0.46pJ, dram.read: 3.9pJ/bit}")
            return table
        for key, value in node.items():
            found = split_key(str(key))
            if found is None:
                self.unknown_key(node, key, f"energy.{key}", valid_keys())
                continue
            action, kind = found
            parsed = self.parse_value(kind, node, key, f"energy.{key}")
            if parsed is not None:
                values[key] = parsed
                sources[key] = f"{self.file}:{line_of(node, key)}"
        return EnergyTable(values, sources)

    # ---- components and links --------------------------------------------------------------

    def build_components(self, doc, clock, energy) -> list[ComponentSpec]:
        node = doc.get("components")
        if node is None:
            self.problem(doc, None, "components", "missing required key 'components'.",
                         "a mapping of component name to {type: ..., parameters}")
            return []
        if not isinstance(node, dict) or not node:
            self.problem(doc, "components", "components", "must be a non-empty mapping of name to component.",
                         "e.g. components: {pe_array: {type: systolic_array, rows: 128, cols: 128}}")
            return []
        types = {k: v for k, v in component_types().items() if k != "link"}
        out = []
        for name, body in node.items():
            path = f"components.{name}"
            if not isinstance(body, dict):
                self.problem(node, name, path, "a component must be a mapping with a 'type' key.",
                             "{type: <one of " + ", ".join(t for t in types if t != "link") + ">, ...}")
                continue
            type_name = body.get("type")
            if type_name is None:
                self.problem(body, None, path, "missing required key 'type'.", "one of " + choices_text(types))
                continue
            cls = types.get(type_name)
            if type_name == "link":
                self.problem(body, "type", f"{path}.type", "links are not components.",
                             "the link under the top-level 'links:' list, as {from: A, to: B, bandwidth: ...}")
                continue
            if cls is None:
                self.problem(body, "type", f"{path}.type", f"unknown component type '{type_name}'.",
                             "one of " + choices_text(types), closest(str(type_name), types))
                continue
            spec = self.build_spec(cls, body, str(name), path, clock, energy, skip={"type"})
            if spec is not None:
                out.append(spec)
        return out

    def build_links(self, doc, clock, energy, names: set[str]) -> list[ComponentSpec]:
        node = doc.get("links")
        if node is None:
            return []
        if not isinstance(node, list):
            self.problem(doc, "links", "links", "must be a list of links.", "a list of {from, to, bandwidth}")
            return []
        cls = component_types()["link"]
        out = []
        for i, body in enumerate(node):
            path = f"links[{i}]"
            if not isinstance(body, dict):
                self.problem(node, i, path, "a link must be a mapping.", "{from: A, to: B, bandwidth: 32GB/s}")
                continue
            if body.get("type", "link") != "link":
                self.problem(body, "type", f"{path}.type", f"a link's type must be 'link', not {body['type']!r}.",
                             "type: link, or no type key")
            default_name = f"{body.get('from')}->{body.get('to')}"
            name = body.get("name", default_name)
            spec = self.build_spec(cls, body, str(name), path, clock, energy, skip={"type", "name"})
            if spec is None:
                continue
            for end, key in ((spec.src, "from"), (spec.dst, "to")):
                if end not in names:
                    self.problem(body, key, f"{path}.{key}", f"link {key} '{end}', a component that does not exist.",
                                 "one of the components: " + choices_text(names), closest(end, names))
            out.append(spec)
        return out

    def build_spec(self, cls, body: LocatedDict, name, path, clock, energy, skip) -> ComponentSpec | None:
        declared = {p.key: p for p in params_of(cls)}
        before = len(self.problems)
        for key in body:
            if key not in declared and key not in skip:
                self.unknown_key(body, key, f"{path}.{key}", list(declared) + ["type"])
        values = {}
        for key, p in declared.items():
            if key in body:
                parsed = self.parse_value(p.kind, body, key, f"{path}.{key}")
                if parsed is not None:
                    values[p.name] = parsed
            elif p.required:
                self.problem(body, None, path, f"missing required key '{key}' for a {cls.type_name}.",
                             f"{key}: {p.kind.expected} ({p.help})")
        if len(self.problems) > before:
            return None
        spec = cls(name=name, **values)
        try:
            for key, message, expected in spec.check():
                self.problem(body, key if key in body else None, f"{path}.{key}", message, expected)
            if len(self.problems) > before:
                return None
            fills = spec.resolve(clock, energy.values)
        except ConfigError as exc:                 # a referenced file (a DRAM preset) has problems of its own
            self.problems += exc.problems
            return None
        except LoomError as exc:
            self.problem(body, None, path, str(exc))
            return None
        spec = dataclasses.replace(spec, **fills) if fills else spec
        self.check_resolved(spec, body, path, energy)
        return spec

    def check_resolved(self, spec, body, path, energy):
        fields = {p.name: p for p in params_of(type(spec))}
        if "clock" in fields and spec.clock is None:
            needs = spec.type_name not in ("dram", "link") or isinstance(getattr(spec, "latency", None), Cycles)
            if needs:
                self.problem(body, None, path, f"no clock for {spec.type_name} '{spec.name}'.",
                             "a 'clock' here or at the top of the file, e.g. clock: 1GHz")
        for key in spec.energy_keys():
            if key not in energy:
                action = key.rpartition(".")[0] if key not in ACTIONS else key
                self.problem(body, "dtype" if "dtype" in body else None, path,
                             f"the energy table has no '{key}' entry, which a {spec.type_name} of this "
                             f"data type needs ({ACTIONS[action][2]}).",
                             f"energy: {{{key}: <value with a cited source>}} at the top of the file; "
                             f"entries with defaults: {', '.join(sorted(energy.values))}")
