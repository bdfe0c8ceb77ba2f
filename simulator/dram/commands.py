"""DRAM and PIM commands, and the timing rules between them, compiled into tables the engines read.

Each rule reads like the datasheet: "ACT to RD, same bank, >= tRCDRD". A rule has a scope that says
which banks it binds, relative to the bank the earlier command went to:

    BANK         the same bank
    BANKGROUP    every bank of the same bank group (the same bank included)
    RANK         every bank of the same rank
    CHANNEL      every bank of the channel (command and data buses)
    OTHER_RANKS  every bank of the other ranks of the channel (rank-to-rank turnaround)

A command that covers several banks (PREA, REF, the PIM commands) applies its rules once per bank it
covers. Rules of a wider scope never need to exclude the narrower one: when a same-bank latency is
larger (tRC against tRRD_L), it is the larger that binds, as the datasheets intend. The one exception,
rank switching, has its own OTHER_RANKS scope.

The four-activate window (tFAW) and the 32-activate window (t32AW) are not pairwise rules; the engines
keep the recent activation times of each rank instead (see `windows`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loomsim.arch.dram_device import DramDevice

# ---- commands (the codes both engines and the command log use) -----------------------------------
ACT, PRE, PREA, RD, WR, RDA, WRA, REF, REFPB, PACT, PCOMP, PPRE, GWRITE, READRES = range(14)
NCMD = 14
NAMES = ("ACT", "PRE", "PREA", "RD", "WR", "RDA", "WRA", "REF", "REFPB",
         "PIM_ACT", "PIM_COMP", "PIM_PRE", "PIM_GWRITE", "PIM_READRES")
ROW_COMMANDS = (ACT, PRE, PREA, REF, REFPB, PACT, PPRE)
COLUMN_COMMANDS = (RD, WR, RDA, WRA, PCOMP, GWRITE, READRES)
PIM_COMMANDS = (PACT, PCOMP, PPRE, GWRITE, READRES)

BANK, BANKGROUP, RANK, CHANNEL, OTHER_RANKS = range(5)
NSCOPE = 5
SCOPE_NAMES = ("bank", "bankgroup", "rank", "channel", "other ranks")

# PIM modes and controller choices as the engines see them
PIM_NONE, PIM_BLOCKED, PIM_SHARED, PIM_DUAL = range(4)
PIM_MODES = {"none": PIM_NONE, "blocked": PIM_BLOCKED, "shared": PIM_SHARED, "dual_row_buffer": PIM_DUAL}

_RDS = (RD, RDA)
_WRS = (WR, WRA)
_ACTS = (ACT, PACT)


@dataclass(frozen=True)
class Rule:
    """`following` may not issue until `latency` cycles after `preceding`, within `scope`."""

    name: str
    scope: int
    preceding: tuple[int, ...]
    following: tuple[int, ...]
    latency: int

    def __str__(self) -> str:
        prev = "/".join(NAMES[c] for c in self.preceding)
        foll = "/".join(NAMES[c] for c in self.following)
        return f"{prev} -> {foll} ({SCOPE_NAMES[self.scope]}) >= {self.latency}: {self.name}"


def _adder(out: list[Rule]):
    """r(name, scope, preceding, following, latency): append a rule; a zero latency constrains nothing."""
    def r(name, scope, prev, foll, latency):
        if latency > 0:
            out.append(Rule(name, scope, tuple(prev), tuple(foll), int(latency)))
    return r


def rules(device: DramDevice) -> list[Rule]:
    """Every pairwise timing rule of the device, memory and PIM, for its PIM mode."""
    t, o = device.timing, device.org
    BL = t.tBL
    rd_rd_l, rd_rd_s = max(BL, t.tCCD_L), max(BL, t.tCCD_S)
    wr_wr_l, wr_wr_s = max(BL, t.tCCD_L_WR), max(BL, t.tCCD_S_WR)
    rd_wr = t.tRTW
    wr_rd_l, wr_rd_s = t.CWL + BL + t.tWTR_L, t.CWL + BL + t.tWTR_S
    wr_pre = t.CWL + BL + t.tWR
    out: list[Rule] = []
    r = _adder(out)

    # -- command buses: one command per bus per cycle; an ACT may take several bus cycles (HBM3)
    rows, cols = ROW_COMMANDS, COLUMN_COMMANDS
    if o.dual_command_bus:
        r("one row command per cycle", CHANNEL, rows, rows, 1)
        r("one column command per cycle", CHANNEL, cols, cols, 1)
        r("ACT occupies the row command bus", CHANNEL, _ACTS, rows, o.act_bus_cycles)
    else:
        r("one command per cycle", CHANNEL, rows + cols, rows + cols, 1)
        r("ACT occupies the command bus", CHANNEL, _ACTS, rows + cols, o.act_bus_cycles)
    # -- data bus: one burst at a time; rank-to-rank switches add tRTRS
    r("data bus busy for a burst (tBL)", CHANNEL, _RDS + (READRES,), _RDS + (READRES,), BL)
    r("data bus busy for a burst (tBL)", CHANNEL, _WRS, _WRS, BL)
    r("RD to RD, other rank: tBL + tRTRS", OTHER_RANKS, _RDS + (READRES,), _RDS + (READRES,), BL + t.tRTRS)
    r("RD to WR, other rank: tRTW", OTHER_RANKS, _RDS + (READRES,), _WRS, rd_wr)
    r("WR to RD, other rank: CWL + tBL + tRTRS - CL", OTHER_RANKS, _WRS, _RDS + (READRES,), t.CWL + BL + t.tRTRS - t.CL)
    # -- column to column (tCCD, turnarounds)
    r("RD to RD, same bank group: tCCD_L", BANKGROUP, _RDS, _RDS, rd_rd_l)
    r("RD to RD, same rank: tCCD_S", RANK, _RDS + (READRES, PCOMP), _RDS + (READRES,), rd_rd_s)
    r("WR to WR, same bank group: tCCD_L_WR", BANKGROUP, _WRS, _WRS, wr_wr_l)
    r("WR to WR, same rank: tCCD_S_WR", RANK, _WRS, _WRS, wr_wr_s)
    r("RD to WR, same rank: tRTW", RANK, _RDS + (READRES, PCOMP), _WRS, rd_wr)
    r("WR to RD, same bank group: CWL + tBL + tWTR_L", BANKGROUP, _WRS, _RDS, wr_rd_l)
    r("WR to RD, same rank: CWL + tBL + tWTR_S", RANK, _WRS, _RDS + (READRES,), wr_rd_s)
    # -- row commands (same bank)
    r("ACT to ACT, same bank: tRC", BANK, (ACT,), (ACT,), t.tRC)
    r("ACT to RD, same bank: tRCDRD", BANK, (ACT,), _RDS + (GWRITE,), t.tRCDRD)
    r("ACT to WR, same bank: tRCDWR", BANK, (ACT,), _WRS, t.tRCDWR)
    r("ACT to PRE, same bank: tRAS", BANK, (ACT,), (PRE,), t.tRAS)
    r("PRE to ACT, same bank: tRP", BANK, (PRE,), (ACT,), t.tRP)
    r("RD to PRE, same bank: tRTP_L", BANK, (RD,), (PRE,), t.tRTP_L)
    r("WR to PRE, same bank: CWL + tBL + tWR", BANK, (WR,), (PRE,), wr_pre)
    r("RDA to ACT, same bank: tRTP_L + tRP", BANK, (RDA,), (ACT, PACT, REFPB), t.tRTP_L + t.tRP)
    r("WRA to ACT, same bank: CWL + tBL + tWR + tRP", BANK, (WRA,), (ACT, PACT, REFPB), wr_pre + t.tRP)
    # -- activations across banks (tFAW is kept apart, see `windows`)
    r("ACT to ACT, same bank group: tRRD_L", BANKGROUP, _ACTS, _ACTS, t.tRRD_L)
    r("ACT to ACT, same rank: tRRD_S", RANK, _ACTS, _ACTS, t.tRRD_S)
    r("PRE to PRE, same rank: tPPD", RANK, (PRE, PREA, PPRE), (PRE, PREA, PPRE), t.tPPD)
    # -- all-bank precharge (rank)
    r("ACT to PREA, same rank: tRAS", RANK, _ACTS, (PREA,), t.tRAS)
    r("RD to PREA, same rank: tRTP_S", RANK, (RD,), (PREA,), t.tRTP_S)
    r("WR to PREA, same rank: CWL + tBL + tWR", RANK, (WR,), (PREA,), wr_pre)
    r("PREA to ACT, same rank: tRPab", RANK, (PREA,), _ACTS, t.tRPab)
    # -- refresh
    r("ACT to REF, same rank: tRC", RANK, _ACTS, (REF,), t.tRC)
    r("PRE to REF, same rank: tRP", RANK, (PRE, PPRE), (REF,), t.tRP)
    r("PREA to REF, same rank: tRPab", RANK, (PREA,), (REF,), t.tRPab)
    r("RDA to REF, same bank: tRTP_L + tRP", BANK, (RDA,), (REF,), t.tRTP_L + t.tRP)
    r("WRA to REF, same bank: CWL + tBL + tWR + tRP", BANK, (WRA,), (REF,), wr_pre + t.tRP)
    r("REF to ACT, same rank: tRFC", RANK, (REF,), _ACTS + (REF, REFPB, PREA, PRE), t.tRFC)
    if t.tRFCpb is not None:
        r("ACT to REFpb, same bank: tRC", BANK, _ACTS, (REFPB,), t.tRC)
        r("ACT to REFpb, same rank: tRRD_S", RANK, _ACTS, (REFPB,), t.tRRD_S)
        r("PRE to REFpb, same bank: tRP", BANK, (PRE, PPRE), (REFPB,), t.tRP)
        r("PREA to REFpb, same rank: tRPab", RANK, (PREA,), (REFPB,), t.tRPab)
        r("REFpb to ACT, same bank: tRFCpb", BANK, (REFPB,), _ACTS + (REFPB,), t.tRFCpb)
        r("REFpb to REFpb or ACT, same rank: tRREFD", RANK, (REFPB,), _ACTS + (REFPB,), t.tRREFD)
        r("REFpb to REF, same rank: tRFCpb", RANK, (REFPB,), (REF,), t.tRFCpb)
    out += pim_rules(device, rd_rd_l, rd_rd_s, wr_rd_l, wr_rd_s, rd_wr)
    return out


def pim_rules(device: DramDevice, rd_rd_l, rd_rd_s, wr_rd_l, wr_rd_s, rd_wr) -> list[Rule]:
    """Rules of the PIM commands; the values follow NewtonSim's `timing.cc` (NeuPIMs) for both modes.

    With one row buffer (blocked, shared) a PIM activate is an activate of the bank's only row buffer, so
    it keeps every ACT rule; a compute command reads through the bank's column path like a RD. With dual
    row buffers, memory and PIM rows are apart: same-bank ACT <-> PIM_ACT needs only tRRD_L and column
    accesses do not delay PIM compute (NewtonSim sets read/write -> COMP and COMP -> PRE to 0).
    """
    p, t = device.pim, device.timing
    if PIM_MODES[p.mode] == PIM_NONE:
        return []
    dual = PIM_MODES[p.mode] == PIM_DUAL
    out: list[Rule] = []
    r = _adder(out)

    r("PIM_ACT to PIM_ACT, same bank: tRC", BANK, (PACT,), (PACT,), t.tRC)
    r("PIM_ACT to PIM_COMP, same bank: tRCDRD (or pim.act_to_comp)", BANK, (PACT,), (PCOMP,), p.act_to_comp)
    r("PIM_ACT to PIM_PRE, same bank: tRAS", BANK, (PACT,), (PPRE,), t.tRAS)
    r("PIM_PRE to PIM_ACT, same bank: tRP", BANK, (PPRE,), (PACT,), t.tRP)
    r("PIM_COMP to PIM_PRE, same bank: tRTP_L", BANK, (PCOMP,), (PPRE,), t.tRTP_L)
    r("PIM_COMP to PIM_COMP: the compute interval", CHANNEL, (PCOMP,), (PCOMP,), p.comp_interval)
    r("PIM_COMP to PIM_READRES: adder-tree drain", CHANNEL, (PCOMP,), (READRES,), p.readres_delay)
    r("PIM_READRES to PIM_COMP, same rank: tCCD_S", RANK, (READRES,), (PCOMP, GWRITE), rd_rd_s)
    r("PIM_GWRITE to RD/WR/PRE, same bank: the global-buffer write", BANK, (GWRITE,), _RDS + _WRS + (PRE,),
      p.gwrite_cycles)
    r("PIM_GWRITE to PIM compute and read-out", CHANNEL, (GWRITE,), (GWRITE, PCOMP, READRES), p.gwrite_cycles)
    r("PIM_GWRITE to RD, same bank group: tCCD_L", BANKGROUP, (GWRITE,), _RDS, rd_rd_l)
    r("PIM_GWRITE to RD, same rank: tCCD_S", RANK, (GWRITE,), _RDS, rd_rd_s)
    r("PIM_GWRITE to WR, same rank: tRTW", RANK, (GWRITE,), _WRS, rd_wr)
    r("RD to PIM_GWRITE, same bank group: tCCD_L", BANKGROUP, _RDS + (PCOMP,), (GWRITE,), rd_rd_l)
    r("WR to PIM_GWRITE, same bank group: CWL + tBL + tWTR_L", BANKGROUP, _WRS, (GWRITE,), wr_rd_l)
    r("RD to PIM_COMP, same rank: tCCD_S", RANK, _RDS, (PCOMP,), rd_rd_s)
    r("WR to PIM_COMP, same rank: CWL + tBL + tWTR_S", RANK, _WRS, (PCOMP,), wr_rd_s)
    r("PIM_ACT to REF, same rank: tRC", RANK, (PACT,), (REF,), t.tRC)
    if dual:
        r("ACT to PIM_ACT, same bank (dual row buffers): tRRD_L", BANK, (ACT,), (PACT,), t.tRRD_L)
        r("PIM_ACT to ACT, same bank (dual row buffers): tRRD_L", BANK, (PACT,), (ACT,), t.tRRD_L)
    else:
        r("PIM_ACT to RD, same bank (one row buffer): tRCDRD", BANK, (PACT,), _RDS + (GWRITE,), t.tRCDRD)
        r("PIM_ACT to WR, same bank (one row buffer): tRCDWR", BANK, (PACT,), _WRS, t.tRCDWR)
        r("ACT to PIM_ACT, same bank (one row buffer): tRC", BANK, (ACT,), (PACT,), t.tRC)
        r("PIM_ACT to ACT, same bank (one row buffer): tRC", BANK, (PACT,), (ACT,), t.tRC)
        r("PRE to PIM_ACT, same bank (one row buffer): tRP", BANK, (PRE,), (PACT,), t.tRP)
        r("PIM_PRE to ACT, same bank (one row buffer): tRP", BANK, (PPRE,), (ACT,), t.tRP)
        r("PIM_ACT to PRE, same bank (one row buffer): tRAS", BANK, (PACT,), (PRE,), t.tRAS)
        r("PIM_COMP to PRE, same bank (one row buffer): tRTP_L", BANK, (PCOMP,), (PRE,), t.tRTP_L)
        r("RD to PIM_COMP, same bank group (one row buffer): tCCD_L", BANKGROUP, _RDS, (PCOMP,), rd_rd_l)
        r("WR to PIM_COMP, same bank group (one row buffer): CWL + tBL + tWTR_L", BANKGROUP, _WRS, (PCOMP,),
          wr_rd_l)
        r("RD to PIM_PRE, same bank (one row buffer): tRTP_L", BANK, (RD,), (PPRE,), t.tRTP_L)
    return out


def windows(device: DramDevice) -> list[tuple[int, int]]:
    """Activation windows as (activations allowed, window cycles): tFAW (4) and, for GDDR, t32AW (32)."""
    t = device.timing
    out = [(4, t.tFAW)] if t.tFAW > 0 else []
    if t.t32AW > 0:
        out.append((32, t.t32AW))
    return out


@dataclass(frozen=True)
class Tables:
    """The rules compiled for the engines: a dense table and, per (scope, command), the updates it makes."""

    lat: np.ndarray        # int64 [NSCOPE, NCMD, NCMD]: max latency of any rule from prev to next in scope
    upd_n: np.ndarray      # int64 [NSCOPE, NCMD]: how many following commands prev constrains in scope
    upd_f: np.ndarray      # int64 [NSCOPE, NCMD, NCMD]: those following commands
    upd_v: np.ndarray      # int64 [NSCOPE, NCMD, NCMD]: and their latencies
    win_n: np.ndarray      # int64 [W]: activations allowed per window
    win_t: np.ndarray      # int64 [W]: window lengths


def asked(device: DramDevice) -> tuple[int, ...]:
    """The commands whose earliest issue time the controller ever asks for, given the device's refresh and
    PIM mode. RDA and WRA are never asked (the controller weighs RD and WR and turns them into RDA and WRA
    at issue), nor are refresh and PIM commands the device cannot issue. The earliest times of the others
    are never read, so the kernel does not keep them up to date."""
    out = {ACT, PRE, RD, WR}
    refresh = device.controller.refresh
    if refresh == "all_bank":
        out |= {PREA, REF}
    elif refresh == "per_bank":
        out |= {REFPB}
    if PIM_MODES[device.pim.mode] != PIM_NONE:
        out |= set(PIM_COMMANDS)
    return tuple(sorted(out))


def compile_tables(device: DramDevice) -> Tables:
    lat = np.zeros((NSCOPE, NCMD, NCMD), dtype=np.int64)
    for rule in rules(device):
        for prev in rule.preceding:
            for foll in rule.following:
                lat[rule.scope, prev, foll] = max(lat[rule.scope, prev, foll], rule.latency)
    upd_n = np.zeros((NSCOPE, NCMD), dtype=np.int64)
    upd_f = np.zeros((NSCOPE, NCMD, NCMD), dtype=np.int64)
    upd_v = np.zeros((NSCOPE, NCMD, NCMD), dtype=np.int64)
    wanted = asked(device)
    for s in range(NSCOPE):
        for p in range(NCMD):
            k = 0
            for f in wanted:
                if lat[s, p, f] > 0:
                    upd_f[s, p, k], upd_v[s, p, k] = f, lat[s, p, f]
                    k += 1
            upd_n[s, p] = k
    w = windows(device)
    return Tables(lat, upd_n, upd_f, upd_v, np.array([n for n, _ in w] or [0], dtype=np.int64),
                  np.array([c for _, c in w] or [0], dtype=np.int64))
