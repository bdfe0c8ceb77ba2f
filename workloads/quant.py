"""Per-group weight quantisation onto the value grids of BitMoD and the plain low-bit formats.

Values are integer-like grids times a per-group scale (group size 128 by default). BitMoD's formats
free the redundant code of FP3/FP4 (-0) for one special value, and each 128-weight group picks the
variant with the least squared error (`mixed_bitmod` in abdelfattah-lab/BitMoD-HPCA-25
bitmod_quant/quant_utils/quant_weight.py; grids as listed in /work/shared/reference/
sn40l-bitmod-marl-peers.md §2.1):

    FP3  {0, ±1, ±2, ±4}    + ER: ±3 (extra resolution)   + EA: ±6 (extra asymmetry)
    FP4  {0, ±1, ±2, ±3, ±4, ±6, ±8, ±12}  + ER: ±10   + EA: ±16

Each group's scale maps its largest magnitude onto the grid's largest magnitude (absmax scaling).
This module gives the numerics (what a weight becomes); the storage cost is the data type's bits per
weight (`loomsim.dtypes`), metadata included.
"""
from __future__ import annotations

import numpy as np

from loomsim.errors import LoomError, choices_text

_FP3 = [0, 1, 2, 4]
_FP4 = [0, 1, 2, 3, 4, 6, 8, 12]
_INT3 = [0, 1, 2, 3]
_INT4 = list(range(8))


def _sym(mags):
    return sorted({s * m for m in mags for s in (1, -1)})


GRIDS: dict[str, np.ndarray] = {
    "int3": np.array(_sym(_INT3), float),
    "int4": np.array(_sym(_INT4), float),
    "fp3": np.array(_sym(_FP3), float),
    "fp4": np.array(_sym(_FP4), float),
    "fp3_er_pos": np.array(_sym(_FP3) + [3], float),
    "fp3_er_neg": np.array(_sym(_FP3) + [-3], float),
    "fp3_ea_pos": np.array(_sym(_FP3) + [6], float),
    "fp3_ea_neg": np.array(_sym(_FP3) + [-6], float),
    "fp4_er_pos": np.array(_sym(_FP4) + [10], float),
    "fp4_er_neg": np.array(_sym(_FP4) + [-10], float),
    "fp4_ea_pos": np.array(_sym(_FP4) + [16], float),
    "fp4_ea_neg": np.array(_sym(_FP4) + [-16], float),
}
MIXED = {"bitmod-fp3": ("fp3_er_pos", "fp3_er_neg", "fp3_ea_pos", "fp3_ea_neg"),
         "bitmod-fp4": ("fp4_er_pos", "fp4_er_neg", "fp4_ea_pos", "fp4_ea_neg")}


def _onto(groups: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Absmax-scale each row onto `grid` and round to its nearest value."""
    grid = np.sort(grid)
    top = np.max(np.abs(grid))
    scale = np.max(np.abs(groups), axis=1, keepdims=True) / top
    scale[scale == 0] = 1.0
    x = groups / scale
    idx = np.clip(np.searchsorted(grid, x), 1, len(grid) - 1)
    lo, hi = grid[idx - 1], grid[idx]
    return np.where(np.abs(x - lo) <= np.abs(hi - x), lo, hi) * scale


def quantize(weights: np.ndarray, fmt: str, group: int = 128) -> tuple[np.ndarray, list[str]]:
    """Quantise a flat weight vector group by group; returns the values and each group's chosen grid."""
    if fmt not in GRIDS and fmt not in MIXED:
        raise LoomError(f"unknown quantisation format '{fmt}'; valid: {choices_text(list(GRIDS) + list(MIXED))}.")
    w = np.asarray(weights, float).ravel()
    if w.size % group:
        raise LoomError(f"{w.size} weights do not split into groups of {group}.")
    g = w.reshape(-1, group)
    candidates = MIXED.get(fmt, (fmt,))
    options = np.stack([_onto(g, GRIDS[c]) for c in candidates])          # [variant, group, weight]
    err = ((options - g[None]) ** 2).sum(axis=2)                           # [variant, group]
    pick = np.argmin(err, axis=0)
    out = options[pick, np.arange(len(g))]
    return out.ravel(), [candidates[i] for i in pick]
