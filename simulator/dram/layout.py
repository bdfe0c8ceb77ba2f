"""Where a transfer's bytes live in DRAM: the byte addresses of its requests.

A transfer with a layout (`address`, `rows`, `row_bytes`, `stride`) names its bytes exactly. Without one,
each tensor gets its own region of the device (the address space cut into 16 aligned regions, handed
out in order of first use) and each transfer of the tensor streams on from where the previous one
stopped, wrapping within the region. That default keeps a tensor's transfers sequential (row hits, all
channels interleaved), which is what a mapper that lays tensors out contiguously would produce.
"""
from __future__ import annotations

import numpy as np

from loomsim.arch.dram_device import DramDevice
from loomsim.errors import LoomError

REGIONS = 16


class TensorLayout:
    """Per-tensor regions and cursors for transfers that carry no DRAM address."""

    def __init__(self, device: DramDevice):
        self.atom = device.atom
        self.capacity = device.capacity
        self.region = device.capacity // REGIONS
        self.base: dict[str, int] = {}
        self.cursor: dict[str, int] = {}

    def addresses(self, task) -> np.ndarray:
        """Atom-aligned byte addresses of every request the transfer makes."""
        atom = self.atom
        if task.address is not None:
            if task.rows < 1 or (task.rows > 1 and task.row_bytes <= 0):
                raise LoomError(f"transfer {task.id} ({task.label}): a DRAM layout needs rows >= 1 and row_bytes > 0.")
            row_bytes = task.row_bytes or task.nbytes
            first = task.address // atom * atom
            per_row = np.arange(first, task.address + row_bytes, atom, dtype=np.int64)
            starts = np.arange(task.rows, dtype=np.int64) * task.stride
            return (starts[:, None] + per_row[None, :]).ravel() % self.capacity
        if task.tensor not in self.base:
            self.base[task.tensor] = (len(self.base) % REGIONS) * self.region
            self.cursor[task.tensor] = 0
        n = -(-task.nbytes // atom)
        offsets = (self.cursor[task.tensor] + np.arange(n, dtype=np.int64) * atom) % self.region
        self.cursor[task.tensor] = (self.cursor[task.tensor] + n * atom) % self.region
        return self.base[task.tensor] + offsets
