"""The per-architecture energy table: pJ per action (Accelergy-style), defaults with their sources.

Keys in an architecture's `energy:` map:

    mac.<dtype>     pJ per multiply-accumulate in a compute array of that data type
    vector.<dtype>  pJ per vector-lane operation of that data type
    sram.read       pJ per bit read from an SRAM (used when an `sram` gives no `read_energy`)
    sram.write      pJ per bit written to an SRAM (used when an `sram` gives no `write_energy`)
    dram.read       pJ per bit read from DRAM (used when a `dram` gives no `read_energy_per_bit`)
    dram.write      pJ per bit written to DRAM
    link            pJ per bit moved over a link (used when a `link` gives no `energy_per_bit`)

Only energies with a published source have a default; anything else (an int8 MAC, a vector op) must
be given by the architecture that uses it, and a missing entry is a load-time error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loomsim.arch.params import ENERGY, ENERGY_PER_BIT, Kind
from loomsim.dtypes import DTYPE_NAMES

# action -> (kind, whether it takes a .<dtype> qualifier, help)
ACTIONS: dict[str, tuple[Kind, bool, str]] = {
    "mac": (ENERGY, True, "pJ per multiply-accumulate, by data type"),
    "vector": (ENERGY, True, "pJ per vector-lane operation, by data type"),
    "sram.read": (ENERGY_PER_BIT, False, "pJ per bit read from an SRAM without its own read_energy"),
    "sram.write": (ENERGY_PER_BIT, False, "pJ per bit written to an SRAM without its own write_energy"),
    "dram.read": (ENERGY_PER_BIT, False, "pJ per bit read from DRAM without its own figure"),
    "dram.write": (ENERGY_PER_BIT, False, "pJ per bit written to DRAM without its own figure"),
    "link": (ENERGY_PER_BIT, False, "pJ per bit over a link without its own energy_per_bit"),
}

# key -> (value as written, source)
DEFAULTS: dict[str, tuple[str, str]] = {
    # Duplex's public simulator (scale-snu/LLMSimulator src/dram/power.h) charges 0.46/2 pJ per FP16
    # FLOP, i.e. 0.46 pJ per FP16 MAC, for every processor type (7 nm ASAP7 synthesis, Duplex MICRO'24).
    "mac.fp16": ("0.46pJ", "Duplex (MICRO'24) LLMSimulator src/dram/power.h: 0.46 pJ/MAC FP16, 7 nm"),
    # The same figure is used for bf16: a bf16 multiplier (8-bit significand) is no larger than an
    # fp16 one (11-bit), so this errs high. No separate bf16 figure with a source was found.
    "mac.bf16": ("0.46pJ", "fp16 figure of Duplex LLMSimulator applied to bf16 (no bf16 source found)"),
    # No vector-lane figure was found beside the MAC above. Derived: the Duplex FP16 MAC (0.46 pJ) split
    # in the proportions of Horowitz's 45 nm figures (ISSCC'14 "Computing's energy problem": FP16 add
    # 0.4 pJ, FP16 mult 1.1 pJ, FP32 add 0.9 pJ), so one add-class lane operation costs
    # 0.46 x 0.4/1.5 = 0.12 pJ in fp16/bf16 and 0.46 x 0.9/1.5 = 0.28 pJ in fp32. Every vector operation
    # (exp, rsqrt, ...) is charged as one such operation: a named simplification.
    "vector.fp16": ("0.12pJ", "derived: Duplex 0.46 pJ FP16 MAC x Horowitz ISSCC'14 FP16 add/MAC = 0.4/1.5"),
    "vector.bf16": ("0.12pJ", "derived: as vector.fp16"),
    "vector.fp32": ("0.28pJ", "derived: Duplex 0.46 pJ FP16 MAC x Horowitz ISSCC'14 FP32 add/FP16 MAC = 0.9/1.5"),
    # AttAcc (scale-snu/attacc_simulator src/config.py) charges 0.3 pJ/bit for the GPU L2
    # (ENERGY_TABLE['GPU']['l2'] = 0.3 * 8 pJ per byte; ref arXiv 1509.02308).
    "sram.read": ("0.3pJ/bit", "AttAcc src/config.py L2 SRAM: 0.3 pJ/bit"),
    "sram.write": ("0.3pJ/bit", "AttAcc src/config.py L2 SRAM: 0.3 pJ/bit"),
    # HBM read/write path from O'Connor et al. (Fine-Grained DRAM, MICRO'17) as summed by AttAcc
    # src/config.py: ACT 0.11 + cell 0.44 + column-decoder-to-BG-mux 1.01 + BG-mux-to-GIO 1.23
    # + TSV 0.5 + interposer IO 0.3 = 3.59 pJ/bit.
    "dram.read": ("3.59pJ/bit", "O'Connor MICRO'17 HBM path via AttAcc src/config.py: 3.59 pJ/bit"),
    "dram.write": ("3.59pJ/bit", "O'Connor MICRO'17 HBM path via AttAcc src/config.py: 3.59 pJ/bit"),
    # An on-package link between a DRAM PHY and on-chip SRAM: the DRAM figure above already carries
    # the interposer IO, so the link itself adds nothing unless an architecture says otherwise.
    "link": ("0pJ/bit", "none: the dram.* figure includes interposer IO; set per link when known"),
}


def valid_keys() -> list[str]:
    keys = []
    for action, (_, qualified, _) in ACTIONS.items():
        keys += [f"{action}.{d}" for d in DTYPE_NAMES] if qualified else [action]
    return keys


def split_key(key: str) -> tuple[str, Kind] | None:
    """The action of a valid key and its kind, or None for an unknown key."""
    if key in ACTIONS and not ACTIONS[key][1]:
        return key, ACTIONS[key][0]
    action, _, qual = key.rpartition(".")
    if action in ACTIONS and ACTIONS[action][1] and qual in DTYPE_NAMES:
        return action, ACTIONS[action][0]
    return None


@dataclass(frozen=True)
class EnergyTable:
    """pJ (or pJ/bit) per action, each entry with where it came from."""

    values: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for key in sorted(self.values):
            _, kind = split_key(key)
            out[key] = kind.format(self.values[key])
        return out

    @staticmethod
    def defaults() -> "EnergyTable":
        values, sources = {}, {}
        for key, (text, source) in DEFAULTS.items():
            values[key] = split_key(key)[1].parse(text)
            sources[key] = source
        return EnergyTable(values, sources)
