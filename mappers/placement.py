"""Placement: which compute unit runs each Einsum of a cascade, chosen by a named policy.

A policy is a function (arch, cascade, einsum) -> unit name, registered with `@policy("name")`.
Design issues add their own (a PIM unit for low-intensity GEMVs, a 1-D array for softmax); the
mapper only calls `place`.
"""
from __future__ import annotations

from typing import Callable

from loomsim.arch import ArchSpec
from loomsim.errors import LoomError, choices_text, closest
from loomsim.mappers.problem import EinsumProblem
from loomsim.workloads import Cascade, Einsum

_POLICIES: dict[str, Callable] = {}
COMPUTE_TYPES = ("systolic_array", "vector_unit")


def policy(name: str):
    def deco(fn):
        if name in _POLICIES:
            raise RuntimeError(f"placement policy {name!r} registered twice")
        _POLICIES[name] = fn
        return fn
    return deco


def policies() -> dict[str, Callable]:
    return dict(sorted(_POLICIES.items()))


def _units(arch: ArchSpec, type_name: str) -> list[str]:
    return [c.name for c in arch.components if c.type_name == type_name]


@policy("by-kind")
def by_kind(arch: ArchSpec, cascade: Cascade, e: Einsum, **_) -> str:
    """Products of two tensors reduced by sum (GEMM-shaped) on the first systolic array; everything else on
    the first vector unit (falling back to whichever kind the architecture has)."""
    p = EinsumProblem.from_einsum(cascade, e)
    arrays, vectors = _units(arch, "systolic_array"), _units(arch, "vector_unit")
    if p.gemm_shaped() is None and arrays:
        return arrays[0]
    if vectors:
        return vectors[0]
    if arrays and p.gemm_shaped() is not None:
        raise LoomError(f"'{e}' cannot run on a systolic array ({p.gemm_shaped()}) and architecture '{arch.name}' "
                        "has no vector_unit.")
    raise LoomError(f"architecture '{arch.name}' has no compute unit for '{e}'.")


@policy("by-intensity")
def by_intensity(arch: ArchSpec, cascade: Cascade, e: Einsum, threshold: float = 16.0, **_) -> str:
    """GEMM-shaped Einsums whose operational intensity (FLOPs per compulsory byte) reaches `threshold` on the
    systolic array; lower-intensity ones (a decode GEMV) on the vector unit, where the array would idle."""
    counts = cascade.counts(e)
    vectors = _units(arch, "vector_unit")
    if counts.intensity < threshold and vectors:
        return vectors[0]
    return by_kind(arch, cascade, e)


def place(arch: ArchSpec, cascade: Cascade, name: str = "by-kind", **options) -> dict[str, str]:
    """{output tensor of each Einsum: unit name} by the named policy."""
    if name not in _POLICIES:
        hint = closest(name, _POLICIES)
        raise LoomError(f"unknown placement policy '{name}'; valid: {choices_text(_POLICIES)}."
                        + (f" Did you mean '{hint}'?" if hint else ""))
    return {e.output.tensor: _POLICIES[name](arch, cascade, e, **options) for e in cascade.einsums}
