"""Compute component specs: the systolic array and the vector unit."""
from __future__ import annotations

from dataclasses import dataclass

from loomsim.arch.params import FREQUENCY, Choice, Count, param
from loomsim.arch.registry import ComponentSpec, register
from loomsim.dtypes import DTYPE_NAMES

CLOCK_HELP = "clock; inherits the architecture's top-level clock when omitted"


@register("systolic_array")
@dataclass(frozen=True, kw_only=True)
class SystolicArraySpec(ComponentSpec):
    """A 2-D array of multiply-accumulate PEs with nearest-neighbour links (a TPU MXU)."""

    rows: int = param(Count(), help="PE rows (the reduction rank k under ws and is; output rows m under os)")
    cols: int = param(Count(), help="PE columns (output columns n under ws and os; m under is)")
    dataflow: str = param(Choice("ws", "os", "is"), default="ws",
                          help="which operand stays in the PEs: ws weights, os outputs, is inputs")
    fold_pipelining: str = param(Choice("none", "double_buffered"), default="none",
                                 help="none: folds back to back; double_buffered: a second bank of stationary "
                                      "registers, a fold boundary costs max(stream, preload or drain) "
                                      "(simulator/systolic.py)")
    clock: int = param(FREQUENCY, default=None, help=CLOCK_HELP)
    dtype: str = param(Choice(*DTYPE_NAMES), default="bf16", help="operand data type; picks the mac.<dtype> energy")
    count: int = param(Count(), default=1, help="identical arrays sharing the same memories (a mapper may split a "
                                                "tile across them)")

    @property
    def pes(self) -> int:
        """PEs over all `count` arrays."""
        return self.rows * self.cols * self.count

    def energy_keys(self) -> tuple[str, ...]:
        return (f"mac.{self.dtype}",)

    def resolve(self, arch_clock_hz, energy):
        return {"clock": arch_clock_hz} if self.clock is None else {}


@register("vector_unit")
@dataclass(frozen=True, kw_only=True)
class VectorUnitSpec(ComponentSpec):
    """A SIMD unit for element-wise and reduction work (softmax, norms, activations)."""

    lanes: int = param(Count(), help="parallel lanes")
    ops_per_cycle: int = param(Count(), default=1, help="operations each lane completes per cycle")
    clock: int = param(FREQUENCY, default=None, help=CLOCK_HELP)
    dtype: str = param(Choice(*DTYPE_NAMES), default="fp32", help="arithmetic data type; picks vector.<dtype> energy")
    count: int = param(Count(), default=1, help="identical units sharing the same memories (a mapper may split a "
                                                "tile across them)")

    def resolve(self, arch_clock_hz, energy):
        return {"clock": arch_clock_hz} if self.clock is None else {}
