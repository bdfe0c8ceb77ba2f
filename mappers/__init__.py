"""Mappers: map spaces, the numba cost kernel, search strategies, placement and fusion; output: a `Program`."""
from loomsim.mappers.cost import Cost, CostModel
from loomsim.mappers.map import EinsumMapping, Mapped, map_workload, search_einsum
from loomsim.mappers.problem import EinsumProblem, Target
from loomsim.mappers.program import MatmulTile, PimTask, Program, Task, Transfer, VectorOp
from loomsim.mappers.search import SearchResult, run_search
from loomsim.mappers.space import MapSpace, Mapping

__all__ = ["Cost", "CostModel", "EinsumMapping", "EinsumProblem", "MapSpace", "Mapped", "Mapping", "MatmulTile",
           "PimTask", "Program", "SearchResult", "Target", "Task", "Transfer", "VectorOp", "map_workload",
           "run_search", "search_einsum"]
