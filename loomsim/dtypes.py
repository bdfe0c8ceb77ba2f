"""Data types shared by architectures (what a unit computes in) and workloads (what a tensor holds).

Besides the plain formats, a per-group quantized weight format is written `<format>-g<group>`: each
group of `group` weights shares metadata (a scale, and for BitMoD a data-type selector) whose bits are
counted in the bits per weight. `int4-g128` is 4 bits plus an fp16 scale per 128 weights
(4.125 bits); BitMoD's mixed formats `bitmod-fp3` and `bitmod-fp4` are 3 or 4 bits plus 8 bits of
metadata per group of 128, the figures BitMoD's own simulator charges (3.0625 and 4.0625 bits;
abdelfattah-lab/BitMoD-HPCA-25 bitmod_sim/test_bitmod.py, /work/shared/reference/sn40l-bitmod-marl-peers.md
§2.1). Value grids for quantising live in `loomsim.workloads.quant`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class DType:
    """A number format: its name and storage bits per element (fractional once group metadata counts)."""

    name: str
    bits: Fraction
    is_float: bool
    group: int = 0              # weights sharing one set of metadata (0: not group-quantized)
    meta_bits: int = 0          # metadata bits per group

    def nbytes(self, elements: int) -> int:
        """Bytes to store `elements` values, rounded up to a whole byte."""
        total = self.bits * elements
        return int(-((-total.numerator) // (total.denominator * 8)))


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

# element formats a group-quantized type may use: bits per element, float-like, metadata bits per group
QUANT_BASES: dict[str, tuple[int, bool, int]] = {
    "int8": (8, False, 16),        # symmetric integer with an fp16 scale per group
    "int4": (4, False, 16),
    "int3": (3, False, 16),
    "fp4": (4, True, 16),          # E2M1 with an fp16 scale per group
    "fp3": (3, True, 16),
    "bitmod-fp4": (4, True, 8),    # BitMoD: FP4 plus one special value, 8 metadata bits per group
    "bitmod-fp3": (3, True, 8),
}
BITMOD_GROUP = 128
_GROUPED = re.compile(r"^(?P<base>[a-z0-9-]+?)-g(?P<group>\d+)$")


def dtype(name: str) -> DType:
    """A data type by name: a plain format, `<format>-g<group>`, or `bitmod-fp3`/`bitmod-fp4` (group 128)."""
    from loomsim.errors import LoomError, choices_text, closest

    if name in DTYPES:
        return DTYPES[name]
    m = _GROUPED.match(str(name))
    base, group = (m.group("base"), int(m.group("group"))) if m else (name, BITMOD_GROUP)
    if base in QUANT_BASES and (m or base.startswith("bitmod")) and group > 0:
        bits, is_float, meta = QUANT_BASES[base]
        full = f"{base}-g{group}" if m else base
        return DType(full, Fraction(bits) + Fraction(meta, group), is_float, group, meta)
    valid = list(DTYPES) + [f"{b}-g128" for b in QUANT_BASES] + ["bitmod-fp3", "bitmod-fp4"]
    hint = closest(str(name), valid)
    raise LoomError(f"unknown data type {name!r}; valid types: {choices_text(valid)} (any group size: "
                    f"<format>-g<N>)" + (f". Did you mean '{hint}'?" if hint else "."))
