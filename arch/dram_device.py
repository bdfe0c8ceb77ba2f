"""DRAM device descriptions: organisation, timing, power, command energies, PIM and controller settings.

A device is written in YAML (the shipped presets are `configs/dram/*.yaml`, each number with its source
beside it) and loaded into a `DramDevice`: every timing an integer number of cycles of the device clock
tCK (an integer number of picoseconds, so cycle -> ps conversions are exact), every size in bytes.
Each parameter is declared once below, with kind, default and help; validation, `loom dram describe`
and the resolved YAML come from these declarations, as for component specs.

Timing names follow the datasheets (and DRAMsim3's configuration files): `CL`, `tRCDRD`, `tCCD_L`, ...
A timing is written as a cycle count (`14`) or as a time (`13.75ns`, rounded up to whole cycles).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from loomsim.arch import units
from loomsim.arch.params import (BOOL, ENERGY, FLOAT, SIZE, STRING, Choice, Count, Kind, Spec, param,
                                 params_of)
from loomsim.arch.units import Cycles, UnitError

# ---- kinds particular to DRAM devices ------------------------------------------------------------


def _parse_cycles(v):
    if isinstance(v, bool):
        raise UnitError(f"{v!r} is not a cycle count or a time.", "a cycle count such as 14, or a time such as '13.75ns'")
    if isinstance(v, int):
        if v < 0:
            raise UnitError(f"{v} is negative.", "a cycle count >= 0")
        return Cycles(v)
    try:
        value = units.parse_time(v)
    except UnitError as exc:
        raise UnitError(str(exc), "a cycle count such as 14, or a time such as '13.75ns'") from None
    if (value.n if isinstance(value, Cycles) else value) < 0:
        raise UnitError(f"{v!r} is negative.", "a non-negative time")
    return value


def _format_cycles(v):
    return v.n if isinstance(v, Cycles) else units.format_time(v)


CYCLES = Kind("cycles", "a cycle count such as 14, or a time such as '13.75ns'", _parse_cycles, _format_cycles, "tCK")


def _unit_number(unit: str, example: str):
    def parse(v):
        if isinstance(v, bool):
            raise UnitError(f"{v!r} is not a number.", f"a number of {unit} such as {example}")
        if isinstance(v, (int, float)):
            number = float(v)
        else:
            text = str(v).strip()
            if not text.endswith(unit):
                raise UnitError(f"cannot read {v!r} in {unit}.", f"a number of {unit} such as {example}")
            try:
                number = float(text[: -len(unit)])
            except ValueError:
                raise UnitError(f"cannot read {v!r} in {unit}.", f"a number of {unit} such as {example}") from None
        if number < 0:
            raise UnitError(f"{v!r} is negative.", f"a non-negative number of {unit}")
        return number
    return parse


VOLTAGE = Kind("voltage", "a voltage such as '1.2V'", _unit_number("V", "'1.2V'"), lambda v: f"{v:g}V", "V")
CURRENT = Kind("current", "a current such as '65mA'", _unit_number("mA", "'65mA'"), lambda v: f"{v:g}mA", "mA")
POWER = Kind("power", "a power such as '120mW'", _unit_number("mW", "'120mW'"), lambda v: f"{v:g}mW", "mW")

MAPPING_FIELDS = ("ch", "ra", "bg", "ba", "ro", "co")
NAMED_MAPPINGS = {
    # DRAMsim3's spellings (configs/*.ini `address_mapping`), most significant field first.
    "rorabgbachco": "ro,ra,bg,ba,ch,co",
    "rochrababgco": "ro,ch,ra,ba,bg,co",
    "chrobabgraco": "ch,ro,ba,bg,ra,co",
    # Ramulator 2's named mappers (src/ramulator/controller/addr_mapper/impl).
    "RoBaRaCoCh": "ro,ba,bg,ra,co,ch",
    "ChRaBaRoCo": "ch,ra,ba,bg,ro,co",
}


def parse_mapping(v) -> str:
    """'ro,ra,bg,ba,ch,co' or a named scheme -> the canonical comma string (most significant first)."""
    expected = ("an ordered field string over ch, ra, bg, ba, ro, co (most significant first), e.g. "
                "'ro,ra,bg,ba,ch,co', or a named scheme: " + ", ".join(NAMED_MAPPINGS))
    if not isinstance(v, str) or not v:
        raise UnitError(f"{v!r} is not an address mapping.", expected)
    text = NAMED_MAPPINGS.get(v, v)
    fields = [f.strip() for f in text.split(",")] if "," in text else [text[i:i + 2] for i in range(0, len(text), 2)]
    unknown = [f for f in fields if f not in MAPPING_FIELDS]
    if unknown:
        raise UnitError(f"address mapping {v!r} has unknown field '{unknown[0]}'.", expected)
    if sorted(fields) != sorted(MAPPING_FIELDS):
        missing = [f for f in MAPPING_FIELDS if f not in fields]
        dup = [f for f in fields if fields.count(f) > 1]
        what = f"lacks {', '.join(missing)}" if missing else f"repeats {dup[0]}"
        raise UnitError(f"address mapping {v!r} {what}.", expected)
    return ",".join(fields)


MAPPING = Kind("mapping", "an address mapping such as 'ro,ra,bg,ba,ch,co'", parse_mapping)

# ---- the sections of a device ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DramOrganisation(Spec):
    """How one device system is built: channels, ranks, bank groups, banks, rows and the data bus."""

    channels: int = param(Count(), help="independent channels (an HBM pseudo-channel counts as one)")
    ranks: int = param(Count(), default=1, help="ranks sharing a channel (HBM: dies/stack IDs sharing it)")
    bankgroups: int = param(Count(), default=1, help="bank groups per rank")
    banks_per_group: int = param(Count(), help="banks per bank group")
    rows: int = param(Count(), help="rows per bank")
    row_size: int = param(SIZE, help="bytes one row holds across the devices of a rank (the page size)")
    bus_width: int = param(Count(), help="data bus width of one channel, in bits")
    device_width: int = param(Count(), default=None, help="data width of one device (x4, x8, ...); default bus_width")
    burst_length: int = param(Count(), help="beats per column access (BL)")
    beats_per_clock: int = param(Count(), default=2, help="data beats per command clock (2: DDR; 8: LPDDR5/GDDR6 WCK)")
    dual_command_bus: bool = param(BOOL, default=False,
                                   help="separate row and column command buses: an ACT/PRE and a RD/WR may share a cycle")
    act_bus_cycles: int = param(Count(), default=1, help="command-bus cycles an ACT occupies (HBM3: 2)")


@dataclass(frozen=True, kw_only=True)
class DramTiming(Spec):
    """Timing constraints in cycles of tCK (or times, rounded up): the datasheet's names."""

    CL: int = param(CYCLES, help="read latency: RD command to first data")
    CWL: int = param(CYCLES, help="write latency: WR command to first data")
    tRCDRD: int = param(CYCLES, help="ACT to RD, same bank")
    tRCDWR: int = param(CYCLES, help="ACT to WR, same bank")
    tRP: int = param(CYCLES, help="PRE to ACT, same bank")
    tRPab: int = param(CYCLES, default=None, help="all-bank PRE (PREA) to ACT; default tRP")
    tRAS: int = param(CYCLES, help="ACT to PRE, same bank")
    tRC: int = param(CYCLES, default=None, help="ACT to ACT, same bank; default tRAS + tRP")
    tWR: int = param(CYCLES, help="write recovery: end of write data to PRE, same bank")
    tRTP_L: int = param(CYCLES, help="RD to PRE, same bank (bank-group mode)")
    tRTP_S: int = param(CYCLES, default=None, help="RD (any bank) to all-bank PRE (PREA), same rank; default tRTP_L")
    tCCD_S: int = param(CYCLES, help="RD to RD (and WR to WR), different bank group")
    tCCD_L: int = param(CYCLES, help="RD to RD (and WR to WR), same bank group")
    tCCD_S_WR: int = param(CYCLES, default=None, help="WR to WR, different bank group, when it differs; default tCCD_S")
    tCCD_L_WR: int = param(CYCLES, default=None, help="WR to WR, same bank group, when it differs; default tCCD_L")
    tRRD_S: int = param(CYCLES, help="ACT to ACT, different bank group, same rank")
    tRRD_L: int = param(CYCLES, help="ACT to ACT, same bank group")
    tFAW: int = param(CYCLES, help="four-activate window: at most 4 ACTs per rank in any tFAW")
    t32AW: int = param(CYCLES, default=0, help="32-activate window (GDDR); 0: none")
    tWTR_S: int = param(CYCLES, help="end of write data to RD, different bank group")
    tWTR_L: int = param(CYCLES, help="end of write data to RD, same bank group")
    tRTRS: int = param(CYCLES, default=None,
                       help="rank-to-rank (and read-to-write) bus turnaround; default 2, DRAMsim3's default")
    tPPD: int = param(CYCLES, default=0, help="PRE to PRE, same rank (GDDR6, LPDDR5, DDR5); 0: none")
    tRFC: int = param(CYCLES, help="all-bank REF to ACT, same rank")
    tREFI: int = param(CYCLES, help="average all-bank refresh interval")
    tRFCpb: int = param(CYCLES, default=None, help="per-bank REF to ACT, same bank; needed for per-bank refresh")
    tREFIpb: int = param(CYCLES, default=None, help="per-bank refresh interval; default tREFI / banks per rank")
    tRREFD: int = param(CYCLES, default=None, help="per-bank REF to REF or ACT of another bank; default tRRD_L")
    tRTW: int = param(CYCLES, default=None, help="RD to WR, same rank, when the source gives it; default CL + tBL - CWL + tRTRS")
    tBL: int = param(CYCLES, default=None, help="data-bus cycles of one burst; default burst_length / beats_per_clock")


