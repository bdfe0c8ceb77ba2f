"""Parser for extended Einsums; errors name the position, what was found and what was expected.

Grammar (whitespace-insensitive):

    einsum  := access ('=' | '+=') expr ['::' REDUCE]
    access  := TENSOR '[' [index (',' index)*] ']'
    index   := rank [('+' | '-') INT]     a rank, possibly offset (m1+1)
             | INT                         a fixed position (RM[0,p])
             | SIZE                        the extent of a rank: M1 is the size of m1
             | TENSOR '[' ... ']'          an indirect subscript (X[IDX[u],d])
    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := '-' unary | atom
    atom    := NUMBER | 'inf' | FUNC '(' expr (',' expr)* ')' | '(' expr ')' | access

Rank names start with a lower-case letter, size symbols with an upper-case one.
"""
from __future__ import annotations

import re

from loomsim.errors import LoomError, closest
from loomsim.workloads.einsum import (FUNCTIONS, REDUCE_OPS, Access, BinOp, Call, Const, Einsum, Index, Neg,
                                      walk)


class EinsumParseError(LoomError):
    """An Einsum that does not parse: names the position, what was found and what was expected."""

    def __init__(self, text: str, pos: int, found: str, expected: str, hint: str | None = None):
        self.text, self.pos, self.found, self.expected = text, pos, found, expected
        pointer = " " * pos + "^"
        msg = (f"cannot parse Einsum at position {pos + 1}: found {found}, expected {expected}."
               + (f" Did you mean '{hint}'?" if hint else "") + f"\n    {text}\n    {pointer}")
        super().__init__(msg)


_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)|(?P<int>\d+)"
                    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>::|\+=|[\[\](),=+\-*/]))")


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
                                       "a tensor name, a rank name, a number or one of [ ] ( ) , = += :: + - * /")
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0

    # ---- token helpers ---------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> tuple[str, str, int]:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else ("end", "", len(self.text))

    def at(self, value: str) -> bool:
        kind, v, _ = self.peek()
        return kind == "op" and v == value

    def describe(self, tok) -> str:
        kind, value, _ = tok
        return "the end of the text" if kind == "end" else f"'{value}'"

    def fail(self, expected: str, tok=None, found: str | None = None, hint: str | None = None):
        tok = tok or self.peek()
        raise EinsumParseError(self.text, tok[2], found or self.describe(tok), expected, hint)

    def expect(self, value: str, what: str) -> None:
        if not self.at(value):
            self.fail(what)
        self.i += 1

    def name(self, what: str) -> str:
        tok = self.peek()
        if tok[0] != "name":
            self.fail(what)
        self.i += 1
        return tok[1]

    # ---- grammar ---------------------------------------------------------------------------

    def einsum(self) -> Einsum:
        out_name = self.name("the output tensor name at the start (as in Z[m,n] = ...)")
        out = self.access(out_name)
        accumulate = self.at("+=")
        if accumulate:
            self.i += 1
        else:
            self.expect("=", "'=' or '+=' after the output tensor")
        expr = self.expr()
        reduce_op = "sum"
        if self.at("::"):
            self.i += 1
            tok = self.peek()
            op = self.name("a reduce operator after '::' (" + ", ".join(REDUCE_OPS) + ")")
            if op not in REDUCE_OPS:
                self.fail("one of " + ", ".join(REDUCE_OPS), tok, f"unknown reduce operator '{op}'",
                          closest(op, REDUCE_OPS))
            reduce_op = op
        if self.peek()[0] != "end":
            self.fail("an operator (+ - * /), '::' or the end")
        return Einsum(out, expr, reduce_op, " ".join(self.text.split()), accumulate)

    def access(self, tensor: str, nested: bool = False) -> Access:
        self.expect("[", f"'[' after the tensor name '{tensor}'")
        indices: list[Index] = []
        positions: list[int] = []
        if not self.at("]"):
            while True:
                positions.append(self.peek()[2])
                indices.append(self.index(tensor, nested))
                if self.at(","):
                    self.i += 1
                    continue
                break
        self.expect("]", "',' or ']' to close the subscripts")
        seen: list[str] = []
        for ix, pos in zip(indices, positions):
            if ix.via is None and ix.fixed is None:
                if ix.rank in seen:
                    raise EinsumParseError(self.text, pos, f"rank '{ix.rank}' a second time in {tensor}",
                                           "each rank at most once per tensor")
                seen.append(ix.rank)
        return Access(tensor, tuple(indices))

    def index(self, tensor: str, nested: bool) -> Index:
        kind, value, pos = self.peek()
        if kind == "int":
            self.i += 1
            return Index(fixed=int(value))
        if kind != "name":
            self.fail("a rank name (such as m), a position (0), a size symbol (M1) or an index tensor")
        self.i += 1
        if self.at("["):
            if nested:
                self.fail("a rank or position inside an index tensor (indirect subscripts do not nest)",
                          ("name", value, pos))
            return Index(via=self.access(value, nested=True))
        if value[0].isupper():
            return Index(fixed=value)
        offset = 0
        if (self.at("+") or self.at("-")) and self.peek(1)[0] == "int":
            sign = 1 if self.peek()[1] == "+" else -1
            offset = sign * int(self.peek(1)[1])
            self.i += 2
        return Index(rank=value, offset=offset)

    def expr(self):
        node = self.term()
        while self.at("+") or self.at("-"):
            op = self.peek()[1]
            self.i += 1
            node = BinOp(op, node, self.term())
        return node

    def term(self):
        node = self.unary()
        while self.at("*") or self.at("/"):
            op = self.peek()[1]
            self.i += 1
            node = BinOp(op, node, self.unary())
        return node

    def unary(self):
        if self.at("-"):
            self.i += 1
            inner = self.unary()
            return Const(-inner.value) if isinstance(inner, Const) else Neg(inner)
        return self.atom()

    def atom(self):
        kind, value, pos = self.peek()
        if kind in ("num", "int"):
            self.i += 1
            return Const(float(value))
        if kind == "op" and value == "(":
            self.i += 1
            node = self.expr()
            self.expect(")", "')' to close the parenthesis")
            return node
        if kind == "name":
            self.i += 1
            if value == "inf" and not self.at("[") and not self.at("("):
                return Const(float("inf"))
            if self.at("("):
                if value not in FUNCTIONS:
                    self.fail("one of " + ", ".join(FUNCTIONS), (kind, value, pos), f"unknown function '{value}'",
                              closest(value, FUNCTIONS))
                self.i += 1
                args = [self.expr()]
                while self.at(","):
                    self.i += 1
                    args.append(self.expr())
                self.expect(")", f"',' or ')' in the call of {value}")
                if len(args) != FUNCTIONS[value]:
                    self.fail(f"{FUNCTIONS[value]} argument(s)", (kind, value, pos),
                              f"{value}() with {len(args)} argument(s)")
                return Call(value, tuple(args))
            return self.access(value)
        self.fail("a tensor access such as A[m,k], a number, a function call or '('")


