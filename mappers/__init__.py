"""Mappers: map spaces, cost models and search strategies that turn a workload into a `Program`."""
from loomsim.mappers.gemm import GemmCost, GemmMapping, GemmMapSpace, GemmProblem, GemmTarget, evaluate
from loomsim.mappers.map import Mapped, map_workload
from loomsim.mappers.program import MatmulTile, PimTask, Program, Task, Transfer, VectorOp

__all__ = ["GemmCost", "GemmMapping", "GemmMapSpace", "GemmProblem", "GemmTarget", "Mapped", "MatmulTile",
           "PimTask", "Program", "Task", "Transfer", "VectorOp", "evaluate", "map_workload"]