@dataclass(frozen=True, kw_only=True)
class DramPower(Spec):
    """Datasheet currents for the Micron power calculation (the model DRAMsim3 implements)."""

    VDD: float = param(VOLTAGE, help="core supply voltage")
    IDD0: float = param(CURRENT, help="one-bank ACT-PRE current")
    IDD2N: float = param(CURRENT, help="precharge standby current")
    IDD3N: float = param(CURRENT, help="active standby current")
    IDD4R: float = param(CURRENT, help="burst read current")
    IDD4W: float = param(CURRENT, help="burst write current")
    IDD5AB: float = param(CURRENT, help="all-bank refresh current")
    IDD5PB: float = param(CURRENT, default=None, help="per-bank refresh current; needed for per-bank refresh energy")


@dataclass(frozen=True, kw_only=True)
class DramCommandEnergy(Spec):
    """Energy per command, for devices characterised that way (AttAcc, Duplex) instead of by IDD."""

    act: float = param(ENERGY, help="pJ per ACT (one bank)")
    pre: float = param(ENERGY, default="0pJ", help="pJ per PRE (often folded into the ACT figure)")
    rd: float = param(ENERGY, help="pJ per RD of one access atom")
    wr: float = param(ENERGY, help="pJ per WR of one access atom")
    ref: float = param(ENERGY, default=None, help="pJ per all-bank REF; unset: not charged (no source)")
    background: float = param(POWER, default="0mW", help="standby power per rank")


