"""Memory component specs: on-chip SRAM and off-chip DRAM, and the links between components."""
from __future__ import annotations

from dataclasses import dataclass

from loomsim.arch.dram_device import MAPPING
from loomsim.arch.params import (BANDWIDTH, ENERGY, ENERGY_PER_BIT, FREQUENCY, SIZE, STRING, TIME, Choice, Count, Kind,
                                 param, params_of)
from loomsim.arch.registry import ComponentSpec, register
from loomsim.arch.units import Cycles, UnitError

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


def _preset(v):
    from loomsim.arch.dram_presets import check_preset_name
    if not isinstance(v, str) or not v:
        raise UnitError(f"{v!r} is not a preset name.", "a DRAM preset name or a device YAML path")
    return check_preset_name(v)


def _overrides(section: str):
    def parse(v):
        from loomsim.arch.dram_presets import parse_overrides
        return parse_overrides(section, v)
    return Kind("mapping", f"a mapping of {section} parameters (see `loom dram describe`)", parse,
                lambda d: {k: _format_override(section, k, x) for k, x in d.items()})


def _format_override(section, name, value):
    from loomsim.arch.dram_device import SECTIONS
    return next(p for p in params_of(SECTIONS[section]) if p.name == name).kind.format(value)


PRESET = Kind("preset", "a DRAM preset name (loom dram presets) or a device YAML path", _preset)


