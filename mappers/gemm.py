"""The GEMM map space and its analytic cost model (Timeloop's split: what is legal, what it costs).

A mapping of Z[m,n] = A[m,k] * B[k,n] onto one compute array with an SRAM and a DRAM chooses
SRAM tile sizes (tm, tn, tk), the order of the three tile loops (outermost first), and whether each
tensor gets two buffer slots (double buffering, so loads overlap compute) or one.

Reuse rule (what the lowering in `lower.py` does, and what the counts below assume): a tensor's tile
stays in its buffer while consecutive loop steps use the same tile, and is otherwise loaded again.
An output tile is stored when the walk moves to another output tile; if it still lacks some k
contributions it is a partial, and it is loaded back when the walk returns to it.

Simplification (named): partial sums are stored at the output's data type; there is no separate
wider accumulator precision.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from math import prod

from loomsim.arch import ArchSpec
from loomsim.dtypes import DType
from loomsim.errors import LoomError
from loomsim.simulator.systolic import tile_cycles, tile_traffic
from loomsim.workloads import Cascade

RANKS = ("m", "n", "k")
RELEVANT = {"A": ("m", "k"), "B": ("k", "n"), "Z": ("m", "n")}
ORDERS = tuple("".join(p) for p in itertools.permutations(RANKS))


@dataclass(frozen=True)
class GemmProblem:
    """Sizes and tensors of one GEMM-shaped Einsum, with its ranks named by role (m, n, k)."""

    M: int
    N: int
    K: int
    a: str
    b: str
    z: str
    dtypes: dict  # role ("A", "B", "Z") -> DType
    einsum: str
    rank_names: dict  # role rank ("m", "n", "k") -> the Einsum's rank name (or None if absent)

    def size(self, rank: str) -> int:
        return {"m": self.M, "n": self.N, "k": self.K}[rank]

    def nbytes(self, role: str, elements: int) -> int:
        return self.dtypes[role].nbytes(elements)

    @property
    def macs(self) -> int:
        return self.M * self.N * self.K

    @staticmethod
    def from_cascade(cascade: Cascade) -> "GemmProblem":
        if len(cascade.einsums) != 1:
            raise LoomError(f"the GEMM mapper maps one Einsum at a time; '{cascade.name}' has "
                            f"{len(cascade.einsums)} (cascade mapping arrives with the mapper issue).")
        e = cascade.einsums[0]
        shape_msg = (f"the GEMM mapper handles Einsums shaped Z[m,n] = A[m,k] * B[k,n] (m or n may be "
                     f"absent); '{e}' is not")
        if not e.is_mac or len(e.reduced_ranks) != 1 or len(e.inputs) != 2:
            raise LoomError(shape_msg + ": it needs a product of two tensors reduced over one rank.")
        k = e.reduced_ranks[0]
        lhs, rhs = e.inputs
        out = set(e.output.ranks)
        m_ranks = [r for r in lhs.ranks if r in out]
        n_ranks = [r for r in rhs.ranks if r in out]
        if len(m_ranks) > 1 or len(n_ranks) > 1 or set(m_ranks) & set(n_ranks) or len(out) > 2:
            raise LoomError(shape_msg + ": batched or shared output ranks need the cascade mapper.")
        if k not in lhs.ranks or k not in rhs.ranks:
            raise LoomError(shape_msg + f": the reduced rank '{k}' must index both operands.")
        tensors = cascade.tensors
        sizes = cascade.rank_sizes
        m_name = m_ranks[0] if m_ranks else None
        n_name = n_ranks[0] if n_ranks else None
        return GemmProblem(
            M=sizes[m_name] if m_name else 1, N=sizes[n_name] if n_name else 1, K=sizes[k],
            a=lhs.tensor, b=rhs.tensor, z=e.output.tensor,
            dtypes={"A": tensors[lhs.tensor].dtype, "B": tensors[rhs.tensor].dtype, "Z": tensors[e.output.tensor].dtype},
            einsum=str(e), rank_names={"m": m_name, "n": n_name, "k": k})


@dataclass(frozen=True)
class GemmMapping:
    """SRAM tile sizes, tile-loop order (outermost first) and double buffering."""

    tm: int
    tn: int
    tk: int
    order: str = "mnk"
    double_buffer: bool = True

    def tile(self, rank: str) -> int:
        return {"m": self.tm, "n": self.tn, "k": self.tk}[rank]

    def describe(self) -> str:
        return (f"tiles m={self.tm} n={self.tn} k={self.tk}, loop order {'>'.join(self.order)} "
                f"(outermost first), {'double' if self.double_buffer else 'single'} buffered")


@dataclass(frozen=True)
class GemmTarget:
    """The parts of an architecture the GEMM mapper uses."""

    array: object
    sram: object
    dram: object
    link: object
    mac_pj: float

    @staticmethod
    def from_arch(arch: ArchSpec) -> "GemmTarget":
        def one(type_name):
            found = arch.of_type(type_name)
            if not found:
                raise LoomError(f"architecture '{arch.name}' has no {type_name}; the GEMM mapper needs a "
                                "systolic_array, an sram and a dram joined by a link.")
            return found[0]
        array, sram, dram = one("systolic_array"), one("sram"), one("dram")
        link = arch.link_between(dram.name, sram.name)
        if link is None:
            raise LoomError(f"architecture '{arch.name}' has no link between '{dram.name}' and '{sram.name}'; "
                            f"add links: [{{from: {dram.name}, to: {sram.name}, bandwidth: ...}}].")
        return GemmTarget(array, sram, dram, link, arch.energy[f"mac.{array.dtype}"])

    def check_dtypes(self, p: "GemmProblem") -> None:
        for role, tensor in (("A", p.a), ("B", p.b)):
            if p.dtypes[role].name != self.array.dtype:
                raise LoomError(f"the {self.array.type_name} '{self.array.name}' computes in {self.array.dtype}, but "
                                f"tensor {tensor} of '{p.einsum}' is {p.dtypes[role].name}; give the workload "
                                f"dtype={self.array.dtype} or change the array's dtype.")

    @property
    def dma_bandwidth(self) -> float:
        return min(self.link.bandwidth, self.dram.bandwidth)

    @property
    def dma_latency_ps(self) -> int:
        return self.dram.latency_ps() + self.link.latency_ps()


def tile_sizes(size: int, tile: int) -> list[tuple[int, int]]:
    """[(tile size, how many)] covering `size` with tiles of `tile` (the last one partial)."""
    full, rem = divmod(size, tile)
    return [(s, c) for s, c in ((tile, full), (rem, 1 if rem else 0)) if c]


def footprint(p: GemmProblem, mp: GemmMapping) -> int:
    """SRAM bytes the mapping holds at once."""
    slots = 2 if mp.double_buffer else 1
    tm, tn, tk = min(mp.tm, p.M), min(mp.tn, p.N), min(mp.tk, p.K)
    return slots * (p.nbytes("A", tm * tk) + p.nbytes("B", tk * tn) + p.nbytes("Z", tm * tn))


class GemmMapSpace:
    """Candidate mappings and their legality; rejected candidates are counted by reason."""

    def __init__(self, problem: GemmProblem, target: GemmTarget, min_tile: int = 8):
        self.problem, self.target = problem, target
        self.candidates = {r: self._sizes(problem.size(r), min_tile) for r in RANKS}

    @staticmethod
    def _sizes(size: int, min_tile: int) -> list[int]:
        """Powers of two from `min_tile` below `size`, and `size` itself."""
        out, t = [], min_tile
        while t < size:
            out.append(t)
            t *= 2
        return out + [size]

    def __len__(self) -> int:
        return prod(len(v) for v in self.candidates.values()) * len(ORDERS) * 2

    def __iter__(self):
        for tm, tn, tk in itertools.product(*(self.candidates[r] for r in RANKS)):
            for order in ORDERS:
                for db in (True, False):
                    yield GemmMapping(tm, tn, tk, order, db)

    def check(self, mp: GemmMapping) -> str | None:
        """None if legal, else the reason it is not (Timeloop's pre-evaluation check)."""
        if footprint(self.problem, mp) > self.target.sram.capacity:
            return "capacity"
        return None


@dataclass(frozen=True)
class GemmCost:
    """What a mapping costs, by the analytic model (the simulator gives the timed truth)."""

    compute_cycles: int
    dram_read: dict      # tensor role -> bytes
    dram_write: int      # bytes of Z stored (final and partials)
    transfers: int
    sram_reads: dict     # role -> bytes
    sram_writes: dict
    latency_ps: int
    energy_pj: float

    @property
    def dram_bytes(self) -> int:
        return sum(self.dram_read.values()) + self.dram_write

    @property
    def edp(self) -> float:
        return self.energy_pj * self.latency_ps


def _loads(order: str, ntiles: dict, relevant: tuple[str, ...]) -> tuple[int, int]:
    """(tile loads, multiplicity) of a tensor under the consecutive-reuse rule.

    Loops with one tile never change a tile, so they are dropped; the tile changes whenever a
    relevant loop advances, i.e. as often as the product of the loops out to the innermost relevant
    one. Each distinct tile is loaded `multiplicity` times: the product of the irrelevant loops
    outside that innermost relevant loop.
    """
    eff = [r for r in order if ntiles[r] > 1]
    rel = [i for i, r in enumerate(eff) if r in relevant]
    if not rel:
        return 1, 1
    p = rel[-1]
    loads = prod(ntiles[r] for r in eff[:p + 1])
    mult = prod(ntiles[r] for r in eff[:p] if r not in relevant)
    return loads, mult


def evaluate(p: GemmProblem, t: GemmTarget, mp: GemmMapping) -> GemmCost:
    """Analytic cycles, traffic and energy of a legal mapping."""
    arr = t.array
    ntiles = {r: -(-p.size(r) // mp.tile(r)) for r in RANKS}
    total = {"A": p.nbytes("A", p.M * p.K), "B": p.nbytes("B", p.K * p.N), "Z": p.nbytes("Z", p.M * p.N)}
    loads = {}
    dram_read = {}
    for role in ("A", "B"):
        n_loads, mult = _loads(mp.order, ntiles, RELEVANT[role])
        loads[role] = n_loads
        dram_read[role] = mult * total[role]
    z_runs, z_mult = _loads(mp.order, ntiles, RELEVANT["Z"])
    dram_read["Z"] = (z_mult - 1) * total["Z"]
    dram_write = z_mult * total["Z"]
    transfers = loads["A"] + loads["B"] + z_runs + (z_runs - z_runs // z_mult)  # stores + partial reloads

    cycles = 0
    sram_r = {"A": 0, "B": 0, "Z": 0}
    sram_w = {"A": 0, "B": 0, "Z": 0}
    k_pieces = tile_sizes(p.K, mp.tk)
    for sm, cm in tile_sizes(p.M, mp.tm):
        for sn, cn in tile_sizes(p.N, mp.tn):
            for sk, ck in k_pieces:
                n = cm * cn * ck
                cycles += n * tile_cycles(arr.dataflow, arr.rows, arr.cols, sm, sn, sk)
                tr = tile_traffic(arr.dataflow, arr.rows, arr.cols, sm, sn, sk, accumulate=True)
                sram_r["A"] += n * p.nbytes("A", tr.a_reads)
                sram_r["B"] += n * p.nbytes("B", tr.b_reads)
                sram_r["Z"] += n * p.nbytes("Z", tr.z_reads)
                sram_w["Z"] += n * p.nbytes("Z", tr.z_writes)
            # the first k tile of every output tile starts from zero and reads no partial sums
            sram_r["Z"] -= cm * cn * p.nbytes("Z", sm * sn)
    # DMA fills write the SRAM; stores read it
    for role in ("A", "B", "Z"):
        sram_w[role] += dram_read[role]
    sram_r["Z"] += dram_write

    compute_ps = -(-cycles * 10**12 // arr.clock)
    bw = t.dma_bandwidth
    dma_ps = int((sum(dram_read.values()) + dram_write) * 10**12 / bw)
    lat = t.dma_latency_ps
    if mp.double_buffer:
        first = int((p.nbytes("A", min(mp.tm, p.M) * min(mp.tk, p.K)) + p.nbytes("B", min(mp.tk, p.K) * min(mp.tn, p.N)))
                    * 10**12 / bw)
        last = int(p.nbytes("Z", min(mp.tm, p.M) * min(mp.tn, p.N)) * 10**12 / bw)
        latency = max(compute_ps, dma_ps) + first + last + 2 * lat
    else:
        latency = compute_ps + dma_ps + lat * (max(loads["A"], loads["B"]) + z_runs)

    port = t.sram.port_width
    sram_pj = (sum(-(-v // port) for v in sram_r.values()) * t.sram.read_energy
               + sum(-(-v // port) for v in sram_w.values()) * t.sram.write_energy)
    dram_pj = (sum(dram_read.values()) * 8 * t.dram.read_energy_per_bit
               + dram_write * 8 * t.dram.write_energy_per_bit
               + (sum(dram_read.values()) + dram_write) * 8 * t.link.energy_per_bit)
    return GemmCost(cycles, dram_read, dram_write, transfers, sram_r, sram_w, latency,
                    p.macs * t.mac_pj + sram_pj + dram_pj)