@dataclass(frozen=True, kw_only=True)
class DramPim(Spec):
    """Processing-in-memory: which banks compute together, how fast, and what each command costs."""

    mode: str = param(Choice("none", "blocked", "shared", "dual_row_buffer"), default="none",
                      help="none; blocked: memory waits while a PIM bundle runs (Newton, AiM); shared: one row "
                           "buffer, PIM and memory interleave (Duplex's disjoint bank bundles); "
                           "dual_row_buffer: a PIM row buffer beside the memory one (NeuPIMs)")
    family: str = param(STRING, default="bank", help="where the compute sits: bank, bankgroup or logic (informational)")
    act_banks: int = param(Count(), default=4, help="banks one PIM activate opens (Newton's G_ACT: a bank group)")
    unit_banks: int = param(Count(), default=None,
                            help="banks one PIM compute command reads together; default all banks of a channel")
    bytes_per_bank: int = param(SIZE, default="32B", help="bytes each bank reads per compute command")
    macs_per_bank: int = param(Count(), default=16, help="MACs each bank performs per compute command")
    comp_interval: int = param(CYCLES, default=None, help="compute to compute command spacing; default max(tBL, tCCD_S)")
    gwrite_cycles: int = param(CYCLES, default=None,
                               help="cycles a global-buffer write occupies; default (tCCD_S + tCCD_L) x 32 (NewtonSim)")
    readres_delay: int = param(CYCLES, default=None,
                               help="last compute to result read-out (adder-tree drain); default 2 x comp_interval")
    act_to_comp: int = param(CYCLES, default=None,
                             help="PIM activate to compute command, same bank; default tRCDRD (AiM: nRCDRDMAC)")
    readres_latency: int = param(CYCLES, default=None,
                                 help="result read-out command to data; default CL (AiM reads MAC registers: 0)")
    result_bytes_per_bank: int = param(SIZE, default="2B", help="result bytes each bank returns at read-out")
    comp_energy_factor: float = param(FLOAT, default=4.0,
                                      help="compute command energy in RD energies (Newton via NeuPIMs: 4)")
    act_energy_factor: float = param(FLOAT, default=1.0, help="PIM activate energy per bank in ACT energies")
    comp_energy: float = param(ENERGY, default=None, help="pJ per compute command; overrides comp_energy_factor")
    mac_energy: float = param(ENERGY, default="0pJ", help="pJ per MAC when not already in the compute command energy")


