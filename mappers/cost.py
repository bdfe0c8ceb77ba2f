"""The cost model's Python face: evaluates batches of mapping rows with the numba kernel, and explains one.

`CostModel.evaluate(rows)` is what a search calls (one numba call per batch). `CostModel.cost(row)`
gives a `Cost`: cycles, latency, energy, DRAM traffic and the per-tensor, per-level reads, fills and
updates with the energy they cost, as a tidy frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loomsim.errors import LoomError
from loomsim.mappers import cost_kernel as K
from loomsim.mappers.problem import KIND_SYSTOLIC
from loomsim.mappers.space import MapSpace


@dataclass(frozen=True)
class Cost:
    """What one mapping costs by the analytic model (the simulator gives the timed truth)."""

    latency_ps: float
    energy_pj: float
    compute_cycles: int        # unit cycles summed over instances (the systolic closed form per fold)
    compute_ps: float
    dram_bytes: int
    tasks: int                 # compute tasks (spatial groups)
    work: int                  # MACs (systolic) or iteration points (vector)
    counts: np.ndarray         # [tensor, level, K.COUNT_NAMES]
    energy_compute_pj: float
    tensors: tuple             # operand labels
    levels: tuple
    names: tuple = ()          # each operand's tensor
    busy_cycles: float = 0.0   # cycles the unit is busy (a double-buffered array: its pipeline across tasks)

    @property
    def edp(self) -> float:
        return self.energy_pj * self.latency_ps

    def count(self, tensor: str, level: str, what: str) -> int:
        """One count of an operand (by label), or summed over the operands of a tensor (by name)."""
        lv, k = self.levels.index(level), K.COUNT_NAMES.index(what)
        if tensor in self.tensors:
            return int(self.counts[self.tensors.index(tensor), lv, k])
        idx = [i for i, name in enumerate(self.names) if name == tensor]
        if not idx:
            raise KeyError(f"no operand or tensor '{tensor}'; operands: {', '.join(self.tensors)}")
        return int(sum(self.counts[i, lv, k] for i in idx))

    def frame(self) -> pd.DataFrame:
        """Tidy rows (tensor, level, stat, value): reads, fills, updates, accesses and bytes."""
        rows = []
        for i, t in enumerate(self.tensors):
            for j, lv in enumerate(self.levels):
                for k, name in enumerate(K.COUNT_NAMES):
                    rows.append((t, lv, name, int(self.counts[i, j, k])))
        return pd.DataFrame(rows, columns=["tensor", "level", "stat", "value"])


class CostModel:
    """The numba kernel bound to one map space's problem and target."""

    def __init__(self, space: MapSpace):
        self.space = space
        p, t = space.problem, space.target
        pa, ta = p.arrays(), t.arrays()
        self._args = (pa["sizes"], pa["rel"], pa["bpe"], pa["bits_num"], pa["bits_den"], pa["roles"], p.ops_per_point,
                      int(p.accumulate), ta["unit"], ta["lvl_int"], ta["lvl_f"], ta["path_f"], ta["energy"])
        if t.kind != KIND_SYSTOLIC and not np.isfinite(t.op_pj):
            raise LoomError(f"vector unit '{t.unit.name}' needs an energy table entry 'vector.{t.unit.dtype}' "
                            f"(pJ per operation, with a cited source) to cost '{p.einsum}'.")

    def evaluate(self, rows: np.ndarray):
        """(reason, latency ps, energy pJ, unit cycles) for each row."""
        n = len(rows)
        reason = np.empty(n, np.int64)
        lat = np.empty(n, np.float64)
        en = np.empty(n, np.float64)
        cyc = np.empty(n, np.int64)
        K.evaluate_batch(np.ascontiguousarray(rows, dtype=np.int64), *self._args, reason, lat, en, cyc)
        return reason, lat, en, cyc

    def reason_name(self, code: int) -> str:
        if code >= K.CAPACITY:
            return f"capacity:{self.space.target.levels[code - K.CAPACITY].name}"
        return K.REASONS[code]

    def cost(self, row) -> Cost:
        p, t = self.space.problem, self.space.target
        counts = np.zeros((p.T, t.L, K.NCOUNT), np.int64)
        summary = np.zeros(K.NSUM, np.float64)
        code = K.evaluate_one(np.ascontiguousarray(row, np.int64), *self._args, counts, summary)
        if code != K.LEGAL:
            raise LoomError(f"mapping is not legal: {self.reason_name(code)}.")
        return Cost(summary[K.LATENCY], summary[K.ENERGY], int(summary[K.CYCLES]), summary[K.COMPUTE_PS],
                    int(summary[K.DRAM_BYTES]), int(summary[K.TASKS]), int(summary[K.WORK]), counts,
                    summary[K.E_COMPUTE], p.labels or p.tensors, tuple(lv.name for lv in t.levels), p.tensors,
                    summary[K.BUSY])
