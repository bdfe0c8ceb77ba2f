"""A numpy interpreter for Einsums and cascades, on small shapes: how cascades are checked for meaning.

Each Einsum is evaluated over its iteration space (output ranks, then reduced ranks) by viewing every
access as an array with one axis per iteration rank — partitioned ranks reshape the canonical axis,
offsets shift a window, fixed positions take one index, indirect subscripts gather with the index
tensor — applying the expression element-wise and reducing. A product reduced by sum goes through
`numpy.einsum`, which gives the same values without materialising the iteration space.

Einsums run in program order, except that at the first Einsum whose iteration space holds an
iterative rank, every Einsum holding that rank runs one step of the rank at a time, in program order
(this is how `RD[m1+1] = SPD[m1] + SLD[m1]` sees the previous step's value through SPD); Einsums after
the recurrence that read its result (`AV[f,p] = RNV[f,M1,p] / RD[M1,p]`) then run in turn.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from loomsim.errors import LoomError
from loomsim.workloads.cascade import Cascade
from loomsim.workloads.einsum import Access, BinOp, Call, Const, Einsum, Neg

_erf = np.vectorize(math.erf, otypes=[float])
_BINARY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
_CALLS = {
    "exp": np.exp, "max": np.maximum, "min": np.minimum, "tanh": np.tanh, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x), "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "silu": lambda x: x / (1.0 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0.0),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3))),
}
_REDUCE = {"sum": np.sum, "max": np.max, "min": np.min}


class _Run:
    """One evaluation of a cascade: its tensors by name, in canonical layout (float64)."""

    def __init__(self, cascade: Cascade, env: dict[str, np.ndarray]):
        self.c = cascade
        self.sizes = cascade.rank_sizes
        self.tensors = cascade.tensors
        self.env = env

    def _split_shape(self, acc: Access) -> list[int]:
        """The canonical shape with each partitioned dimension the access splits cut in two."""
        t = self.tensors[acc.tensor]
        shape, j = [], 0
        for dim, extent in zip(t.ranks, t.shape):
            pair = self.c.partitions.get(dim)
            ix = acc.indices
            if pair and j + 1 < len(ix) and (ix[j].rank, ix[j + 1].rank) == pair and ix[j].plain and ix[j + 1].plain:
                shape += [self.sizes[pair[0]], self.sizes[pair[1]]]
                j += 2
            else:
                shape.append(extent)
                j += 1
        return shape

    def _subscripts(self, acc: Access, pinned: Mapping[str, int]) -> tuple[tuple, list[str]]:
        """A numpy index for the access and the iteration ranks of the resulting axes, in order."""
        index, labels = [], []
        for ix in acc.indices:
            if ix.via is not None:
                idx, idx_labels = self.operand(ix.via, pinned)
                index.append(idx.astype(np.intp))
                labels += idx_labels
            elif ix.fixed is not None:
                index.append(ix.fixed if isinstance(ix.fixed, int) else self.sizes[ix.fixed.lower()])
            elif ix.rank in pinned:
                index.append(pinned[ix.rank] + ix.offset)
            else:
                index.append(slice(ix.offset, ix.offset + self.sizes[ix.rank]))
                labels.append(ix.rank)
        if sum(isinstance(i, np.ndarray) for i in index) > 1:
            raise LoomError(f"{acc}: at most one indirect subscript per access.")
        return tuple(index), labels

    def operand(self, acc: Access, pinned: Mapping[str, int]) -> tuple[np.ndarray, list[str]]:
        if acc.tensor not in self.env:
            raise LoomError(f"cascade '{self.c.name}': no value for tensor {acc.tensor} when reading {acc}.")
        arr = np.asarray(self.env[acc.tensor], dtype=float)
        want = self.tensors[acc.tensor].shape
        if arr.shape != want:
            raise LoomError(f"cascade '{self.c.name}': {acc.tensor} has shape {arr.shape}, its ranks say {want}.")
        index, labels = self._subscripts(acc, pinned)
        return arr.reshape(self._split_shape(acc))[index], labels

    def evaluate(self, e: Einsum, pinned: Mapping[str, int] = {}) -> tuple[np.ndarray, list[str]]:
        """The Einsum's value, with axes labelled by the output's free ranks."""
        space = [r for r in e.ranks if r not in pinned]
        out_labels = [r for r in e.output.ranks if r not in pinned]
        if e.is_mac:
            (a, la), (b, lb) = self.operand(e.expr.lhs, pinned), self.operand(e.expr.rhs, pinned)
            letters = {r: chr(ord("a") + i) for i, r in enumerate(space)}
            spec = "".join(letters[r] for r in la) + "," + "".join(letters[r] for r in lb) + "->" + \
                "".join(letters[r] for r in out_labels)
            return np.einsum(spec, a, b), out_labels

        def value(node):
            if isinstance(node, Access):
                arr, labels = self.operand(node, pinned)
                order = sorted(range(len(labels)), key=lambda i: space.index(labels[i]))
                shape = [1] * len(space)
                for i in order:
                    shape[space.index(labels[i])] = arr.shape[i]
                return np.transpose(arr, order).reshape(shape)
            if isinstance(node, Const):
                return np.asarray(node.value)
            if isinstance(node, Neg):
                return -value(node.arg)
            if isinstance(node, BinOp):
                return _BINARY[node.op](value(node.lhs), value(node.rhs))
            if isinstance(node, Call):
                return _CALLS[node.fn](*(value(a) for a in node.args))
            raise TypeError(node)  # pragma: no cover

        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            result = np.broadcast_to(value(e.expr), tuple(self.sizes[r] for r in space))
            n_out = len(out_labels)
            if len(space) > n_out:
                result = _REDUCE[e.reduce_op](result, axis=tuple(range(n_out, len(space))))
        return np.array(result), out_labels

    def write(self, e: Einsum, result: np.ndarray, labels: list[str], pinned: Mapping[str, int] = {}) -> None:
        acc = e.output
        t = self.tensors[acc.tensor]
        if acc.tensor not in self.env:
            self.env[acc.tensor] = (np.zeros if e.accumulate else lambda s: np.full(s, np.nan))(t.shape)
        view = self.env[acc.tensor].reshape(self._split_shape(acc))
        index, target = self._subscripts(acc, pinned)
        value = np.transpose(result, [labels.index(r) for r in target]) if target else result
        if e.accumulate:
            np.add.at(view, index, value)
        else:
            view[index] = value

    def run(self, e: Einsum, pinned: Mapping[str, int] = {}) -> None:
        result, labels = self.evaluate(e, pinned)
        self.write(e, result, labels, pinned)


def evaluate(e: Einsum, env: Mapping[str, np.ndarray], rank_sizes: Mapping[str, int]) -> np.ndarray:
    """Value of one stand-alone Einsum's output, axes in the order of its output ranks."""
    c = Cascade("einsum", (e,), dict(rank_sizes))
    run = _Run(c, {k: np.asarray(v, dtype=float) for k, v in env.items()})
    run.run(e)
    return run.env[e.output.tensor]


