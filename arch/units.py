"""Unit strings ('1GHz', '512KiB', '32GB/s', '14ns', '14cycles', '0.46pJ') parsed once, exactly.

Inside Loom every quantity is a plain number in one canonical unit:

    frequency  -> int   Hz
    size       -> int   bytes
    bandwidth  -> float bytes per second
    time       -> int   picoseconds, or a `Cycles` count resolved later against a clock
    energy     -> float picojoules
    energy/bit -> float picojoules per bit

Numbers are parsed with `Decimal`, so '1.6GHz' is exactly 1_600_000_000 Hz and a size that is not a
whole number of bytes is an error rather than a silent rounding.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-zµ/]*)\s*$")

PS_PER_S = 10**12

_FREQUENCY = {"hz": 1, "khz": 10**3, "mhz": 10**6, "ghz": 10**9, "thz": 10**12}
# Decimal (kB = 1000 B) and binary (KiB = 1024 B) prefixes; a lower-case trailing 'b' means bits.
_SIZE_BYTES = {
    "B": 1, "KB": 10**3, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}
_SIZE_BITS = {
    "b": 1, "bit": 1, "bits": 1, "Kb": 10**3, "kb": 10**3, "Mb": 10**6, "Gb": 10**9, "Tb": 10**12,
    "Kib": 2**10, "Mib": 2**20, "Gib": 2**30, "Tib": 2**40,
}
_TIME_PS = {"ps": 1, "ns": 10**3, "us": 10**6, "µs": 10**6, "ms": 10**9, "s": 10**12}
_CYCLES = {"cycle", "cycles", "cyc", "clk", "tck"}
_ENERGY_PJ = {"fJ": Decimal("0.001"), "pJ": Decimal(1), "nJ": Decimal(10**3), "uJ": Decimal(10**6),
              "µJ": Decimal(10**6), "mJ": Decimal(10**9), "J": Decimal(10**12)}


class UnitError(ValueError):
    """A unit string that cannot be parsed; `expected` says what a valid one looks like."""

    def __init__(self, message: str, expected: str):
        super().__init__(message)
        self.expected = expected


@dataclass(frozen=True)
class Cycles:
    """A time given in clock cycles of the component it belongs to ('14cycles')."""

    n: int

    def to_ps(self, clock_hz: int) -> int:
        return cycles_to_ps(self.n, clock_hz)

    def __str__(self) -> str:
        return f"{self.n}cycles"


def _split(text, kind: str, example: str) -> tuple[Decimal, str]:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise UnitError(f"{kind} must be a string with a unit, got {type(text).__name__} {text!r}.",
                        f"a {kind} such as '{example}'")
    m = _NUMBER_UNIT.match(str(text))
    if not m:
        raise UnitError(f"cannot read {text!r} as a {kind}.", f"a {kind} such as '{example}'")
    try:
        value = Decimal(m.group(1))
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise UnitError(f"cannot read the number in {text!r}.", f"a {kind} such as '{example}'")
    return value, m.group(2)


def _whole(value: Decimal, text: str, what: str, expected: str) -> int:
    if value != value.to_integral_value():
        raise UnitError(f"{text!r} is not a whole number of {what}.", expected)
    return int(value)


def parse_frequency(text) -> int:
    """'940MHz' -> 940_000_000 (Hz)."""
    expected = "a frequency such as '1GHz' or '940MHz'"
    value, unit = _split(text, "frequency", "1GHz")
    scale = _FREQUENCY.get(unit.lower())
    if scale is None:
        raise UnitError(f"unknown frequency unit in {text!r}.", expected + f" (units: {', '.join(['Hz', 'kHz', 'MHz', 'GHz'])})")
    hz = _whole(value * scale, str(text), "hertz", expected)
    if hz <= 0:
        raise UnitError(f"frequency {text!r} must be positive.", expected)
    return hz


def _size_scale(unit: str) -> tuple[int, bool] | None:
    if unit in _SIZE_BYTES:
        return _SIZE_BYTES[unit], False
    if unit in _SIZE_BITS:
        return _SIZE_BITS[unit], True
    return None


def parse_size(text) -> int:
    """'512KiB' -> 524288 (bytes); '4096b' -> 512 bytes (a lower-case 'b' means bits)."""
    expected = "a size such as '512KiB', '24MiB', '64B' or '4096b' (bits)"
    value, unit = _split(text, "size", "512KiB")
    scale = _size_scale(unit)
    if scale is None:
        raise UnitError(f"unknown size unit in {text!r}.", expected)
    factor, is_bits = scale
    amount = value * factor
    if is_bits:
        amount = amount / 8
    return _whole(amount, str(text), "bytes", expected)


def parse_bandwidth(text) -> float:
    """'32GB/s' -> 32e9 (bytes per second); 'Gb/s' means bits per second."""
    expected = "a bandwidth such as '32GB/s', '1.6TB/s' or '400GiB/s'"
    value, unit = _split(text, "bandwidth", "32GB/s")
    if not unit.endswith("/s"):
        raise UnitError(f"a bandwidth needs a '/s' unit, got {text!r}.", expected)
    scale = _size_scale(unit[:-2])
    if scale is None:
        raise UnitError(f"unknown bandwidth unit in {text!r}.", expected)
    factor, is_bits = scale
    amount = value * factor / (8 if is_bits else 1)
    return float(amount)


def parse_time(text) -> int | Cycles:
    """'14ns' -> 14000 (ps); '14cycles' -> Cycles(14), resolved later against the component's clock."""
    expected = "a time such as '14ns', '1.5ns', '500ps' or '14cycles'"
    value, unit = _split(text, "time", "14ns")
    if unit.lower() in _CYCLES:
        return Cycles(_whole(value, str(text), "cycles", expected))
    scale = _TIME_PS.get(unit)
    if scale is None:
        raise UnitError(f"unknown time unit in {text!r}.", expected)
    return _whole(value * scale, str(text), "picoseconds", expected)