def _check(e: Einsum, text: str) -> Einsum:
    """Semantic checks the grammar cannot make."""
    out = e.output
    if e.is_fill:
        if any(ix.via is not None for ix in out.indices):
            raise EinsumParseError(text, 0, "a constant scattered through an index tensor",
                                   "a tensor on the right-hand side")
        return e
    in_ranks = {r for a in e.inputs for r in a.ranks}
    for ix in out.indices:
        for r in ix.free:
            if r not in in_ranks:
                pos = text.find(r, text.find("["))
                raise EinsumParseError(text, max(pos, 0), f"output rank '{r}' that no input has",
                                       "every output rank to appear in some input (" +
                                       ", ".join(sorted(in_ranks)) + ")", closest(r, in_ranks))
    reads_output = [a for a in e.inputs if a.tensor == out.tensor]
    if reads_output and not e.iterative and not e.accumulate:
        raise EinsumParseError(text, 0, f"'{out.tensor}' both written and read",
                               "an output distinct from its inputs, unless it is a recurrence written at "
                               "an offset (RM[m1+1,p] = max(RM[m1,p], LM[m1,p]))")
    for ix in out.indices:
        if ix.fixed is not None and not e.is_fill:
            raise EinsumParseError(text, 0, f"a fixed position ({ix.fixed}) in the output of a computed Einsum",
                                   "fixed output positions only in initialisations such as RM[0,p] = -inf")
    return e


def parse_einsum(text: str, reduce_op: str | None = None) -> Einsum:
    """Parse one Einsum equation; errors name the position and what was expected.

    `reduce_op` (sum, max, min) overrides the default reduction when the text has no `::` clause.
    """
    if not isinstance(text, str) or not text.strip():
        raise EinsumParseError(str(text), 0, "an empty equation", "an equation such as Z[m,n] = A[m,k] * B[k,n]")
    if reduce_op is not None and reduce_op not in REDUCE_OPS:
        raise LoomError(f"unknown reduce operator {reduce_op!r}; valid: {', '.join(REDUCE_OPS)}.")
    e = _check(_Parser(text).einsum(), text)
    if reduce_op is not None and "::" not in text:
        e = Einsum(e.output, e.expr, reduce_op, e.text, e.accumulate)
    return e


__all__ = ["EinsumParseError", "parse_einsum", "walk"]
