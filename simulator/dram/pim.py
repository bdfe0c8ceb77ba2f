"""PIM command bundles: what a PIM controller asks of one channel, built from steps a mapper can name.

A bundle is an ordered list of steps on one channel, issued in order by the engine as soon as each
command's timing allows: write the global buffer from a DRAM row (`gwrite`), activate a row in a set
of banks (`act`), run `k` compute commands on the open rows (`comp`), read the results out over the
data bus (`readres`), close the PIM rows (`pre`). Bank sets are bit masks over the channel's banks
(bank index = rank x banks_per_rank + bank group x banks_per_group + bank).

`gemv()` builds the NeuPIMs/Newton GEMV of one channel: for every weight row, activate it in all
banks (`act_banks` at a time, as G_ACT opens one bank group), `comp` k times, read out, precharge.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from loomsim.arch.dram_device import DramDevice
from loomsim.errors import LoomError
from loomsim.simulator.dram.state import OP_ACT, OP_COMP, OP_GWRITE, OP_PRE, OP_READRES

OPS = {"act": OP_ACT, "comp": OP_COMP, "readres": OP_READRES, "pre": OP_PRE, "gwrite": OP_GWRITE}


@dataclass(frozen=True)
class PimStep:
    """One step: `op` on bank set `banks` (act, comp, readres, pre) or on `bank` (gwrite), `count` times.
    A `comp` names the row it computes on, so rows a refresh closed in between are opened again."""

    op: str
    banks: int = 0
    row: int = -1
    bank: int = -1
    count: int = 1

    def encoded(self) -> tuple[int, int, int, int, int]:
        return OPS[self.op], self.banks, self.row, self.bank, self.count


@dataclass(frozen=True)
class PimBundle:
    """Steps for one channel, issued in order; the engine reports when the last one is done."""

    channel: int
    steps: tuple[PimStep, ...]
    label: str = ""

    def validate(self, device: DramDevice) -> None:
        o = device.org
        if device.pim.mode == "none":
            raise LoomError(f"PIM bundle '{self.label}' sent to {device.name}, which has no PIM (pim.mode: none); "
                            "use a PIM device such as HBM2-PIM or set pim.mode.")
        if not 0 <= self.channel < o.channels:
            raise LoomError(f"PIM bundle '{self.label}' targets channel {self.channel}; "
                            f"{device.name} has channels 0..{o.channels - 1}.")
        all_banks = (1 << device.banks_per_channel) - 1
        for i, s in enumerate(self.steps):
            if s.op not in OPS:
                raise LoomError(f"PIM bundle '{self.label}' step {i}: unknown op '{s.op}' (valid: {', '.join(OPS)}).")
            if s.op == "gwrite":
                if not 0 <= s.bank < device.banks_per_channel or not 0 <= s.row < o.rows:
                    raise LoomError(f"PIM bundle '{self.label}' step {i}: gwrite needs a bank in "
                                    f"0..{device.banks_per_channel - 1} and a row in 0..{o.rows - 1}.")
            elif s.banks <= 0 or s.banks & ~all_banks:
                raise LoomError(f"PIM bundle '{self.label}' step {i}: bank set {s.banks:#x} is empty or names banks "
                                f"beyond the {device.banks_per_channel} of a channel.")
            if s.op == "act" and not 0 <= s.row < o.rows:
                raise LoomError(f"PIM bundle '{self.label}' step {i}: row {s.row} is outside 0..{o.rows - 1}.")
            if s.count < 1:
                raise LoomError(f"PIM bundle '{self.label}' step {i}: count {s.count} must be >= 1.")

    def commands(self) -> int:
        """How many commands the steps name (activates and precharges not counted per bank)."""
        return sum(s.count for s in self.steps)


def bank_sets(device: DramDevice) -> list[int]:
    """The bank sets one compute command covers (`pim.unit_banks`): all banks of the channel, or bundles
    of `unit_banks` banks taking the same banks of every bank group of a rank (Duplex's bank bundles)."""
    o, p = device.org, device.pim
    n = device.banks_per_channel
    unit = p.unit_banks or n
    if unit == n:
        return [(1 << n) - 1]
    per_bg = unit // o.bankgroups
    if unit % o.bankgroups or per_bg == 0 or o.banks_per_group % per_bg:
        raise LoomError(f"{device.name}: pim.unit_banks {unit} does not split evenly over "
                        f"{o.bankgroups} bank groups of {o.banks_per_group} banks.")
    sets = []
    for rank in range(o.ranks):
        for first in range(0, o.banks_per_group, per_bg):
            mask = 0
            for bg in range(o.bankgroups):
                for ba in range(first, first + per_bg):
                    mask |= 1 << (rank * device.banks_per_rank + bg * o.banks_per_group + ba)
            sets.append(mask)
    return sets


def act_groups(device: DramDevice, mask: int, interleave_ranks: bool = True) -> list[int]:
    """`mask` split into groups of `pim.act_banks` banks (Newton: one bank group each). With
    `interleave_ranks` the groups alternate between ranks, so each rank's four-activate window (a
    4-bank group fills it) is used in parallel: 8 groups on 2 ranks take 3 tFAW instead of 7, as
    NewtonSim's latency estimate assumes (tFAW x (groups / 2 - 1) + tRCDRD)."""
    banks = [b for b in range(device.banks_per_channel) if mask >> b & 1]
    k = device.pim.act_banks
    groups = [sum(1 << b for b in banks[i:i + k]) for i in range(0, len(banks), k)]
    if not interleave_ranks:
        return groups
    by_rank: dict[int, list[int]] = {}
    for g in groups:
        by_rank.setdefault((g & -g).bit_length() - 1 >> (device.banks_per_rank.bit_length() - 1), []).append(g)
    out = []
    for i in range(max(len(v) for v in by_rank.values())):
        out += [v[i] for _, v in sorted(by_rank.items()) if i < len(v)]
    return out


def readres_count(device: DramDevice, mask: int) -> int:
    """Data-bus read-outs needed for one result per bank of `mask`."""
    nbytes = bin(mask).count("1") * device.pim.result_bytes_per_bank
    return -(-nbytes // device.atom)


def gemv(device: DramDevice, channel: int, rows: Sequence[int], comps_per_row: int, banks: int | None = None,
         vector: tuple[int, int] | None = None, gwrites: int = 1, precharge: bool = True, label: str = "gemv",
         interleave_ranks: bool = True) -> PimBundle:
    """A GEMV on one channel: optional global-buffer writes of the input vector from (bank, row) `vector`,
    then for each weight row: activate it on `banks` (default: the device's first bank set),
    `comps_per_row` compute commands, read the results out, and (if `precharge`) close the rows."""
    if comps_per_row < 1:
        raise LoomError(f"gemv: comps_per_row must be >= 1, got {comps_per_row}.")
    mask = banks if banks is not None else bank_sets(device)[0]
    steps: list[PimStep] = []
    if vector is not None:
        steps += [PimStep("gwrite", bank=vector[0], row=vector[1])] * gwrites
    for row in rows:
        steps += [PimStep("act", banks=g, row=row) for g in act_groups(device, mask, interleave_ranks)]
        steps.append(PimStep("comp", banks=mask, row=row, count=comps_per_row))
        steps.append(PimStep("readres", banks=mask, count=readres_count(device, mask)))
        if precharge:
            steps.append(PimStep("pre", banks=mask))
    bundle = PimBundle(channel, tuple(steps), label)
    bundle.validate(device)
    return bundle
