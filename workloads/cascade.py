"""`Cascade`: a DAG of Einsums over named ranks with sizes, and tensors with data types.

A tensor written by an Einsum and read by a later one is an intermediate; tensors no Einsum writes
are the cascade's inputs; tensors no Einsum reads are its outputs. Shapes, data types, partitions and
recurrences are checked once, at construction, so an impossible workload fails here and not deep
inside the simulator.

Each tensor has canonical dimensions: the ranks of its subscripts with any declared partition pair
(`m1, m0` for `m -> m1, m0`) folded back into its parent, so `K[e,m1,m0]` and `K[e,m]` are one tensor
of shape (E, M). A dimension indexed with an offset or a size symbol (`RM[m1+1,p]`, `RNV[f,M1,p]`)
extends one past its rank: RM holds M1 + 1 running values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Iterable, Mapping

from loomsim.dtypes import DType, dtype
from loomsim.errors import LoomError, closest
from loomsim.workloads.einsum import Access, Einsum
from loomsim.workloads.parser import parse_einsum


@dataclass(frozen=True)
class Tensor:
    """A tensor of a cascade: its canonical ranks (axis order), their extents and its data type."""

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
        """Operations: 2 per MAC plus one per other operation."""
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

    def scaled(self, n: int) -> "Counts":
        return Counts(self.macs * n, {k: v * n for k, v in self.ops.items()}, self.bytes_read * n,
                      self.bytes_written * n)


def _err(cascade: str, msg: str) -> LoomError:
    return LoomError(f"cascade '{cascade}': {msg}")


@dataclass(frozen=True)
class Cascade:
    """Einsums in program order, rank sizes shared by all of them, and a data type per tensor."""

    name: str
    einsums: tuple[Einsum, ...]
    rank_sizes: Mapping[str, int]
    dtypes: Mapping[str, str] = field(default_factory=dict)
    default_dtype: str = "bf16"
    partitions: Mapping[str, tuple[str, str]] = field(default_factory=dict)   # m -> (m1, m0)
    tensor_ranks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # for tensors only read at
    # fixed positions (an expert's slice WU_E[3,d,i] names no rank for the expert dimension)

    def __post_init__(self):
        object.__setattr__(self, "_tensors", self._validate())

    # ---- construction ----------------------------------------------------------------------

    @staticmethod
    def from_text(name: str, equations: Iterable[str] | str, rank_sizes: Mapping[str, int],
                  dtypes: Mapping[str, str] | None = None, default_dtype: str = "bf16",
                  partitions: Mapping[str, tuple[str, str]] | None = None,
                  tensor_ranks: Mapping[str, tuple[str, ...]] | None = None) -> "Cascade":
        """Build from equation strings (a list, or one string with one equation per line or ';')."""
        if isinstance(equations, str):
            equations = [e for part in equations.split("\n") for e in part.split(";")]
        einsums = tuple(parse_einsum(e) for e in equations if e.strip())
        return Cascade(name, einsums, dict(rank_sizes), dict(dtypes or {}), default_dtype, dict(partitions or {}),
                       dict(tensor_ranks or {}))

    def _size(self, rank: str, where: str) -> int:
        size = self.rank_sizes.get(rank)
        if size is None:
            hint = closest(rank, self.rank_sizes)
            raise _err(self.name, f"rank '{rank}' ({where}) has no size; given sizes: {dict(self.rank_sizes)}"
                       + (f". Did you mean '{hint}'?" if hint else "."))
        return size

    def _dims(self, acc: Access, iterative: set[str]) -> list[str | None]:
        """The canonical dimension of each subscript (None where a position, lookup or shift hides it).

        A subscript shifted along a rank that no Einsum iterates (KC[b,h,e,p+4]: the new keys written
        at the end of a cache of m positions) addresses a dimension other accesses name.
        """
        dims: list[str | None] = [ix.rank if ix.via is None and ix.fixed is None
                                  and (ix.offset == 0 or ix.rank in iterative) else None for ix in acc.indices]
        parent_of = {pair: parent for parent, pair in self.partitions.items()}
        out: list[str | None] = []
        i = 0
        while i < len(dims):
            if i + 1 < len(dims) and (dims[i], dims[i + 1]) in parent_of and acc.indices[i].offset == 0 \
                    and acc.indices[i + 1].offset == 0:
                out.append(parent_of[(dims[i], dims[i + 1])])
                i += 2
            else:
                if dims[i] is None and acc.indices[i].fixed is not None and isinstance(acc.indices[i].fixed, str):
                    dims[i] = acc.indices[i].fixed.lower()       # RNV[f,M1,p]: the m1 dimension
                out.append(dims[i])
                i += 1
        return out

    def _validate(self) -> dict[str, Tensor]:
        if not self.einsums:
            raise _err(self.name, "it has no Einsums.")
        dtype(self.default_dtype)
        for parent, pair in self.partitions.items():
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise _err(self.name, f"partition of '{parent}' must be two ranks (outer, inner), got {pair!r}.")
            outer, inner = (self._size(r, f"partition of {parent}") for r in pair)
            if parent in self.rank_sizes and self.rank_sizes[parent] != outer * inner:
                raise _err(self.name, f"partition {parent} -> {pair[0]}, {pair[1]}: {parent} = "
                           f"{self.rank_sizes[parent]} but {pair[0]} x {pair[1]} = {outer} x {inner} = {outer * inner}.")
        for r, size in self.rank_sizes.items():
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise _err(self.name, f"rank '{r}' has size {size!r}; sizes are positive integers.")
        used = set()
        dims_of: dict[str, list[str | None]] = {}
        extra: dict[str, list[int]] = {}
        writers: dict[str, list[Einsum]] = {}
        iterative = set(self.iterative_ranks)
        for e in self.einsums:
            for r in e.ranks:
                self._size(r, f"in '{e}'")
                used.add(r)
            for acc in (e.output, *e.inputs):
                dims = self._dims(acc, iterative)
                seen = dims_of.setdefault(acc.tensor, dims)
                if len(seen) != len(dims) or any(a and b and a != b for a, b in zip(seen, dims)):
                    raise _err(self.name, f"tensor {acc.tensor} is used as {acc} in '{e}' but as "
                               f"{acc.tensor}[{','.join(d or '?' for d in seen)}] elsewhere; a tensor keeps one "
                               "rank order (a declared partition may split a rank in place).")
                dims_of[acc.tensor] = [a or b for a, b in zip(seen, dims)]
                ext = extra.setdefault(acc.tensor, [0] * len(dims))
                if len(acc.indices) == len(dims):          # no split pair: subscripts align with dims
                    for j, ix in enumerate(acc.indices):
                        if ix.offset > 0 and ix.rank in self.iterative_ranks:
                            ext[j] = max(ext[j], ix.offset)   # RM[m1+1,p]: one more running value
                        if isinstance(ix.fixed, str):      # RNV[f,M1,p] reads the value after the last step
                            ext[j] = max(ext[j], 1)
            writers.setdefault(e.output.tensor, []).append(e)
        for t, ranks in self.tensor_ranks.items():
            if t not in dims_of:
                raise _err(self.name, f"ranks declared for tensor '{t}', which no Einsum uses.")
            seen = dims_of[t]
            if len(seen) != len(ranks) or any(a and a != b for a, b in zip(seen, ranks)):
                raise _err(self.name, f"tensor {t} is declared [{','.join(ranks)}] but used as "
                           f"[{','.join(d or '?' for d in seen)}].")
            dims_of[t] = list(ranks)
            used |= set(ranks)
        for r, pair in self.partitions.items():
            used |= {r} if any(r in d for d in dims_of.values()) else set()
            used |= set(pair)
        unused = set(self.rank_sizes) - used - {ix.fixed.lower() for e in self.einsums
                                                 for a in (e.output, *e.inputs) for ix in a.indices
                                                 if isinstance(ix.fixed, str)}
        if unused:
            raise _err(self.name, f"sizes given for ranks no Einsum uses: {sorted(unused)}.")
        self._check_writers(writers)
        self._check_order()
        tensors = {}
        index_tensors = {a.tensor for e in self.einsums for x in (e.output, *e.inputs) for a in x.index_accesses}
        for t, dims in dims_of.items():
            if any(d is None for d in dims):
                raise _err(self.name, f"cannot tell the ranks of tensor {t}: index it by rank names in at least "
                           "one access.")
            shape = tuple(self._size(d, f"dimension of {t}") + x for d, x in zip(dims, extra[t]))
            dt = self.dtypes.get(t, "int32" if t in index_tensors else self.default_dtype)
            tensors[t] = Tensor(t, tuple(dims), shape, dtype(dt))
        for e in self.einsums:
            for acc in (e.output, *e.inputs):
                if len(acc.indices) != len(tensors[acc.tensor].ranks):
                    continue
                for ix, dim, extent in zip(acc.indices, tensors[acc.tensor].ranks, tensors[acc.tensor].shape):
                    if isinstance(ix.fixed, int) and not 0 <= ix.fixed < extent:
                        raise _err(self.name, f"'{e}': position {ix.fixed} of {acc.tensor} is outside its "
                                   f"{dim} dimension (0..{extent - 1}).")
                    if ix.offset and ix.rank != dim and ix.via is None and ix.fixed is None and not (
                            0 <= ix.offset and ix.offset + self.rank_sizes[ix.rank] <= extent):
                        raise _err(self.name, f"'{e}': {ix} runs outside the {dim} dimension of {acc.tensor} "
                                   f"(0..{extent - 1}).")
        for t, d in self.dtypes.items():
            if t not in tensors:
                raise _err(self.name, f"data type given for unknown tensor '{t}'; tensors: {sorted(tensors)}.")
        for t in tensors:
            if t in index_tensors and tensors[t].dtype.is_float:
                raise _err(self.name, f"tensor {t} is used as an index but has data type {tensors[t].dtype.name}; "
                           "index tensors need an integer type (int32).")
        return tensors

    def _check_writers(self, writers: dict[str, list[Einsum]]) -> None:
        for t, ws in writers.items():
            computed = [e for e in ws if not (e.is_fill and any(ix.fixed is not None for ix in e.output.indices))]
            plain = [e for e in computed if not e.accumulate
                     and not any(ix.via is not None for ix in e.output.indices)]   # scatters write disjoint parts
            if len(plain) > 1:
                raise _err(self.name, f"tensor {t} is written by two Einsums ('{plain[0]}' and '{plain[1]}'); use "
                           "'+=' to accumulate into one tensor.")

    def _check_order(self) -> None:
        written: set[str] = set()
        # tensors written only by '+=' hold state from before the cascade (a KV cache being appended to)
        all_written = {e.output.tensor for e in self.einsums} - self.state
        for e in self.einsums:
            for a in e.inputs:
                t = a.tensor
                if t in written or t not in all_written:
                    continue
                raise _err(self.name, f"'{e}' reads {t} before the Einsum that writes it; list Einsums in an order "
                           "where producers come first (a recurrence needs its initialisation first).")
            written.add(e.output.tensor)

    # ---- queries ---------------------------------------------------------------------------

    @property
    def tensors(self) -> dict[str, Tensor]:
        return dict(self._tensors)

    @property
    def iterative_ranks(self) -> tuple[str, ...]:
        """Ranks a running value is carried across, in order of first appearance.

        Rank r is iterative when an Einsum writes a tensor at r + k (k > 0) and the tensor is read at r
        in the same subscript position (RM[m1+1,p] written, RM[m1,p] read). A shifted write that no read
        matches (new keys appended to a cache at p + 4) is just a placement.
        """
        out: dict[str, None] = {}
        by_tensor: dict[str, list[Access]] = {}
        for e in self.einsums:
            for a in (e.output, *e.inputs):
                by_tensor.setdefault(a.tensor, []).append(a)
        for e in self.einsums:
            for i, ix in enumerate(e.output.indices):
                if ix.offset > 0 and ix.via is None and ix.fixed is None and any(
                        len(a.indices) > i and a.indices[i].plain and a.indices[i].rank == ix.rank
                        for a in by_tensor[e.output.tensor]):
                    out.setdefault(ix.rank)
        return tuple(out)

    @property
    def state(self) -> set[str]:
        """Tensors every writer of which accumulates (`+=`): they may hold values from before the cascade."""
        writers: dict[str, list[Einsum]] = {}
        for e in self.einsums:
            writers.setdefault(e.output.tensor, []).append(e)
        return {t for t, ws in writers.items() if all(w.accumulate for w in ws)}

    @property
    def inputs(self) -> tuple[str, ...]:
        written = {e.output.tensor for e in self.einsums}
        return tuple(t for t in self._tensors if t not in written)

    @property
    def outputs(self) -> tuple[str, ...]:
        read = {t for e in self.einsums for t in e.input_tensors}
        return tuple(dict.fromkeys(e.output.tensor for e in self.einsums if e.output.tensor not in read))

    @property
    def intermediates(self) -> tuple[str, ...]:
        read = {t for e in self.einsums for t in e.input_tensors}
        return tuple(dict.fromkeys(e.output.tensor for e in self.einsums if e.output.tensor in read))

    def producer(self, tensor: str) -> Einsum | None:
        return next((e for e in self.einsums if e.output.tensor == tensor and not e.is_fill), None)

    def points(self, e: Einsum) -> int:
        """Size of the iteration space of one Einsum."""
        return prod(self.rank_sizes[r] for r in e.ranks)

    def counts(self, e: Einsum) -> Counts:
        """Operations and compulsory bytes of one Einsum: each input read once, the output written once.

        A product of two tensors reduced by sum is one MAC per point (2 operations). Otherwise every map
        operator costs one operation per point, and a reduction one more per point (accumulating into
        the output), so the FLOP count of `Z[m,n] = A[m,k] * B[k,n]` is 2*M*N*K either way. Views,
        gathers, scatters and fills move data but do no arithmetic.
        """
        n = self.points(e)
        read = sum(self._access_bytes(a, e) for a in e.inputs)
        written = self._access_bytes(e.output, e)
        if e.is_mac:
            return Counts(macs=n, ops={}, bytes_read=read, bytes_written=written)
        ops = {k: v * n for k, v in e.op_counts_per_point().items()}
        if e.reduced_ranks or e.accumulate:
            kind = "add" if e.reduce_op == "sum" else e.reduce_op
            ops[kind] = ops.get(kind, 0) + n
        return Counts(macs=0, ops=ops, bytes_read=read, bytes_written=written)

    def _access_bytes(self, a: Access, e: Einsum) -> int:
        """Bytes one access touches: the tensor's dtype times the elements its subscripts reach."""
        elements = prod(self.rank_sizes[r] for r in a.ranks)
        return self._tensors[a.tensor].dtype.nbytes(elements)

    def total_counts(self) -> Counts:
        """Work summed over Einsums; bytes are the cascade's compulsory traffic (inputs and outputs)."""
        work = Counts()
        for e in self.einsums:
            work = work + self.counts(e)
        return Counts(work.macs, work.ops, sum(self._tensors[t].nbytes for t in self.inputs),
                      sum(self._tensors[t].nbytes for t in self.outputs))

    def live_elements(self, tensor: str) -> int:
        """Elements of `tensor` that must be held at once when the iterative rank advances one step.

        A tensor every access of which indexes the iterative rank (plainly or with an offset) is needed
        one step at a time: its extent along that rank counts as 1 + the largest offset. Any other tensor
        is live whole. This is the check that a 1-pass cascade never materialises the score matrix.
        """
        accesses = [a for e in self.einsums for a in (e.output, *e.inputs) if a.tensor == tensor]
        dims = self._tensors[tensor].ranks

        def steps_along(a: Access, r: str) -> bool:
            """The access takes one step of r: r itself (maybe offset), or a fixed first/last position."""
            if any(ix.rank == r and ix.via is None and ix.fixed is None for ix in a.indices):
                return True
            return len(a.indices) == len(dims) and any(
                d == r and ix.fixed is not None for ix, d in zip(a.indices, dims))

        steps = [r for r in self.iterative_ranks if all(steps_along(a, r) for a in accesses)]
        if not steps:
            return self._tensors[tensor].elements
        r = steps[0]
        shift = 1 + max((ix.offset for a in accesses for ix in a.indices if ix.rank == r), default=0)
        out = 1
        for d, extent in zip(dims, self._tensors[tensor].shape):
            out *= shift if d == r else extent
        # a partitioned parent holding r (m -> m1, m0) keeps only one block of it
        for parent, (outer, inner) in self.partitions.items():
            if outer == r and parent in dims:
                out = out // self.rank_sizes[parent] * self.rank_sizes[inner]
        return out

    def describe(self) -> str:
        sizes = " ".join(f"{r}={s}" for r, s in self.rank_sizes.items())
        return f"{self.name}: " + "; ".join(str(e) for e in self.einsums) + f"  ({sizes})"