def run_cascade(cascade: Cascade, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate every Einsum in order; returns all tensors (inputs, intermediates, outputs)."""
    missing = [t for t in cascade.inputs if t not in inputs]
    if missing:
        raise LoomError(f"cascade '{cascade.name}' needs values for inputs {missing}.")
    run = _Run(cascade, {k: np.array(v, dtype=float) for k, v in inputs.items()})
    iterative = cascade.iterative_ranks
    done: set[int] = set()
    for i, e in enumerate(cascade.einsums):
        if i in done:
            continue
        r = next((r for r in iterative if r in e.ranks), None)
        if r is None:
            run.run(e)
            done.add(i)
            continue
        # the first Einsum of a recurrence: step the rank, running its whole body at each step
        body = [(j, x) for j, x in enumerate(cascade.einsums) if r in x.ranks]
        for step in range(cascade.rank_sizes[r]):
            for _, x in body:
                run.run(x, {r: step})
        done.update(j for j, _ in body)
    return run.env


def random_inputs(cascade: Cascade, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random values for every input tensor (float64, for checking meaning, not precision).

    Index tensors get valid positions of the dimension they index.
    """
    rng = np.random.default_rng(seed)
    tensors = cascade.tensors
    out = {}
    for t in cascade.inputs:
        if tensors[t].dtype.is_float:
            out[t] = rng.standard_normal(tensors[t].shape)
            continue
        bound = min((cascade.tensors[a.tensor].shape[i] for e in cascade.einsums for a in (e.output, *e.inputs)
                     for i, ix in enumerate(a.indices) if ix.via is not None and ix.via.tensor == t), default=2)
        out[t] = rng.integers(0, bound, size=tensors[t].shape)
    return out