def parse_energy(text) -> float:
    """'0.46pJ' -> 0.46 (pJ)."""
    expected = "an energy such as '0.46pJ', '17fJ' or '1.2nJ'"
    value, unit = _split(text, "energy", "0.46pJ")
    scale = _ENERGY_PJ.get(unit)
    if scale is None:
        raise UnitError(f"unknown energy unit in {text!r}.", expected)
    return float(value * scale)


def parse_energy_per_bit(text) -> float:
    """'3.9pJ/bit' -> 3.9 (pJ per bit); '31.2pJ/B' -> 3.9 (per byte, divided by 8)."""
    expected = "an energy per bit such as '3.9pJ/bit' (or per byte: '31.2pJ/B')"
    value, unit = _split(text, "energy per bit", "3.9pJ/bit")
    if "/" not in unit:
        raise UnitError(f"an energy per bit needs a '/bit' or '/B' unit, got {text!r}.", expected)
    energy_unit, per = unit.split("/", 1)
    scale = _ENERGY_PJ.get(energy_unit)
    if scale is None or per not in ("bit", "b", "B"):
        raise UnitError(f"unknown energy-per-bit unit in {text!r}.", expected)
    return float(value * scale / (8 if per == "B" else 1))


# ---- clock arithmetic: integer picoseconds, no drift -------------------------------------------

def cycles_to_ps(n: int, clock_hz: int) -> int:
    """Duration of `n` cycles, rounded up to a whole picosecond."""
    return -((-n * PS_PER_S) // clock_hz)


def next_edge_ps(t_ps: int, clock_hz: int) -> tuple[int, int]:
    """The first clock edge at or after time `t_ps`: (edge index, its time in ps).

    Edge k of a clock lies at ceil(k * 1e12 / f) ps. Computing every edge from its index, in
    integers, keeps a 940 MHz clock (period 1063.83 ps) exact over any run length.
    """
    # edge k is at ceil(k * 1e12 / f) >= t  <=>  k * 1e12 / f > t - 1  <=>  k = floor((t-1) f / 1e12) + 1
    k = 0 if t_ps <= 0 else ((t_ps - 1) * clock_hz) // PS_PER_S + 1
    return k, edge_time_ps(k, clock_hz)


def edge_time_ps(k: int, clock_hz: int) -> int:
    return -((-k * PS_PER_S) // clock_hz)


def ps_to_cycles(t_ps: int, clock_hz: int) -> Fraction:
    return Fraction(t_ps * clock_hz, PS_PER_S)


# ---- formatting back to unit strings (resolved configs are loadable YAML) ----------------------

def _fmt(value, units: list[tuple[str, int | Decimal]]) -> str:
    v = Decimal(str(value))
    for name, scale in units:
        q = v / Decimal(scale)
        if abs(q) >= 1 or name == units[-1][0]:
            q = q.normalize()
            text = format(q, "f")
            return f"{text}{name}"
    raise AssertionError  # pragma: no cover


def format_frequency(hz: int) -> str:
    for name, scale in (("GHz", 10**9), ("MHz", 10**6), ("kHz", 10**3), ("Hz", 1)):
        if hz % scale == 0:
            return f"{hz // scale}{name}"
    return f"{hz}Hz"


def format_size(nbytes: int) -> str:
    """The shortest exact spelling: 16MiB, 8GB, 4096B."""
    best = f"{nbytes}B"
    for name, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10),
                        ("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if nbytes % scale == 0 and nbytes >= scale and len(f"{nbytes // scale}{name}") < len(best):
            best = f"{nbytes // scale}{name}"
    return best


def format_bandwidth(bps: float) -> str:
    return _fmt(bps, [("TB/s", 10**12), ("GB/s", 10**9), ("MB/s", 10**6), ("B/s", 1)])


def format_time(value: int | Cycles) -> str:
    if isinstance(value, Cycles):
        return str(value)
    for name, scale in (("ms", 10**9), ("us", 10**6), ("ns", 10**3), ("ps", 1)):
        if value % scale == 0 and value >= scale:
            return f"{value // scale}{name}"
    return f"{value}ps"


def format_energy(pj: float) -> str:
    return _fmt(pj, [("pJ", 1)])


def format_energy_per_bit(pj: float) -> str:
    return _fmt(pj, [("pJ/bit", 1)])
