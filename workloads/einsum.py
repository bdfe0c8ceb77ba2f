"""The Einsum IR and its parser: `Z[m,n] = A[m,k] * B[k,n]`.

An Einsum assigns to one output tensor an expression over input tensor accesses. Ranks of the
iteration space that do not appear in the output are reduced (by sum unless the Einsum says
otherwise), as in TeAAL/FuseMax notation. The right-hand side is an expression tree, so operators
beyond multiply (`+ - * /`, `exp(...)`, `max(a, b)`) parse and evaluate today, and the extended
notation (other reductions, partitioned and iterative ranks) can be added without changing callers.

Grammar (whitespace-insensitive):

    einsum  := access '=' expr
    access  := NAME '[' [NAME (',' NAME)*] ']'
    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := '-' unary | atom
    atom    := access | NUMBER | FUNC '(' expr (',' expr)* ')' | '(' expr ')'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Union

from loomsim.errors import LoomError, closest

FUNCTIONS = {"exp": 1, "max": 2}
"""Element-wise functions and their arity."""

REDUCE_OPS = ("sum", "max")


class EinsumParseError(LoomError):
    """An Einsum that does not parse: names the position, what was found and what was expected."""

    def __init__(self, text: str, pos: int, found: str, expected: str, hint: str | None = None):
        self.text, self.pos, self.found, self.expected = text, pos, found, expected
        pointer = " " * pos + "^"
        msg = (f"cannot parse Einsum at position {pos + 1}: found {found}, expected {expected}."
               + (f" Did you mean '{hint}'?" if hint else "") + f"\n    {text}\n    {pointer}")
        super().__init__(msg)


# ---- expression tree ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Access:
    """A tensor read or written at the given ranks: `A[m,k]`."""

    tensor: str
    ranks: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.tensor}[{','.join(self.ranks)}]"


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
    """`output = expr`, reduced over the ranks absent from the output with `reduce_op`."""

    output: Access
    expr: Expr
    reduce_op: str = "sum"
    text: str = ""

    @property
    def name(self) -> str:
        return self.output.tensor

    @property
    def inputs(self) -> tuple[Access, ...]:
        """Input accesses in order of appearance (a tensor read twice appears twice)."""
        return tuple(n for n in walk(self.expr) if isinstance(n, Access))

    @property
    def input_tensors(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for a in self.inputs:
            seen.setdefault(a.tensor)
        return tuple(seen)

    @property
    def ranks(self) -> tuple[str, ...]:
        """All ranks of the iteration space: output ranks first, then reduced ranks."""
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
        """A product of two accesses reduced by sum: one multiply-accumulate per point."""
        e = self.expr
        return (self.reduce_op == "sum" and bool(self.reduced_ranks) and isinstance(e, BinOp) and e.op == "*"
                and isinstance(e.lhs, Access) and isinstance(e.rhs, Access))

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
        return self.text or f"{self.output} = {self.expr}"


# ---- parser ------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
                    r"|(?P<op>[\[\](),=+\-*/]))")


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []  # (kind, value, position)
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
                raise EinsumParseError(text, start, repr(text[start]),
                                       "a tensor name, a rank name, a number or one of [ ] ( ) , = + - * /")
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", len(self.text))

    def describe(self, tok) -> str:
        kind, value, _ = tok
        return "the end of the text" if kind == "end" else f"'{value}'"

    def expect(self, value: str, what: str) -> None:
        tok = self.peek()
        if tok[1] != value or tok[0] != "op":
            raise EinsumParseError(self.text, tok[2], self.describe(tok), what)
        self.i += 1

    def name(self, what: str) -> str:
        tok = self.peek()
        if tok[0] != "name":
            raise EinsumParseError(self.text, tok[2], self.describe(tok), what)
        self.i += 1
        return tok[1]

    def access(self, tensor: str, tensor_pos: int) -> Access:
        self.expect("[", f"'[' after the tensor name '{tensor}'")
        ranks: list[str] = []
        if self.peek()[1] != "]":
            while True:
                tok = self.peek()
                r = self.name("a rank name (such as m or k)")
                if r in ranks:
                    raise EinsumParseError(self.text, tok[2], f"rank '{r}' a second time in {tensor}",
                                           "each rank at most once per tensor")
                ranks.append(r)
                if self.peek()[1] == ",":
                    self.i += 1
                    continue
                break
        self.expect("]", "',' or ']' to close the rank list")
        return Access(tensor, tuple(ranks))

    def einsum(self) -> Einsum:
        tok = self.peek()
        out_name = self.name("the output tensor name at the start (as in Z[m,n] = ...)")
        out = self.access(out_name, tok[2])
        self.expect("=", "'=' after the output tensor")
        expr = self.expr()
        tok = self.peek()
        if tok[0] != "end":
            raise EinsumParseError(self.text, tok[2], self.describe(tok), "an operator (+ - * /) or the end")
        return _check(Einsum(out, expr, text=" ".join(self.text.split())), self.text)

    def expr(self) -> Expr:
        node = self.term()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op = self.peek()[1]
            self.i += 1
            node = BinOp(op, node, self.term())
        return node

    def term(self) -> Expr:
        node = self.unary()
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "op":
            op = self.peek()[1]
            self.i += 1
            node = BinOp(op, node, self.unary())
        return node

    def unary(self) -> Expr:
        if self.peek()[1] == "-" and self.peek()[0] == "op":
            self.i += 1
            return Neg(self.unary())
        return self.atom()

    def atom(self) -> Expr:
        kind, value, pos = self.peek()
        if kind == "num":
            self.i += 1
            return Const(float(value))
        if kind == "op" and value == "(":
            self.i += 1
            node = self.expr()
            self.expect(")", "')' to close the parenthesis")
            return node
        if kind == "name":
            self.i += 1
            nxt = self.peek()
            if nxt[1] == "(":
                if value not in FUNCTIONS:
                    raise EinsumParseError(self.text, pos, f"unknown function '{value}'",
                                           "one of " + ", ".join(FUNCTIONS), closest(value, FUNCTIONS))
                self.i += 1
                args = [self.expr()]
                while self.peek()[1] == ",":
                    self.i += 1
                    args.append(self.expr())
                self.expect(")", f"',' or ')' in the call of {value}")
                if len(args) != FUNCTIONS[value]:
                    raise EinsumParseError(self.text, pos, f"{value}() with {len(args)} argument(s)",
                                           f"{FUNCTIONS[value]} argument(s)")
                return Call(value, tuple(args))
            return self.access(value, pos)
        raise EinsumParseError(self.text, pos, self.describe((kind, value, pos)),
                               "a tensor access such as A[m,k], a number, a function call or '('")


def _check(e: Einsum, text: str) -> Einsum:
    """Semantic checks that the grammar cannot make."""
    in_ranks = {r for a in e.inputs for r in a.ranks}
    for r in e.output.ranks:
        if r not in in_ranks:
            pos = text.find(r, text.find("["))
            raise EinsumParseError(text, max(pos, 0), f"output rank '{r}' that no input has",
                                   "every output rank to appear in some input (" +
                                   ", ".join(sorted(in_ranks)) + ")", closest(r, in_ranks))
    if not e.inputs:
        raise EinsumParseError(text, text.find("=") + 1, "no tensor on the right-hand side",
                               "at least one input tensor access")
    if e.output.tensor in e.input_tensors:
        raise EinsumParseError(text, 0, f"'{e.output.tensor}' both written and read",
                               "an output tensor distinct from its inputs")
    return e


def parse_einsum(text: str, reduce_op: str = "sum") -> Einsum:
    """Parse one Einsum equation; errors name the position and what was expected."""
    if not isinstance(text, str) or not text.strip():
        raise EinsumParseError(str(text), 0, "an empty equation", "an equation such as Z[m,n] = A[m,k] * B[k,n]")
    if reduce_op not in REDUCE_OPS:
        raise LoomError(f"unknown reduce operator {reduce_op!r}; valid: {', '.join(REDUCE_OPS)}.")
    e = _Parser(text).einsum()
    return Einsum(e.output, e.expr, reduce_op, e.text)
