"""Parameter declarations: each spec parameter is declared once, with kind, default, unit and help.

Validation (the loader), documentation (`loom arch describe`) and the resolved configuration all
derive from these declarations, in the manner of gem5's `Param.Latency("30ns", "...")`:

    @register("sram")
    @dataclass(frozen=True, kw_only=True)
    class SramSpec(ComponentSpec):
        capacity: int = param(SIZE, help="total capacity")            # required
        banks: int = param(Count(), default=1, help="independent banks")
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from loomsim.arch import units
from loomsim.arch.units import Cycles, UnitError

REQUIRED: Any = object()
"""Marks a parameter without a default: the YAML must give it."""


@dataclass(frozen=True)
class Kind:
    """How a parameter's YAML value is read, checked, and written back."""

    name: str
    expected: str
    parse: Callable[[Any], Any]
    format: Callable[[Any], Any] = lambda v: v
    unit: str = ""
    options: tuple[str, ...] = ()

    def __call__(self, value):
        return self.parse(value)


def _count(min_value: int) -> Callable[[Any], int]:
    def parse(v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise UnitError(f"{v!r} is not a whole number.", f"an integer >= {min_value}")
        if v < min_value:
            raise UnitError(f"{v} is below the minimum {min_value}.", f"an integer >= {min_value}")
        return v
    return parse


def Count(min: int = 1) -> Kind:  # noqa: A002 - reads naturally at declaration sites
    """A whole number (rows, banks, lanes): plain YAML integer, no unit."""
    return Kind("count", f"an integer >= {min}", _count(min))


def _positive(parse: Callable[[Any], Any], what: str, allow_zero: bool = False):
    def check(v):
        value = parse(v)
        if isinstance(value, Cycles):
            number = value.n
        else:
            number = value
        if number < 0 or (number == 0 and not allow_zero):
            raise UnitError(f"{v!r} must be {'non-negative' if allow_zero else 'positive'}.", what)
        return value
    return check


def _float(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise UnitError(f"{v!r} is not a number.", "a number")
    return float(v)


def _bool(v):
    if not isinstance(v, bool):
        raise UnitError(f"{v!r} is not true or false.", "true or false")
    return v


def _str(v):
    if not isinstance(v, str) or not v:
        raise UnitError(f"{v!r} is not a non-empty string.", "a string")
    return v


def Choice(*options: str) -> Kind:
    """One of a fixed set of names (dataflow: ws|os|is)."""
    opts = tuple(options)

    def parse(v):
        if not isinstance(v, str) or v not in opts:
            raise UnitError(f"{v!r} is not a valid choice.", "one of " + ", ".join(opts))
        return v
    return Kind("choice", "one of " + ", ".join(opts), parse, options=opts)


FREQUENCY = Kind("frequency", "a frequency such as '1GHz'", units.parse_frequency, units.format_frequency, "Hz")
SIZE = Kind("size", "a size such as '512KiB'", _positive(units.parse_size, "a positive size such as '512KiB'"),
            units.format_size, "B")
BANDWIDTH = Kind("bandwidth", "a bandwidth such as '32GB/s'",
                 _positive(units.parse_bandwidth, "a positive bandwidth such as '32GB/s'"),
                 units.format_bandwidth, "B/s")
TIME = Kind("time", "a time such as '14ns' or '14cycles'",
            _positive(units.parse_time, "a non-negative time such as '14ns'", allow_zero=True),
            units.format_time, "ps")
ENERGY = Kind("energy", "an energy such as '0.46pJ'",
              _positive(units.parse_energy, "a non-negative energy such as '0.46pJ'", allow_zero=True),
              units.format_energy, "pJ")
ENERGY_PER_BIT = Kind("energy/bit", "an energy per bit such as '3.9pJ/bit'",
                      _positive(units.parse_energy_per_bit, "a non-negative energy such as '3.9pJ/bit'",
                                allow_zero=True),
                      units.format_energy_per_bit, "pJ/bit")
FLOAT = Kind("number", "a number", _float)
BOOL = Kind("bool", "true or false", _bool)
STRING = Kind("string", "a string", _str)


@dataclass(frozen=True)
class ParamInfo:
    """What the declaration says about one parameter."""

    name: str
    kind: Kind
    default: Any          # canonical value, or REQUIRED
    default_text: Any     # as written in the declaration, for docs
    help: str
    key: str              # the YAML key (usually the field name; `from` for a link's `src`)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def param(kind: Kind, default: Any = REQUIRED, help: str = "", key: str | None = None) -> Any:  # noqa: A002
    """Declare a spec parameter. `default` is written as in YAML ('1GHz') and parsed here, once.

    `default=None` means "optional": filled in from the architecture (an inherited clock, an energy
    table entry) or left unset. `key` names the YAML key when it cannot be the field name.
    """
    if not help:
        raise TypeError("every parameter needs a one-line help text")
    canonical = REQUIRED if default is REQUIRED else (None if default is None else kind.parse(default))
    md = {"loom_param": (kind, canonical, default, help, key)}
    if canonical is REQUIRED:
        return field(metadata=md)
    return field(default=canonical, metadata=md)


def params_of(cls) -> list[ParamInfo]:
    """The declared parameters of a spec class, in declaration order."""
    out = []
    for f in dataclasses.fields(cls):
        md = f.metadata.get("loom_param")
        if md is None:
            continue
        kind, canonical, text, help_, key = md
        out.append(ParamInfo(f.name, kind, canonical, text, help_, key or f.name))
    return out


@dataclass(frozen=True, kw_only=True)
class Spec:
    """Base of every frozen spec: knows how to write itself back as YAML-ready unit strings."""

    type_name: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.type_name:
            out["type"] = self.type_name
        for p in params_of(type(self)):
            value = getattr(self, p.name)
            if value is not None:
                out[p.key] = p.kind.format(value)
        return out
