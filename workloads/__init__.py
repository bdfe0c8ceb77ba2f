"""Workloads: the Einsum and cascade IR, the Einsum parser, a numpy interpreter, workload generators."""
from loomsim.workloads.cascade import Cascade, Counts, Tensor
from loomsim.workloads.einsum import Access, Einsum, Index
from loomsim.workloads.parser import EinsumParseError, parse_einsum
from loomsim.workloads.generators import build_workload, gemm, gemv, generators, workload
from loomsim.workloads.interpret import evaluate, random_inputs, run_cascade

__all__ = ["Access", "Cascade", "Counts", "Einsum", "Index", "EinsumParseError", "Tensor", "build_workload", "evaluate", "gemm",
           "gemv", "generators", "parse_einsum", "random_inputs", "run_cascade", "workload"]
