"""A numpy interpreter for Einsums and cascades, on small shapes: how cascades are checked for meaning.

Each Einsum is evaluated over its full iteration space (output ranks, then reduced ranks) by
broadcasting every access into that space, applying the expression element-wise and reducing the
trailing ranks. A plain product reduced by sum goes through `numpy.einsum` instead, which gives the
same values without materialising the iteration space.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from loomsim.errors import LoomError
from loomsim.workloads.cascade import Cascade
from loomsim.workloads.einsum import Access, BinOp, Call, Const, Einsum, Neg

_BINARY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
_CALLS = {"exp": np.exp, "max": np.maximum}
_REDUCE = {"sum": np.sum, "max": np.max}


def _broadcast(arr: np.ndarray, acc: Access, space: tuple[str, ...]) -> np.ndarray:
    """View `arr` (axes in acc.ranks order) with one axis per rank of `space` (size 1 if absent)."""
    order = sorted(range(len(acc.ranks)), key=lambda i: space.index(acc.ranks[i]))
    moved = np.transpose(arr, order)
    shape = [1] * len(space)
    for i in order:
        shape[space.index(acc.ranks[i])] = arr.shape[i]
    return moved.reshape(shape)


def evaluate(e: Einsum, env: Mapping[str, np.ndarray], rank_sizes: Mapping[str, int]) -> np.ndarray:
    """Value of the Einsum's output, axes in the order of its output ranks."""
    for acc in e.inputs:
        if acc.tensor not in env:
            raise LoomError(f"evaluating '{e}': no value for input tensor {acc.tensor}.")
        want = tuple(rank_sizes[r] for r in acc.ranks)
        got = np.shape(env[acc.tensor])
        if got != want:
            raise LoomError(f"evaluating '{e}': {acc} has shape {got}, the rank sizes say {want}.")
    space = e.ranks
    if e.is_mac:
        letters = {r: chr(ord("a") + i) for i, r in enumerate(space)}
        lhs, rhs = e.expr.lhs, e.expr.rhs
        spec = (f"{''.join(letters[r] for r in lhs.ranks)},{''.join(letters[r] for r in rhs.ranks)}"
                f"->{''.join(letters[r] for r in e.output.ranks)}")
        return np.einsum(spec, np.asarray(env[lhs.tensor]), np.asarray(env[rhs.tensor]))

    def value(node):
        if isinstance(node, Access):
            return _broadcast(np.asarray(env[node.tensor]), node, space)
        if isinstance(node, Const):
            return np.asarray(node.value)
        if isinstance(node, Neg):
            return -value(node.arg)
        if isinstance(node, BinOp):
            return _BINARY[node.op](value(node.lhs), value(node.rhs))
        if isinstance(node, Call):
            return _CALLS[node.fn](*(value(a) for a in node.args))
        raise TypeError(node)  # pragma: no cover

    full_shape = tuple(rank_sizes[r] for r in space)
    result = np.broadcast_to(value(e.expr), full_shape)
    n_out = len(e.output.ranks)
    if len(space) > n_out:
        result = _REDUCE[e.reduce_op](result, axis=tuple(range(n_out, len(space))))
    return np.array(result)


def run_cascade(cascade: Cascade, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate every Einsum in order; returns all tensors (inputs, intermediates, outputs)."""
    missing = [t for t in cascade.inputs if t not in inputs]
    if missing:
        raise LoomError(f"cascade '{cascade.name}' needs values for inputs {missing}.")
    env = {k: np.asarray(v) for k, v in inputs.items()}
    for e in cascade.einsums:
        env[e.output.tensor] = evaluate(e, env, cascade.rank_sizes)
    return env


def random_inputs(cascade: Cascade, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random values for every input tensor (float64, for checking meaning, not precision)."""
    rng = np.random.default_rng(seed)
    tensors = cascade.tensors
    return {t: rng.standard_normal(tensors[t].shape) for t in cascade.inputs}
