"""`Cascade`: a DAG of Einsums over named ranks with sizes, and tensors with data types.

A tensor written by one Einsum and read by a later one is an intermediate; tensors no Einsum writes
are the cascade's inputs; tensors no Einsum reads are its outputs. Shapes and data types are checked
once, at construction, so an impossible workload fails here and not deep inside the simulator.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Iterable, Mapping

from loomsim.dtypes import DTYPES, DType, dtype
from loomsim.errors import LoomError, closest
from loomsim.workloads.einsum import Einsum, parse_einsum


@dataclass(frozen=True)
class Tensor:
    """A tensor of a cascade: its ranks (axis order), their sizes and its data type."""

    name: str
    ranks: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: DType

    @property
    def elements(self) -> int:
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.dtype.nbytes(self.elements)


@dataclass(frozen=True)
class Counts:
    """Work and compulsory traffic of one Einsum (or a sum of them)."""

    macs: int = 0
    ops: Mapping[str, int] = field(default_factory=dict)   # non-MAC operations by kind
    bytes_read: int = 0
    bytes_written: int = 0

    @property
    def flops(self) -> int:
        """Floating-point (or integer) operations: 2 per MAC plus one per other operation."""
        return 2 * self.macs + sum(self.ops.values())

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """Operational intensity, operations per byte of compulsory traffic."""
        return self.flops / self.bytes if self.bytes else float("inf")

    def __add__(self, other: "Counts") -> "Counts":
        ops = dict(self.ops)
        for k, v in other.ops.items():
            ops[k] = ops.get(k, 0) + v
        return Counts(self.macs + other.macs, ops, self.bytes_read + other.bytes_read,
                      self.bytes_written + other.bytes_written)


@dataclass(frozen=True)
class Cascade:
    """Einsums in program order, rank sizes shared by all of them, and a data type per tensor."""

    name: str
    einsums: tuple[Einsum, ...]
    rank_sizes: Mapping[str, int]
    dtypes: Mapping[str, str] = field(default_factory=dict)
    default_dtype: str = "bf16"

    def __post_init__(self):
        self._validate()

    # ---- construction ----------------------------------------------------------------------

    @staticmethod
    def from_text(name: str, equations: Iterable[str] | str, rank_sizes: Mapping[str, int],
                  dtypes: Mapping[str, str] | None = None, default_dtype: str = "bf16") -> "Cascade":
        """Build from equation strings (a list, or one string with one equation per line or ';')."""
        if isinstance(equations, str):
            equations = [e for part in equations.split("\n") for e in part.split(";")]
        einsums = tuple(parse_einsum(e) for e in equations if e.strip())
        return Cascade(name, einsums, dict(rank_sizes), dict(dtypes or {}), default_dtype)

    def _validate(self) -> None:
        if not self.einsums:
            raise LoomError(f"cascade '{self.name}' has no Einsums.")
        dtype(self.default_dtype)
        ranks_of: dict[str, tuple[str, ...]] = {}
        producer: dict[str, int] = {}
        for i, e in enumerate(self.einsums):
            for acc in (e.output, *e.inputs):
                seen = ranks_of.setdefault(acc.tensor, acc.ranks)
                if seen != acc.ranks:
                    raise LoomError(f"cascade '{self.name}': tensor {acc.tensor} is used as {acc} in '{e}' but as "
                                    f"{acc.tensor}[{','.join(seen)}] elsewhere; a tensor keeps one rank order.")
            if e.output.tensor in producer:
                raise LoomError(f"cascade '{self.name}': tensor {e.output.tensor} is written by two Einsums "
                                f"('{self.einsums[producer[e.output.tensor]]}' and '{e}').")
            for t in e.input_tensors:
                if t in producer or not any(t == x.output.tensor for x in self.einsums[i:]):
                    continue
                raise LoomError(f"cascade '{self.name}': '{e}' reads {t} before the Einsum that writes it; "
                                "list Einsums in an order where producers come first (a cascade is acyclic).")
            producer[e.output.tensor] = i
        all_ranks = {r for e in self.einsums for r in e.ranks}
        for r in sorted(all_ranks):
            size = self.rank_sizes.get(r)
            if size is None:
                hint = closest(r, self.rank_sizes)
                raise LoomError(f"cascade '{self.name}': rank '{r}' has no size; given sizes: "
                                f"{dict(self.rank_sizes)}" + (f". Did you mean '{hint}'?" if hint else "."))
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise LoomError(f"cascade '{self.name}': rank '{r}' has size {size!r}; sizes are positive integers.")
        extra = set(self.rank_sizes) - all_ranks
        if extra:
            raise LoomError(f"cascade '{self.name}': sizes given for ranks no Einsum uses: {sorted(extra)}; "
                            f"the ranks are {sorted(all_ranks)}.")
        for t, d in self.dtypes.items():
            if t not in ranks_of:
                raise LoomError(f"cascade '{self.name}': data type given for unknown tensor '{t}'; tensors: "
                                f"{sorted(ranks_of)}.")
            dtype(d)

    # ---- queries ---------------------------------------------------------------------------

    @property
    def tensors(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for e in self.einsums:
            for acc in (*e.inputs, e.output):
                if acc.tensor not in out:
                    shape = tuple(self.rank_sizes[r] for r in acc.ranks)
                    out[acc.tensor] = Tensor(acc.tensor, acc.ranks, shape,
                                             DTYPES[self.dtypes.get(acc.tensor, self.default_dtype)])
        return out

    @property
    def inputs(self) -> tuple[str, ...]:
        written = {e.output.tensor for e in self.einsums}
        return tuple(t for t in self.tensors if t not in written)

    @property
    def outputs(self) -> tuple[str, ...]:
        read = {t for e in self.einsums for t in e.input_tensors}
        return tuple(e.output.tensor for e in self.einsums if e.output.tensor not in read)

    @property
    def intermediates(self) -> tuple[str, ...]:
        read = {t for e in self.einsums for t in e.input_tensors}
        return tuple(e.output.tensor for e in self.einsums if e.output.tensor in read)

    def producer(self, tensor: str) -> Einsum | None:
        return next((e for e in self.einsums if e.output.tensor == tensor), None)

    def points(self, e: Einsum) -> int:
        """Size of the iteration space of one Einsum."""
        return prod(self.rank_sizes[r] for r in e.ranks)

    def counts(self, e: Einsum) -> Counts:
        """Operations and compulsory bytes of one Einsum: each input read once, the output written once.

        A product reduced by sum is one MAC per point (2 operations). Otherwise every map operator
        costs one operation per point, and a reduction one more per point (accumulating into the
        output), so the FLOP count of `Z[m,n] = A[m,k] * B[k,n]` is 2*M*N*K either way.
        """
        n = self.points(e)
        tensors = self.tensors
        read = sum(tensors[t].nbytes for t in e.input_tensors)
        written = tensors[e.output.tensor].nbytes
        if e.is_mac:
            return Counts(macs=n, ops={}, bytes_read=read, bytes_written=written)
        ops = {k: v * n for k, v in e.op_counts_per_point().items()}
        if e.reduced_ranks:
            kind = "add" if e.reduce_op == "sum" else e.reduce_op
            ops[kind] = ops.get(kind, 0) + n
        return Counts(macs=0, ops=ops, bytes_read=read, bytes_written=written)

    def total_counts(self) -> Counts:
        """Work summed over Einsums; bytes are the cascade's compulsory traffic (inputs and outputs)."""
        work = Counts()
        for e in self.einsums:
            work = work + self.counts(e)
        tensors = self.tensors
        return Counts(work.macs, work.ops, sum(tensors[t].nbytes for t in self.inputs),
                      sum(tensors[t].nbytes for t in self.outputs))

    def describe(self) -> str:
        sizes = " ".join(f"{r}={s}" for r, s in self.rank_sizes.items())
        return f"{self.name}: " + "; ".join(str(e) for e in self.einsums) + f"  ({sizes})"
