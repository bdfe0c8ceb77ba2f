"""Data types shared by architectures (what a unit computes in) and workloads (what a tensor holds)."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class DType:
    """A number format: its name and storage bits per element (fractional once scales are counted)."""

    name: str
    bits: Fraction
    is_float: bool

    def nbytes(self, elements: int) -> int:
        """Bytes to store `elements` values, rounded up to a whole byte."""
        total = self.bits * elements
        return int(-((-total.numerator * 1) // (total.denominator * 8)))


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("fp32", Fraction(32), True),
        DType("bf16", Fraction(16), True),
        DType("fp16", Fraction(16), True),
        DType("fp8", Fraction(8), True),
        DType("int8", Fraction(8), False),
        DType("int4", Fraction(4), False),
        DType("int32", Fraction(32), False),   # index tensors (gathers, scatters, token ids)
    )
}
DTYPE_NAMES = tuple(DTYPES)


def dtype(name: str) -> DType:
    from loomsim.errors import LoomError, closest, choices_text

    try:
        return DTYPES[name]
    except KeyError:
        hint = closest(name, DTYPES)
        raise LoomError(f"unknown data type {name!r}; valid types: {choices_text(DTYPES)}"
                        + (f". Did you mean '{hint}'?" if hint else ".")) from None
