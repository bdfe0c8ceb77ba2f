"""Read a zoo family file (`workloads/zoo/<family>.yaml`) into `ModelConfig`s and `CompositionConfig`s.

The file is a mapping:

    description: free text
    defaults: {vocab: 50257, ...}       # keys every model of the family shares (each may be overridden)
    models:
      gpt2-small: {layers: 12, ...}      # the key is the model's zoo name
    compositions:
      samba-coe-150: {router: ..., experts: {llama-2-7b: 150}, ...}

As in the architecture loader, every problem is collected (unknown or missing key with the closest
valid name, a value of the wrong kind, a rule between fields broken) and reported together with
file, line and YAML path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from loomsim.arch.units import UnitError
from loomsim.errors import ConfigError, LoomError, Problem, choices_text, closest
from loomsim.workloads.zoo.config import CompositionConfig, ModelConfig, check_model, declared, derive_defaults
from loomsim.yamlio import line_of, load_located

TOP_LEVEL = {
    "description": "free text about the family",
    "defaults": "a mapping of model keys every model of the file shares",
    "models": "a mapping of zoo name to model fields",
    "compositions": "a mapping of zoo name to a composition of experts",
}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")


@dataclass(frozen=True)
class Family:
    """The contents of one zoo file."""

    name: str
    path: str
    description: str
    models: tuple[ModelConfig, ...]
    compositions: tuple[CompositionConfig, ...]


@dataclass(frozen=True)
class Reference:
    """A composition's use of a model by name, checked once every file is loaded."""

    model: str
    file: str
    line: int | None
    path: str


