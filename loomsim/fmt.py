"""Human-readable numbers for terminal output (reports keep the raw values)."""
from __future__ import annotations


def _scaled(value: float, units: list[tuple[str, float]]) -> str:
    for name, scale in units:
        if abs(value) >= scale:
            return f"{value / scale:,.4g} {name}"
    name, scale = units[-1]
    return f"{value / scale:,.4g} {name}"


def time_ps(ps: float) -> str:
    return _scaled(ps, [("s", 1e12), ("ms", 1e9), ("us", 1e6), ("ns", 1e3), ("ps", 1)])


def energy_pj(pj: float) -> str:
    return _scaled(pj, [("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3), ("pJ", 1)])


def nbytes(n: float) -> str:
    return _scaled(n, [("GB", 1e9), ("MB", 1e6), ("kB", 1e3), ("B", 1)])


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain left-aligned text table."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def count(n: float) -> str:
    """1.234e9 -> '1.234G' (operations, parameters)."""
    return _scaled(n, [("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1)]).replace(" ", "")
