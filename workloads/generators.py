"""Workload generators (`gemm`, `gemv`, `attention`) and the `"gemm M=64 N=1024 K=512"` workload strings of the CLI.

A new workload is a function returning a `Cascade`, registered with `@workload("name")`; its keyword
parameters are what a workload string may set.
"""
from __future__ import annotations

import inspect
from typing import Callable

from loomsim.errors import LoomError, choices_text, closest
from loomsim.registry import Registry
from loomsim.workloads.cascade import Cascade

_GENERATORS: Registry[Callable[..., Cascade]] = Registry("workload generator")
workload = _GENERATORS.register


def generators() -> dict[str, Callable[..., Cascade]]:
    return _GENERATORS.items()


@workload("gemm")
def gemm(M: int, N: int, K: int, dtype: str = "bf16") -> Cascade:
    """Z[m,n] = A[m,k] * B[k,n]: activations A (M x K) times weights B (K x N)."""
    return Cascade.from_text("gemm", "Z[m,n] = A[m,k] * B[k,n]", {"m": M, "n": N, "k": K}, default_dtype=dtype)


@workload("gemv")
def gemv(N: int, K: int, dtype: str = "bf16") -> Cascade:
    """Z[n] = A[k] * B[k,n]: one activation vector times a K x N weight matrix."""
    return Cascade.from_text("gemv", "Z[n] = A[k] * B[k,n]", {"n": N, "k": K}, default_dtype=dtype)


@workload("attention")
def attention_workload(variant: str = "1pass", heads: int = 1, head_dim: int = 64, queries: int = 1,
                       keys: int = 1024, batch: int = 1, block: int = 256, dtype: str = "bf16") -> Cascade:
    """Softmax attention as the 3pass, 2pass or 1pass (FuseMax) cascade of `workloads.attention`."""
    from loomsim.workloads.attention import attention
    return attention(variant, batch=batch, kv_heads=heads, head_dim=head_dim, queries=queries, keys=keys,
                     block=block, dtype=dtype)


def _convert(value: str, annotation) -> object:
    if annotation in (int, "int"):
        try:
            return int(value.replace("_", ""))
        except ValueError:
            raise LoomError(f"'{value}' is not a whole number.") from None
    return value


def build_workload(text: str) -> Cascade:
    """Build a cascade from a workload string such as 'gemm M=64 N=1024 K=512 dtype=bf16'."""
    parts = str(text).split()
    if not parts:
        raise LoomError(f"empty workload; valid workloads: {choices_text(_GENERATORS)} "
                        "(for example 'gemm M=64 N=1024 K=512').")
    name, args = parts[0], parts[1:]
    fn = _GENERATORS.get(name)
    if fn is None:
        hint = closest(name, _GENERATORS)
        raise LoomError(f"unknown workload '{name}'; valid workloads: {choices_text(_GENERATORS)}."
                        + (f" Did you mean '{hint}'?" if hint else ""))
    sig = inspect.signature(fn)
    kwargs = {}
    for arg in args:
        key, eq, value = arg.partition("=")
        if not eq or not value:
            raise LoomError(f"workload '{text}': '{arg}' is not KEY=VALUE (for example M=64).")
        if key not in sig.parameters:
            hint = closest(key, sig.parameters)
            raise LoomError(f"workload '{name}' has no parameter '{key}'; its parameters: "
                            f"{', '.join(sig.parameters)}." + (f" Did you mean '{hint}'?" if hint else ""))
        try:
            kwargs[key] = _convert(value, sig.parameters[key].annotation)
        except LoomError as exc:
            raise LoomError(f"workload '{text}': {key}={value}: {exc}") from None
    missing = [p for p, v in sig.parameters.items() if v.default is inspect.Parameter.empty and p not in kwargs]
    if missing:
        raise LoomError(f"workload '{name}' needs {', '.join(f'{m}=...' for m in missing)} "
                        f"(for example '{name} " + " ".join(f"{m}=64" for m in sig.parameters
                                                            if sig.parameters[m].default is inspect.Parameter.empty)
                        + "').")
    return fn(**kwargs)