@register("dram")
@dataclass(frozen=True, kw_only=True)
class DramSpec(ComponentSpec):
    """Off-chip DRAM: a cycle-level device (`preset:`) or, without one, peak bandwidth plus a latency.

    With a preset, every DRAM command is simulated by the cycle-level engine (loomsim.simulator.dram);
    bandwidth, latency and capacity are derived from the device. Without one (a named simplification:
    no banks, rows or refresh), transfers share the peak bandwidth in order and pay the latency once.
    """

    preset: str = param(PRESET, default=None, help="DRAM device preset or device YAML; omit for bandwidth+latency")
    channels: int = param(Count(), default=None,
                          help="channels; with a preset overrides its count, without one the address space "
                               "interleaves over them (default 1)")
    bandwidth: float = param(BANDWIDTH, default=None, help="peak bandwidth over all channels (derived with a preset)")
    latency: int = param(TIME, default=None, help="unloaded read latency, request to data (derived with a preset)")
    capacity: int = param(SIZE, default=None, help="capacity (derived with a preset, informational without)")
    clock: int = param(FREQUENCY, default=None, help="clock for latencies given in cycles; inherits when omitted")
    scheduler: str = param(Choice("frfcfs", "fcfs"), default=None, help="controller scheduler; default the preset's")
    page_policy: str = param(Choice("open", "closed", "adaptive"), default=None, help="row policy; default the preset's")
    refresh: str = param(Choice("all_bank", "per_bank", "none"), default=None, help="refresh; default the preset's")
    address_mapping: str = param(MAPPING, default=None, help="address fields, most significant first; default the preset's")
    queue_size: int = param(Count(), default=None, help="controller queue entries; default the preset's")
    pim_mode: str = param(Choice("none", "blocked", "shared", "dual_row_buffer"), default=None,
                          help="PIM row-buffer mode; default the preset's")
    timing: dict = param(_overrides("timing"), default=None, help="timing overrides, e.g. {tRCDRD: 16, tFAW: 20ns}")
    organisation: dict = param(_overrides("organisation"), default=None,
                               help="organisation overrides other than channels, e.g. {ranks: 1}")
    read_energy_per_bit: float = param(ENERGY_PER_BIT, default=None,
                                       help="pJ per bit read when the device has no energy model; default dram.read")
    write_energy_per_bit: float = param(ENERGY_PER_BIT, default=None,
                                        help="pJ per bit written when the device has no energy model; default dram.write")

    def latency_ps(self) -> int:
        return self.latency.to_ps(self.clock) if isinstance(self.latency, Cycles) else self.latency

    @property
    def cycle_level(self) -> bool:
        return self.preset is not None

    def overrides(self) -> dict[str, dict]:
        """The device overrides this component makes, as {section: {parameter: value}}."""
        org = dict(self.organisation or {})
        if self.channels is not None:
            org["channels"] = self.channels
        ctl = {k: getattr(self, k) for k in ("scheduler", "page_policy", "refresh", "address_mapping", "queue_size")
               if getattr(self, k) is not None}
        out = {"organisation": org, "timing": dict(self.timing or {}), "controller": ctl}
        if self.pim_mode is not None:
            out["pim"] = {"mode": self.pim_mode}
        return {k: v for k, v in out.items() if v}

    def device(self):
        """The resolved `DramDevice` (preset plus this component's overrides)."""
        from loomsim.arch.dram_presets import device_files, load_device
        # keyed by the device files' contents too: an edited file is a different device
        key = (self.preset, repr(sorted((k, sorted(v.items())) for k, v in self.overrides().items())),
               tuple(p.read_bytes() for p in device_files(self.preset)))
        if key not in _DEVICES:
            _DEVICES[key] = load_device(self.preset, self.overrides(), where=f"component '{self.name}'", parsed=True)
        return _DEVICES[key]

    def hashed_content(self) -> dict | None:
        """What a result depends on beyond this spec's own values: the resolved device (every organisation,
        timing, power, energy, PIM and controller value of the preset file, its bases and the overrides)."""
        return self.device().to_dict() if self.cycle_level else None

    def resolve(self, arch_clock_hz, energy):
        out = {}
        if self.clock is None:
            out["clock"] = arch_clock_hz
        if self.read_energy_per_bit is None:
            out["read_energy_per_bit"] = energy["dram.read"]
        if self.write_energy_per_bit is None:
            out["write_energy_per_bit"] = energy["dram.write"]
        if self.preset is None:
            if self.channels is None:
                out["channels"] = 1
            return out
        d = self.device()
        derived = {"channels": d.org.channels, "bandwidth": d.peak_bandwidth,
                   "latency": d.unloaded_read_cycles() * d.tck_ps, "capacity": d.capacity,
                   "scheduler": d.controller.scheduler, "page_policy": d.controller.page_policy,
                   "refresh": d.controller.refresh, "address_mapping": d.controller.address_mapping,
                   "queue_size": d.controller.queue_size, "pim_mode": d.pim.mode}
        for key, value in derived.items():
            if getattr(self, key) is None:
                out[key] = value
        return out

    def check(self) -> list[tuple[str, str, str]]:
        """Problems the declarations cannot see: (key, message, expected)."""
        if self.preset is None:
            return [(k, f"missing required key '{k}' for a dram without a preset.",
                     f"{k}: {kind} (or preset: HBM2 and the like)")
                    for k, kind in (("bandwidth", "a bandwidth such as '32GB/s'"), ("latency", "a time such as '30ns'"))
                    if getattr(self, k) is None]
        out = []
        if self.organisation and "channels" in self.organisation:
            out.append(("organisation", "channels is given twice; give it once, as the component's channels.",
                        "channels: N beside preset:"))
        d = self.device()
        for key, value, fmt in (("bandwidth", d.peak_bandwidth, BANDWIDTH), ("capacity", d.capacity, SIZE),
                                ("latency", d.unloaded_read_cycles() * d.tck_ps, TIME)):
            mine = getattr(self, key)
            if isinstance(mine, Cycles):
                mine = mine.to_ps(self.clock) if self.clock else mine
            if mine is not None and mine != value and not (isinstance(value, float) and abs(mine - value) < 1e-6 * value):
                out.append((key, f"{key} {fmt.format(mine)} disagrees with preset {self.preset}, which gives "
                                 f"{fmt.format(value)}.", f"no {key} (it is derived from the preset), or {fmt.format(value)}"))
        return out


_DEVICES: dict = {}


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
