"""`ArchSpec`: the frozen, validated tree an architecture YAML becomes."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from loomsim.arch.energy import EnergyTable
from loomsim.arch.registry import ComponentSpec
from loomsim.arch.units import format_frequency


@dataclass(frozen=True)
class ArchSpec:
    """A whole architecture: named components, the links between them, and its energy table."""

    name: str
    components: tuple[ComponentSpec, ...]
    links: tuple[ComponentSpec, ...] = ()
    energy: EnergyTable = field(default_factory=EnergyTable)
    clock: int | None = None
    description: str = ""
    source: str = field(default="", compare=False)

    def __getitem__(self, name: str) -> ComponentSpec:
        for spec in self.components + self.links:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def __contains__(self, name: str) -> bool:
        return any(s.name == name for s in self.components + self.links)

    def of_type(self, type_name: str) -> list[ComponentSpec]:
        return [c for c in self.components if c.type_name == type_name]

    def link_between(self, a: str, b: str) -> ComponentSpec | None:
        """The link joining components `a` and `b`, in either direction."""
        for link in self.links:
            if {link.src, link.dst} == {a, b}:
                return link
        return None

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration, every value explicit, as loadable YAML data."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.clock is not None:
            out["clock"] = format_frequency(self.clock)
        out["components"] = {}
        for c in self.components:
            d = c.to_dict()
            out["components"][c.name] = d
        out["links"] = []
        for link in self.links:
            d = link.to_dict()
            d.pop("type", None)
            d = {"name": link.name, **d}
            out["links"].append(d)
        out["energy"] = self.energy.to_dict()
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def content_hash(self) -> str:
        """A stable hash of the resolved configuration (the same design gives the same hash), including
        what components depend on outside it (`hashed_content()`: a dram's resolved device file)."""
        extra = {c.name: c.hashed_content() for c in self.components if hasattr(c, "hashed_content")}
        blob = json.dumps({"arch": self.to_dict(), "outside": {k: v for k, v in extra.items() if v is not None}},
                          sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