@dataclass(frozen=True, kw_only=True)
class DramController(Spec):
    """The memory controller in front of each channel."""

    scheduler: str = param(Choice("frfcfs", "fcfs"), default="frfcfs",
                           help="frfcfs: ready row hits first, then oldest; fcfs: strictly oldest first")
    page_policy: str = param(Choice("open", "closed", "adaptive"), default="open",
                             help="open: keep rows open; closed: auto-precharge unless a queued request hits the row; "
                                  "adaptive: auto-precharge only when queued requests miss the row and none hit it")
    refresh: str = param(Choice("all_bank", "per_bank", "none"), default="all_bank", help="refresh scheme")
    address_mapping: str = param(MAPPING, default="ro,ra,bg,ba,ch,co",
                                 help="address bits to fields, most significant first (or a named scheme)")
    queue: str = param(Choice("shared", "per_bank"), default="shared", help="one request queue per channel, or per bank")
    queue_size: int = param(Count(), default=32, help="entries per queue")


SECTIONS: dict[str, type[Spec]] = {
    "organisation": DramOrganisation, "timing": DramTiming, "power": DramPower, "energy": DramCommandEnergy,
    "pim": DramPim, "controller": DramController,
}


# ---- the resolved device -----------------------------------------------------------------------

@dataclass(frozen=True)
class DramDevice:
    """A fully resolved device: organisation, integer-cycle timings, energies, PIM and controller."""

    name: str
    standard: str
    tck_ps: int
    org: DramOrganisation
    timing: DramTiming            # every field an int number of cycles
    power: DramPower | None
    energy: DramCommandEnergy | None
    pim: DramPim
    controller: DramController
    description: str = ""
    source: str = dataclasses.field(default="", compare=False)

    # ---- organisation, derived ---------------------------------------------------------------
    @property
    def banks_per_rank(self) -> int:
        return self.org.bankgroups * self.org.banks_per_group

    @property
    def banks_per_channel(self) -> int:
        return self.org.ranks * self.banks_per_rank

    @property
    def atom(self) -> int:
        """Bytes one RD or WR moves: bus width x burst length."""
        return self.org.bus_width // 8 * self.org.burst_length

    @property
    def columns(self) -> int:
        """Access atoms in one row."""
        return self.org.row_size // self.atom

    @property
    def devices_per_rank(self) -> int:
        return self.org.bus_width // (self.org.device_width or self.org.bus_width)

    @property
    def capacity(self) -> int:
        return self.org.channels * self.banks_per_channel * self.org.rows * self.org.row_size

    @property
    def peak_bandwidth(self) -> float:
        """Bytes per second over all channels: one atom every tBL cycles."""
        return self.org.channels * self.atom * 1e12 / (self.timing.tBL * self.tck_ps)

    @property
    def clock_hz(self) -> float:
        return 1e12 / self.tck_ps

    def unloaded_read_cycles(self) -> int:
        """ACT -> RD -> last data on a closed bank: tRCDRD + CL + tBL."""
        t = self.timing
        return t.tRCDRD + t.CL + t.tBL

    def describe(self) -> str:
        o = self.org
        return (f"{self.name} ({self.standard}): {o.channels} ch x {o.ranks} rank x {o.bankgroups} bg x "
                f"{o.banks_per_group} banks x {o.rows} rows x {units.format_size(o.row_size)}, "
                f"{self.atom} B per access, tCK {self.tck_ps} ps, "
                f"{self.peak_bandwidth / 1e9:.4g} GB/s peak, {units.format_size(self.capacity)}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "standard": self.standard}
        if self.description:
            out["description"] = self.description
        out["tCK"] = units.format_time(self.tck_ps)
        for key, value in (("organisation", self.org), ("timing", self.timing), ("power", self.power),
                           ("energy", self.energy), ("pim", self.pim), ("controller", self.controller)):
            if value is not None:
                out[key] = value.to_dict()
        # resolved timings are plain cycle counts (the declared kind would print a bare int as picoseconds)
        out["timing"] = {p.key: getattr(self.timing, p.name) for p in params_of(DramTiming)}
        for name in ("comp_interval", "gwrite_cycles", "readres_delay", "act_to_comp", "readres_latency"):
            out["pim"][name] = getattr(self.pim, name)
        return out


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def resolve_timing(raw: DramTiming, org: DramOrganisation, tck_ps: int) -> DramTiming:
    """Every timing as an int number of cycles, with the derived defaults filled in."""
    def cyc(v):
        if v is None:
            return None
        return v.n if isinstance(v, Cycles) else math.ceil(v / tck_ps)
    t = {p.name: cyc(getattr(raw, p.name)) for p in params_of(DramTiming)}
    t["tBL"] = t["tBL"] if t["tBL"] is not None else max(1, org.burst_length // org.beats_per_clock)
    t["tRC"] = t["tRC"] if t["tRC"] is not None else t["tRAS"] + t["tRP"]
    t["tRPab"] = t["tRPab"] if t["tRPab"] is not None else t["tRP"]
    t["tRTP_S"] = t["tRTP_S"] if t["tRTP_S"] is not None else t["tRTP_L"]
    t["tCCD_S_WR"] = t["tCCD_S_WR"] if t["tCCD_S_WR"] is not None else t["tCCD_S"]
    t["tCCD_L_WR"] = t["tCCD_L_WR"] if t["tCCD_L_WR"] is not None else t["tCCD_L"]
    t["tRTRS"] = t["tRTRS"] if t["tRTRS"] is not None else 2   # DRAMsim3 Config::InitTimingParams default
    t["tRREFD"] = t["tRREFD"] if t["tRREFD"] is not None else t["tRRD_L"]
    t["tRTW"] = t["tRTW"] if t["tRTW"] is not None else t["CL"] + t["tBL"] - t["CWL"] + t["tRTRS"]   # DRAMsim3
    if t["tREFIpb"] is None:
        t["tREFIpb"] = t["tREFI"] // (org.bankgroups * org.banks_per_group)
    return DramTiming(**t)


def resolve_pim(raw: DramPim, timing: DramTiming, tck_ps: int) -> DramPim:
    def cyc(v):
        return None if v is None else (v.n if isinstance(v, Cycles) else math.ceil(v / tck_ps))
    interval = cyc(raw.comp_interval)
    interval = interval if interval is not None else max(timing.tBL, timing.tCCD_S)   # NewtonSim comp_to_comp
    gwrite = cyc(raw.gwrite_cycles)
    gwrite = gwrite if gwrite is not None else (timing.tCCD_S + timing.tCCD_L) * 32   # NewtonSim gwrite_delay
    drain = cyc(raw.readres_delay)
    drain = drain if drain is not None else 2 * interval   # NewtonSim: (k + 1) intervals from the first COMP
    act_comp = cyc(raw.act_to_comp)
    act_comp = act_comp if act_comp is not None else timing.tRCDRD     # a compute reads the open row like a RD
    readres = cyc(raw.readres_latency)
    readres = readres if readres is not None else timing.CL           # NewtonSim: the read-out is a RD
    return dataclasses.replace(raw, comp_interval=interval, gwrite_cycles=gwrite, readres_delay=drain,
                               act_to_comp=act_comp, readres_latency=readres)


def check_device(org: DramOrganisation, timing: DramTiming, controller: DramController,
                 pim: DramPim, tck_ps: int, power, energy) -> list[tuple[str, str, str]]:
    """Whole-device consistency problems as (section.key, message, expected)."""
    out = []
    # channels, rows and columns may be any count (the address map is mixed-radix); the engine finds a
    # bank's group and rank by shifting its channel-local index, so the bank counts must be powers of two
    for key in ("ranks", "bankgroups", "banks_per_group"):
        if not _is_pow2(getattr(org, key)):
            out.append((f"organisation.{key}", f"{getattr(org, key)} is not a power of two; the engine locates a "
                        "bank's group and rank by bit shifts of its index in the channel.", "a power of two"))
    atom = org.bus_width // 8 * org.burst_length
    if org.bus_width % 8 or atom == 0:
        out.append(("organisation.bus_width", f"{org.bus_width} bits is not a whole number of bytes.", "a multiple of 8"))
    elif org.row_size % atom:
        out.append(("organisation.row_size", f"{org.row_size} B is not a whole number of {atom}-byte accesses "
                    f"(bus_width / 8 x burst_length).", f"a multiple of {atom} B"))
    if org.device_width is not None and org.bus_width % org.device_width:
        out.append(("organisation.device_width", f"{org.device_width} does not divide the {org.bus_width}-bit bus.",
                    "a divisor of bus_width"))
    if org.ranks * org.bankgroups * org.banks_per_group > 64:
        out.append(("organisation", "more than 64 banks per channel (PIM bank sets are 64-bit masks).",
                    "at most 64 banks per channel"))
    if tck_ps <= 0:
        out.append(("tCK", "the clock period must be positive.", "a time such as '1ns'"))
    if controller.refresh == "per_bank" and timing.tRFCpb is None:
        out.append(("timing.tRFCpb", "per-bank refresh needs tRFCpb.", "tRFCpb: <cycles> (from the datasheet)"))
    if pim.mode != "none" and pim.unit_banks is not None and pim.unit_banks > org.ranks * org.bankgroups * org.banks_per_group:
        out.append(("pim.unit_banks", f"{pim.unit_banks} is more than the banks of a channel.", "at most the banks per channel"))
    return out
