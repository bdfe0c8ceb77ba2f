"""The public API: one call from an architecture and a workload to a simulation result."""
from __future__ import annotations

from loomsim.arch import ArchSpec, load_arch
from loomsim.mappers import map_workload
from loomsim.simulator import SimResult, simulate as _simulate
from loomsim.workloads import Cascade, build_workload


def simulate(arch: str | ArchSpec, workload: str | Cascade, objective: str = "latency") -> SimResult:
    """Load (if given by name or path), map and simulate: `loomsim.simulate("npu", "gemm M=64 N=64 K=64")`."""
    spec = arch if isinstance(arch, ArchSpec) else load_arch(arch)
    cascade = workload if isinstance(workload, Cascade) else build_workload(workload)
    label = workload if isinstance(workload, str) else cascade.describe()
    mapped = map_workload(spec, cascade, objective)
    return _simulate(spec, mapped.program, workload=label)
