"""YAML reading that remembers where each value came from, so errors can name file and line.

`load_located(text, filename)` returns plain dicts, lists and scalars, except that every mapping is a
`LocatedDict` and every sequence a `LocatedList`, which carry the line of each key or item. Duplicate
keys, which PyYAML silently overwrites, are reported as problems here.
"""
from __future__ import annotations

from typing import Any

import yaml

from loomsim.errors import ConfigError, Problem


class LocatedDict(dict):
    """A mapping with `line` (its own) and `key_lines[key]` (where each key was written)."""

    line: int | None = None

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key) -> int | None:
        return self.key_lines.get(key, self.line)


class LocatedList(list):
    """A sequence with `line` and `item_lines[i]`."""

    line: int | None = None

    def __init__(self, *args):
        super().__init__(*args)
        self.item_lines: list[int] = []

    def line_of(self, i: int) -> int | None:
        return self.item_lines[i] if i < len(self.item_lines) else self.line


def line_of(node, key=None) -> int | None:
    """Line of `node[key]` (or of `node`) when known."""
    if key is not None and hasattr(node, "line_of"):
        return node.line_of(key)
    return getattr(node, "line", None)


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    out = LocatedDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in out:
            loader.duplicates.append((line, key, out.key_lines[key]))
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    out = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_located(text: str, filename: str) -> Any:
    """Parse YAML text; syntax errors and duplicate keys become a ConfigError naming the line."""
    loader = _Loader(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or str(exc)
        if exc.context:
            what = f"{exc.context}, {what}"
        raise ConfigError([Problem(filename, line, "", f"YAML syntax error: {what}.",
                                   "valid YAML (check indentation, colons and quotes)")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(filename, None, "", f"YAML error: {exc}.")]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError([Problem(filename, line, str(key), f"key {key!r} appears twice (first on line {first}).",
                                   "each key once per mapping") for line, key, first in loader.duplicates])
    return data