def load_family(path: str | Path, known: dict[str, ModelConfig] | None = None) -> Family:
    """Load and check one family file. Composition references resolve against this file's models
    and `known` (by default the shipped zoo)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise LoomError(f"cannot read zoo file '{p}': {exc.strerror}.") from None
    family, refs = parse_family(text, str(p), p.stem)
    if known is None:
        from loomsim.workloads.zoo import registry
        known = registry.all_models()
    names = {m.name for m in family.models} | set(known)
    problems = unresolved(refs, names)
    if problems:
        raise ConfigError(problems)
    return family


def unresolved(refs: list[Reference], names: set[str]) -> list[Problem]:
    return [Problem(r.file, r.line, r.path, f"no zoo model named '{r.model}'.", "a model from the zoo: "
                    + choices_text(names), closest(r.model, names)) for r in refs if r.model not in names]


def parse_family(text: str, filename: str, family: str) -> tuple[Family, list[Reference]]:
    """Parse one family file; raises ConfigError with every problem found."""
    b = _Builder(filename, family)
    fam = b.build(load_located(text, filename))
    if b.problems:
        raise ConfigError(sorted(b.problems, key=lambda p: (p.line is None, p.line or 0)))
    return fam, b.refs


class _Builder:
    def __init__(self, filename: str, family: str):
        self.file = filename
        self.family = family
        self.problems: list[Problem] = []
        self.refs: list[Reference] = []

    def problem(self, node, key, path, message, expected=None, suggestion=None):
        self.problems.append(Problem(self.file, line_of(node, key), path, message, expected, suggestion))

    def unknown_key(self, node, key, path, valid):
        self.problem(node, key, path, f"unknown key '{key}'.", "one of: " + choices_text(valid),
                     closest(str(key), valid))

    def build(self, doc) -> Family:
        if not isinstance(doc, dict):
            self.problem(doc, None, "", "a zoo file must be a YAML mapping.", "keys " + ", ".join(TOP_LEVEL))
            return Family(self.family, self.file, "", (), ())
        for key in doc:
            if key not in TOP_LEVEL:
                self.unknown_key(doc, key, str(key), TOP_LEVEL)
        if "models" not in doc and "compositions" not in doc:
            self.problem(doc, None, "", "the file defines no models and no compositions.",
                         "a 'models:' and/or 'compositions:' mapping")
        defaults = doc.get("defaults") or {}
        model_fields = declared(ModelConfig)
        if not isinstance(defaults, dict):
            self.problem(doc, "defaults", "defaults", "must be a mapping of model keys.", "e.g. {vocab: 50257}")
            defaults = {}
        for key in defaults:
            if key not in model_fields:
                self.unknown_key(defaults, key, f"defaults.{key}", model_fields)
        models = tuple(m for m in self.entries(doc, "models", lambda n, b, p: self.model(n, b, p, defaults)) if m)
        comps = tuple(c for c in self.entries(doc, "compositions", self.composition) if c)
        seen: dict[str, str] = {}
        for entry, node_key in [(m, "models") for m in models] + [(c, "compositions") for c in comps]:
            for alias in entry.aliases:
                if alias in seen or alias in {m.name for m in models} | {c.name for c in comps}:
                    self.problem(doc[node_key][entry.name], "aliases", f"{node_key}.{entry.name}.aliases",
                                 f"alias '{alias}' is already a name or alias in this file.", "a unique alias")
                seen[alias] = entry.name
        return Family(self.family, self.file, str(doc.get("description", "")), models, comps)

    def entries(self, doc, section, build_one):
        node = doc.get(section)
        if node is None:
            return []
        if not isinstance(node, dict) or not node:
            self.problem(doc, section, section, f"'{section}' must be a non-empty mapping of name to fields.",
                         f"{section}: {{name: {{...}}}}")
            return []
        out = []
        for name, body in node.items():
            path = f"{section}.{name}"
            if not isinstance(name, str) or not NAME_RE.match(name):
                self.problem(node, name, path, f"'{name}' is not a valid zoo name.",
                             "lower case letters, digits, '.' and '-', e.g. llama-2-7b")
                continue
            if not isinstance(body, dict):
                self.problem(node, name, path, "an entry must be a mapping of fields.", "{layers: 32, ...}")
                continue
            out.append(build_one(name, body, path))
        return out

    def values(self, cls, body, path, defaults=None) -> tuple[dict, dict] | None:
        """Parse the declared fields of `cls` from body (falling back on defaults): values and the
        node each came from, or None when something is wrong."""
        fields = declared(cls)
        defaults = defaults or {}
        before = len(self.problems)
        for key in body:
            if key not in fields:
                self.unknown_key(body, key, f"{path}.{key}", fields)
        values, where = {}, {}
        for key, p in fields.items():
            node = body if key in body else defaults if key in defaults else None
            if node is None:
                if p.required:
                    self.problem(body, None, path, f"missing required key '{key}'.", f"{key}: {p.kind.expected} "
                                                                                    f"({p.help})")
                else:
                    values[p.name] = p.default
                continue
            where[key] = node
            try:
                values[p.name] = p.kind.parse(node[key])
            except UnitError as exc:
                prefix = f"{path}.{key}" if node is body else f"defaults.{key} (used by {path})"
                self.problem(node, key, prefix, str(exc), exc.expected,
                             closest(str(node[key]), p.kind.options) if p.kind.options else None)
        return (values, where) if len(self.problems) == before else None

    def model(self, name, body, path, defaults) -> ModelConfig | None:
        got = self.values(ModelConfig, body, path, defaults)
        if got is None:
            return None
        v, where = got
        v.update(derive_defaults(v))
        if v["head_dim"] is None:
            self.problem(body, "heads" if "heads" in body else None, f"{path}.heads",
                         f"hidden ({v['hidden']}) is not divisible by heads ({v['heads']}), so head_dim "
                         "cannot be derived.", "a head_dim key, or heads dividing hidden")
            return None
        broken = check_model(v)
        for key, message, expected in broken:
            node = where.get(key, body)
            self.problem(node, key if key in node else None, f"{path}.{key}", message, expected)
        if broken:
            return None
        return ModelConfig(name=name, family=self.family, **v)

    def composition(self, name, body, path) -> CompositionConfig | None:
        got = self.values(CompositionConfig, body, path)
        if got is None:
            return None
        v, _ = got
        self.refs.append(Reference(v["router"], self.file, line_of(body, "router"), f"{path}.router"))
        for model, _count in v["experts"]:
            self.refs.append(Reference(model, self.file, line_of(body["experts"], model), f"{path}.experts.{model}"))
        return CompositionConfig(name=name, family=self.family, **v)
