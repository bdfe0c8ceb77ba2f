"""`Program`: what a mapper hands the simulator — for each component, the tasks it runs, with dependencies.

The mapper decides everything (tiling, order, buffering, placement); the simulator only executes and
times. Buffer reuse is expressed as dependencies: a load into a buffer slot waits for the task that
last used the slot. Tasks are listed in one global order in which every dependency comes first; each
unit runs its own tasks in that order, which cannot deadlock.

A unit may have several issue queues (a task's `queue`, default ""): it takes the tasks of each queue
in program order, and a task waiting for its dependencies holds back only its own queue, as an NPU's
separate instruction queues do (NeuPIMs' core keeps one load and one execute queue for the systolic
arrays and another pair for PIM). The component's capacity is still one: its model serialises the
work of its queues.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from loomsim.errors import LoomError


@dataclass(frozen=True)
class Transfer:
    """Move `nbytes` of `tensor` from component `src` to `dst` over link `unit` (a DMA).

    Optional DRAM layout, for a cycle-level `dram` at either end: the transfer moves `rows` pieces of
    `row_bytes` bytes, the first at byte `address` of the DRAM and each next one `stride` bytes further
    (a tile of a row-major matrix: rows = tile rows, row_bytes = tile width x element size, stride =
    matrix row pitch). Without `address`, the DRAM streams `nbytes` from a per-tensor cursor in a
    region of its own for each tensor (see `simulator.models.DramModel`).
    """

    id: int
    unit: str
    deps: tuple[int, ...]
    tensor: str
    src: str
    dst: str
    nbytes: int
    label: str = ""
    address: int | None = None
    rows: int = 1
    row_bytes: int = 0
    stride: int = 0
    kind: str = field(default="transfer", init=False)
    queue: str = ""


@dataclass(frozen=True)
class MatmulTile:
    """One GEMM tile on a compute array: z[m,n] (+)= a[m,k] * b[k,n] with operands in `sram`.

    `accumulate` is true when z already holds partial sums that this tile adds to (it is read).
    `batch` independent GEMMs of this shape run back to back (the batch ranks of an Einsum, such as
    the heads of attention). `parts`, when given, splits the tile across that many identical arrays of
    the unit: one (batch, m, n, k) per array, all running at once and sharing the SRAM's ports.
    """

    id: int
    unit: str
    deps: tuple[int, ...]
    m: int
    n: int
    k: int
    a: str
    b: str
    z: str
    sram: str
    accumulate: bool = False
    label: str = ""
    kind: str = field(default="matmul", init=False)
    batch: int = 1
    parts: tuple[tuple[int, int, int, int], ...] = ()
    queue: str = ""

    def pieces(self) -> tuple[tuple[int, int, int, int], ...]:
        """(batch, m, n, k) per array the tile runs on."""
        return self.parts or ((self.batch, self.m, self.n, self.k),)


@dataclass(frozen=True)
class VectorOp:
    """Element-wise or reduction work on a vector unit: `elements` values, `ops` operations each.

    When `sram` is given, the unit reads `reads` and writes `writes` there ((tensor, elements) per
    access) and the SRAM's ports bound its time. `parts` splits the elements across that many
    identical units of the component, running at once.
    """

    id: int
    unit: str
    deps: tuple[int, ...]
    elements: int
    ops: int = 1
    label: str = ""
    kind: str = field(default="vector", init=False)
    sram: str = ""
    reads: tuple[tuple[str, int], ...] = ()
    writes: tuple[tuple[str, int], ...] = ()
    parts: tuple[int, ...] = ()
    queue: str = ""


@dataclass(frozen=True)
class PimTask:
    """A PIM command bundle (`loomsim.simulator.dram.pim.PimBundle`) run by cycle-level DRAM `unit`."""

    id: int
    unit: str
    deps: tuple[int, ...]
    bundle: Any
    label: str = ""
    kind: str = field(default="pim", init=False)
    queue: str = ""


Task = Union[Transfer, MatmulTile, VectorOp, PimTask]


@dataclass(frozen=True)
class Program:
    """Tasks in a global dependency order, plus what the mapper chose (for reports)."""

    tasks: tuple[Task, ...]
    tensors: dict[str, str] = field(default_factory=dict)   # tensor name -> data type name
    mapping: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        seen: set[int] = set()
        for t in self.tasks:
            if t.id in seen:
                raise LoomError(f"program: task id {t.id} appears twice.")
            for d in t.deps:
                if d not in seen:
                    raise LoomError(f"program: task {t.id} ({t.label}) depends on {d}, which is not listed before it.")
            seen.add(t.id)

    def by_unit(self) -> dict[str, list[Task]]:
        out: dict[str, list[Task]] = {}
        for t in self.tasks:
            out.setdefault(t.unit, []).append(t)
        return out

    def by_queue(self) -> dict[tuple[str, str], list[Task]]:
        """Tasks of each (unit, issue queue), in program order."""
        out: dict[tuple[str, str], list[Task]] = {}
        for t in self.tasks:
            out.setdefault((t.unit, t.queue), []).append(t)
        return out

    def __len__(self) -> int:
        return len(self.tasks)
