"""The Einsum IR: extended Einsums in the TeAAL / FuseMax notation.

An Einsum assigns to one output tensor an expression over input tensor accesses; ranks of the
iteration space absent from the output are reduced, by sum unless the equation says otherwise
(`GM[p] = QK[m,p] :: max`). Beyond `Z[m,n] = A[m,k] * B[k,n]` the IR carries what attention and MoE
cascades need:

- map operators `+ - * /`, functions (`exp`, `max`, `tanh`, `gelu`, ...) and constants (`inf`);
- reduce operators `sum`, `max`, `min` (written `:: max` after the expression);
- partitioned ranks: with `m -> m1, m0` declared on the cascade, `K[e,m1,m0]` reads `K[e,m]` at
  `m = m1*M0 + m0` (a view, no data movement);
- iterative ranks for recurrences: `RM[m1+1,p] = max(RM[m1,p], LM[m1,p])` carries a running value
  across `m1`; `RM[0,p] = -inf` initialises it and `RNV[f,M1,p]` reads its final value (an upper-case
  size symbol is the extent of the rank of the same name in lower case);
- indirect indices for gathers and scatters: `XE[u,d] = X[IDX[u],d]`, and accumulating writes
  `Y[IDX[u],d] += W[u] * YE[u,d]` (several Einsums may add into one tensor).

Rank names start with a lower-case letter; tensors and size symbols with an upper-case one.
The grammar lives in `parser.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Union

FUNCTIONS = {"exp": 1, "max": 2, "min": 2, "tanh": 1, "sqrt": 1, "rsqrt": 1, "sigmoid": 1, "silu": 1,
             "gelu": 1, "gelu_tanh": 1, "relu": 1}
"""Element-wise functions and their arity. Each counts as one operation of its own kind."""

REDUCE_OPS = ("sum", "max", "min")


@dataclass(frozen=True)
class Index:
    """One subscript: a rank plus a constant offset, a fixed position, or an indirect lookup."""

    rank: str = ""                    # the iterated rank (plain or with offset)
    offset: int = 0                   # m1+1 -> rank "m1", offset 1
    fixed: int | str | None = None    # a position: an int, or a size symbol such as "M1"
    via: "Access | None" = None       # indirect: the index tensor access, as IDX[u]

    @property
    def free(self) -> tuple[str, ...]:
        """Iteration ranks this subscript ranges over."""
        if self.via is not None:
            return self.via.ranks
        if self.fixed is not None:
            return ()
        return (self.rank,)

    @property
    def plain(self) -> bool:
        return self.via is None and self.fixed is None and self.offset == 0

    def __str__(self) -> str:
        if self.via is not None:
            return str(self.via)
        if self.fixed is not None:
            return str(self.fixed)
        return self.rank + (f"{self.offset:+d}" if self.offset else "")


@dataclass(frozen=True)
class Access:
    """A tensor read or written at the given subscripts: `A[m,k]`, `RM[m1+1,p]`, `X[IDX[u],d]`."""

    tensor: str
    indices: tuple[Index, ...]

    @staticmethod
    def of(tensor: str, ranks) -> "Access":
        """A plain access, `Access.of("A", ("m", "k"))`."""
        return Access(tensor, tuple(Index(r) for r in ranks))

    @property
    def ranks(self) -> tuple[str, ...]:
        """Iteration ranks of the access, in subscript order (a plain access: one per subscript)."""
        out: list[str] = []
        for ix in self.indices:
            out += [r for r in ix.free if r not in out]
        return tuple(out)

    @property
    def plain(self) -> bool:
        """Every subscript is a bare rank: the access is a projection of the iteration space."""
        return all(ix.plain for ix in self.indices)

    @property
    def sliced(self) -> bool:
        """Every subscript is a bare rank or a fixed position (W1[3,d,i]: expert 3's matrix)."""
        return all(ix.plain or (ix.fixed is not None and ix.via is None) for ix in self.indices)

    @property
    def index_accesses(self) -> tuple["Access", ...]:
        return tuple(ix.via for ix in self.indices if ix.via is not None)

    def __str__(self) -> str:
        return f"{self.tensor}[{','.join(map(str, self.indices))}]"


@dataclass(frozen=True)
class Const:
    value: float

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * /
    lhs: "Expr"
    rhs: "Expr"

    def __str__(self) -> str:
        return f"({self.lhs} {self.op} {self.rhs})"


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple["Expr", ...]

    def __str__(self) -> str:
        return f"{self.fn}({', '.join(map(str, self.args))})"


@dataclass(frozen=True)
class Neg:
    arg: "Expr"

    def __str__(self) -> str:
        return f"-{self.arg}"


Expr = Union[Access, Const, BinOp, Call, Neg]

OP_KIND = {"+": "add", "-": "sub", "*": "mul", "/": "div"}


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of an expression, depth first, left to right."""
    yield expr
    if isinstance(expr, BinOp):
        yield from walk(expr.lhs)
        yield from walk(expr.rhs)
    elif isinstance(expr, Call):
        for a in expr.args:
            yield from walk(a)
    elif isinstance(expr, Neg):
        yield from walk(expr.arg)


@dataclass(frozen=True)
class Einsum:
    """`output (+)= expr :: reduce_op`, reduced over the iteration ranks absent from the output."""

    output: Access
    expr: Expr
    reduce_op: str = "sum"
    text: str = ""
    accumulate: bool = False          # `+=`: add into the tensor instead of assigning it

    @property
    def name(self) -> str:
        return self.output.tensor

    @property
    def inputs(self) -> tuple[Access, ...]:
        """Tensor reads in order of appearance, index tensors of indirect subscripts included."""
        out: list[Access] = []
        for n in walk(self.expr):
            if isinstance(n, Access):
                out.append(n)
                out += n.index_accesses
        out += self.output.index_accesses
        return tuple(out)

    @property
    def input_tensors(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.tensor for a in self.inputs))

    @property
    def ranks(self) -> tuple[str, ...]:
        """The iteration space: output ranks first, then the reduced ranks."""
        seen: dict[str, None] = dict.fromkeys(self.output.ranks)
        for a in self.inputs:
            for r in a.ranks:
                seen.setdefault(r)
        return tuple(seen)

    @property
    def reduced_ranks(self) -> tuple[str, ...]:
        return tuple(r for r in self.ranks if r not in self.output.ranks)

    @property
    def is_mac(self) -> bool:
        """A product of two accesses reduced by sum: one multiply-accumulate per point.

        The operands may fix some positions (W1[3,d,i] is one expert's matrix); no offsets or lookups.
        """
        e = self.expr
        return (self.reduce_op == "sum" and bool(self.reduced_ranks) and isinstance(e, BinOp) and e.op == "*"
                and isinstance(e.lhs, Access) and isinstance(e.rhs, Access) and e.lhs.sliced and e.rhs.sliced
                and self.output.plain and not self.accumulate)

    @property
    def is_fill(self) -> bool:
        """No tensor on the right: the output (or a slice of it) is set to a constant."""
        return not any(isinstance(n, Access) for n in walk(self.expr))

    @property
    def is_movement(self) -> bool:
        """A bare tensor read with no arithmetic and no reduction: a view, gather or scatter."""
        return isinstance(self.expr, Access) and not self.reduced_ranks and not self.accumulate

    @property
    def iterative(self) -> tuple[str, ...]:
        """Ranks this Einsum carries a value across (the output written at rank + offset)."""
        return tuple(ix.rank for ix in self.output.indices if ix.offset and ix.via is None and ix.fixed is None)

    def op_counts_per_point(self) -> dict[str, int]:
        """Map operations at each point of the iteration space, by kind."""
        counts: dict[str, int] = {}
        for n in walk(self.expr):
            kind = (OP_KIND[n.op] if isinstance(n, BinOp) else n.fn if isinstance(n, Call)
                    else "neg" if isinstance(n, Neg) else None)
            if kind:
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def __str__(self) -> str:
        return self.text or f"{self.output} {'+=' if self.accumulate else '='} {self.expr}"
