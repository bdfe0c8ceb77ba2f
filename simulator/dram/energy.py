"""DRAM and PIM energy from command counts: the Micron IDD model (as DRAMsim3 computes it) or a pJ table.

IDD model (Micron TN-41-01, as in DRAMsim3 `Config::InitPowerParams`), per command, with tCK in ns so
that V x mA x ns = pJ, and `devices` the devices of a rank:

    ACT (with its PRE)   VDD x (IDD0 x tRC - (IDD3N x tRAS + IDD2N x tRP)) x devices x tCK
    RD / WR              VDD x (IDD4R|W - IDD3N) x tBL x devices x tCK
    REF / REFpb          VDD x (IDD5AB|PB - IDD3N) x tRFC|tRFCpb x devices x tCK
    background / cycle   VDD x IDD3N (some bank open) or IDD2N (all closed) x devices x tCK, per rank

PIM commands follow the NeuPIMs/NewtonSim convention: a PIM activate costs `act_energy_factor` ACTs per
bank it opens (Newton's G_ACT of 4 banks = 4 ACTs), a compute command `comp_energy_factor` RDs (4) or
`comp_energy` pJ, a result read-out one RD per burst, a global-buffer write one RD per access of the
row it copies; MACs cost `mac_energy` each when the compute energy does not already include them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from loomsim.arch.dram_device import DramDevice


@dataclass
class EnergyReport:
    """pJ by action, and notes on what is not charged."""

    pj: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model: str = "none"

    @property
    def total(self) -> float:
        return sum(self.pj.values())


def command_energies(device: DramDevice) -> tuple[dict[str, float], float, float, str]:
    """(pJ per command by name, background pJ per rank-cycle with a bank open, with all closed, model)."""
    t, tck_ns = device.timing, device.tck_ps / 1000
    if device.power is not None:
        p, dev = device.power, device.devices_per_rank
        e = {
            "ACT": p.VDD * (p.IDD0 * t.tRC - (p.IDD3N * t.tRAS + p.IDD2N * t.tRP)) * dev * tck_ns,
            "PRE": 0.0,
            "RD": p.VDD * (p.IDD4R - p.IDD3N) * t.tBL * dev * tck_ns,
            "WR": p.VDD * (p.IDD4W - p.IDD3N) * t.tBL * dev * tck_ns,
            "REF": p.VDD * (p.IDD5AB - p.IDD3N) * t.tRFC * dev * tck_ns,
            "REFPB": (p.VDD * (p.IDD5PB - p.IDD3N) * t.tRFCpb * dev * tck_ns
                      if p.IDD5PB is not None and t.tRFCpb is not None else 0.0),
        }
        return e, p.VDD * p.IDD3N * dev * tck_ns, p.VDD * p.IDD2N * dev * tck_ns, "idd"
    if device.energy is not None:
        q = device.energy
        e = {"ACT": q.act, "PRE": q.pre, "RD": q.rd, "WR": q.wr, "REF": q.ref or 0.0, "REFPB": 0.0}
        bg = q.background * tck_ns                 # mW x ns = pJ per cycle
        return e, bg, bg, "table"
    return {}, 0.0, 0.0, "none"


def energy(device: DramDevice, counts: dict[str, int], pim_act_banks: int, pim_comp_banks: int,
           bg_act_cycles: np.ndarray, bg_pre_cycles: np.ndarray) -> EnergyReport:
    """Energy of a run from its command counts, PIM bank counts and per-rank background cycles."""
    e, bg_act, bg_pre, model = command_energies(device)
    rep = EnergyReport(model=model)
    if model == "none":
        rep.notes.append(f"{device.name} has no energy model (no power: or energy: section with a source).")
        return rep
    rep.pj["act"] = counts["ACT"] * e["ACT"]
    rep.pj["pre"] = (counts["PRE"] + counts["PREA"]) * e["PRE"]
    rep.pj["read"] = (counts["RD"] + counts["RDA"]) * e["RD"]
    rep.pj["write"] = (counts["WR"] + counts["WRA"]) * e["WR"]
    rep.pj["refresh"] = counts["REF"] * e["REF"] + counts["REFPB"] * e["REFPB"]
    rep.pj["background"] = float(np.sum(bg_act_cycles) * bg_act + np.sum(bg_pre_cycles) * bg_pre)
    if model == "table" and device.energy.ref is None and counts["REF"]:
        rep.notes.append(f"{device.name}: refresh energy not charged (its energy table gives no REF figure).")
    if counts["REFPB"] and e["REFPB"] == 0.0:
        rep.notes.append(f"{device.name}: per-bank refresh energy not charged (no IDD5PB or tRFCpb).")
    p = device.pim
    if p.mode != "none":
        comp = p.comp_energy if p.comp_energy is not None else p.comp_energy_factor * e["RD"]
        rep.pj["pim_act"] = pim_act_banks * p.act_energy_factor * e["ACT"]
        rep.pj["pim_comp"] = counts["PIM_COMP"] * comp
        rep.pj["pim_mac"] = pim_comp_banks * p.macs_per_bank * p.mac_energy
        rep.pj["pim_readres"] = counts["PIM_READRES"] * e["RD"]
        rep.pj["pim_gwrite"] = counts["PIM_GWRITE"] * device.columns * e["RD"]
    return rep
