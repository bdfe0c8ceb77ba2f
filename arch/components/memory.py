"""Memory component specs: on-chip SRAM and off-chip DRAM, and the links between components."""
from __future__ import annotations

from dataclasses import dataclass

from loomsim.arch.params import (BANDWIDTH, ENERGY, ENERGY_PER_BIT, FREQUENCY, SIZE, STRING, TIME, Count,
                                 param)
from loomsim.arch.registry import ComponentSpec, register
from loomsim.arch.units import Cycles

CLOCK_HELP = "clock; inherits the architecture's top-level clock when omitted"


@register("sram")
@dataclass(frozen=True, kw_only=True)
class SramSpec(ComponentSpec):
    """A banked on-chip scratchpad; every bank moves one port-width word per cycle."""

    capacity: int = param(SIZE, help="total capacity over all banks")
    banks: int = param(Count(), default=1, help="independent banks, each with one port")
    port_width: int = param(SIZE, default="64B", help="bytes one bank reads or writes per cycle")
    clock: int = param(FREQUENCY, default=None, help=CLOCK_HELP)
    read_energy: float = param(ENERGY, default=None,
                               help="pJ per port-width read; default: the sram.read energy entry x port bits")
    write_energy: float = param(ENERGY, default=None,
                                help="pJ per port-width write; default: the sram.write energy entry x port bits")

    @property
    def bytes_per_cycle(self) -> int:
        return self.banks * self.port_width

    def resolve(self, arch_clock_hz, energy):
        out = {}
        if self.clock is None:
            out["clock"] = arch_clock_hz
        bits = self.port_width * 8
        if self.read_energy is None:
            out["read_energy"] = energy["sram.read"] * bits
        if self.write_energy is None:
            out["write_energy"] = energy["sram.write"] * bits
        return out


@register("dram")
@dataclass(frozen=True, kw_only=True)
class DramSpec(ComponentSpec):
    """Off-chip DRAM seen as channels of peak bandwidth and an unloaded access latency.

    Simplification (named): no banks, rows or refresh here; transfers share the peak bandwidth in
    order and each pays the unloaded latency once. The cycle-level engine replaces this inside.
    """

    channels: int = param(Count(), default=1, help="independent channels the address space interleaves over")
    bandwidth: float = param(BANDWIDTH, help="peak bandwidth summed over all channels")
    latency: int = param(TIME, help="unloaded read latency, from request to first data")
    capacity: int = param(SIZE, default=None, help="capacity (informational until the DRAM engine lands)")
    clock: int = param(FREQUENCY, default=None, help="clock for latencies given in cycles; inherits when omitted")
    read_energy_per_bit: float = param(ENERGY_PER_BIT, default=None, help="pJ per bit read; default: dram.read entry")
    write_energy_per_bit: float = param(ENERGY_PER_BIT, default=None,
                                        help="pJ per bit written; default: dram.write entry")

    def latency_ps(self) -> int:
        return self.latency.to_ps(self.clock) if isinstance(self.latency, Cycles) else self.latency

    def resolve(self, arch_clock_hz, energy):
        out = {}
        if self.clock is None:
            out["clock"] = arch_clock_hz
        if self.read_energy_per_bit is None:
            out["read_energy_per_bit"] = energy["dram.read"]
        if self.write_energy_per_bit is None:
            out["write_energy_per_bit"] = energy["dram.write"]
        return out


@register("link")
@dataclass(frozen=True, kw_only=True)
class LinkSpec(ComponentSpec):
    """A data path between two components (DMA over it moves bytes from one to the other)."""

    src: str = param(STRING, key="from", help="component the link starts at")
    dst: str = param(STRING, key="to", help="component the link ends at")
    bandwidth: float = param(BANDWIDTH, help="peak bandwidth of the link")
    latency: int = param(TIME, default="0ns", help="added latency per transfer")
    clock: int = param(FREQUENCY, default=None, help="clock for a latency in cycles; inherits when omitted")
    energy_per_bit: float = param(ENERGY_PER_BIT, default=None, help="pJ per bit moved; default: the link entry")

    def latency_ps(self) -> int:
        return self.latency.to_ps(self.clock) if isinstance(self.latency, Cycles) else self.latency

    def resolve(self, arch_clock_hz, energy):
        out = {}
        if self.clock is None:
            out["clock"] = arch_clock_hz
        if self.energy_per_bit is None:
            out["energy_per_bit"] = energy["link"]
        return out
