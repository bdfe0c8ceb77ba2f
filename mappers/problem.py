"""What a mapper maps: one Einsum as integer arrays (`EinsumProblem`) and the hardware it maps onto (`Target`).

An `EinsumProblem` numbers the Einsum's ranks and tensors (distinct inputs first, the output last) and
records which ranks index which tensor. A `Target` is one compute unit (a systolic array or a vector
unit, possibly `count` identical ones) and the chain of memories that feeds it, innermost first:
the SRAM the unit reads its operands from, any SRAMs between, and the DRAM. Both flatten to numpy
arrays (`arrays()`) that the numba cost kernel reads; the kernel never sees a Python object.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np

from loomsim.arch import ArchSpec
from loomsim.dtypes import DType
from loomsim.errors import LoomError, choices_text, closest
from loomsim.workloads import Cascade, Einsum

KIND_SYSTOLIC, KIND_VECTOR = 0, 1
DATAFLOW_CODE = {"ws": 0, "os": 1, "is": 2}
ROLE_BATCH, ROLE_M, ROLE_N, ROLE_K = 0, 1, 2, 3
ROLE_NAMES = ("batch", "m", "n", "k")


@dataclass(frozen=True)
class EinsumProblem:
    """One Einsum with numbered ranks and operands; `sizes` may be a sub-problem's (a fused tile).

    An operand is one distinct access: its tensor and subscripts. A tensor read at two different
    subscripts in one Einsum (`RM[m1,p]` and `RM[m1+1,p]`, or the slices `W[0,d]` and `W[1,d]`) is two
    operands, each moving what its access touches (data the two share is not shared). What an access
    touches is what its iteration ranks reach: a gather `X[IDX[u],d]` reads one row per u (repeated
    indices read again), a fixed position `W[3,d,i]` one slice, a shift `RM[m1+1,p]` as many values as
    `RM[m1,p]`, and a partitioned `K[e,m1,m0]` all of K[e,m].
    """

    einsum: Einsum
    ranks: tuple[str, ...]
    sizes: tuple[int, ...]
    tensors: tuple[str, ...]                 # each operand's tensor: distinct input accesses in order, then the output
    relevant: tuple[tuple[bool, ...], ...]   # [operand][rank]: does the rank index the operand
    dtypes: tuple[DType, ...]
    ops_per_point: int                       # vector-unit operations per point of the iteration space
    labels: tuple[str, ...] = ()             # operand names for reports (the access when a tensor repeats)

    @staticmethod
    def from_einsum(cascade: Cascade, einsum: Einsum, sizes: dict[str, int] | None = None) -> "EinsumProblem":
        ranks = einsum.ranks
        size_of = {**{r: cascade.rank_sizes[r] for r in ranks}, **(sizes or {})}
        accesses = (*dict.fromkeys(einsum.inputs), einsum.output)
        tensors = tuple(a.tensor for a in accesses)
        labels = tuple(str(a) if tensors.count(a.tensor) > 1 else a.tensor for a in accesses)
        infos = cascade.tensors
        # one operation per map operator per point, and one more when the point is added into the output
        # (a reduction, or `+=`): the count `Cascade.counts` gives
        ops = sum(einsum.op_counts_per_point().values()) + (1 if einsum.reduced_ranks or einsum.accumulate else 0)
        return EinsumProblem(einsum, ranks, tuple(size_of[r] for r in ranks), tensors,
                             tuple(tuple(r in a.ranks for r in ranks) for a in accesses),
                             tuple(infos[t].dtype for t in tensors), ops, labels)

    @property
    def R(self) -> int:
        return len(self.ranks)

    @property
    def T(self) -> int:
        return len(self.tensors)

    @property
    def output(self) -> str:
        return self.tensors[-1]

    @property
    def accumulate(self) -> bool:
        """`+=`: the output's prior values are read and added to (a read-modify-write)."""
        return self.einsum.accumulate

    @property
    def is_mac(self) -> bool:
        return self.einsum.is_mac and self.T == 3

    @property
    def points(self) -> int:
        return prod(self.sizes)

    def elements(self, t: int) -> int:
        return prod(s for s, rel in zip(self.sizes, self.relevant[t]) if rel)

    def nbytes(self, t: int, elements: int) -> int:
        return self.dtypes[t].nbytes(elements)

    def reduced(self, r: int) -> bool:
        return not self.relevant[-1][r]

    def roles(self, swap: bool) -> tuple[int, ...]:
        """Each rank's role on a systolic array: batch (in A, B and Z), m (A, Z), n (B, Z) or k (A, B).

        A is the streamed input under ws (the stationary one under is); `swap` exchanges the inputs.
        """
        a, b = (1, 0) if swap else (0, 1)
        out = []
        for r in range(self.R):
            ia, ib, iz = self.relevant[a][r], self.relevant[b][r], self.relevant[2][r]
            out.append(ROLE_BATCH if ia and ib and iz else ROLE_M if ia and iz else ROLE_N if ib and iz
                       else ROLE_K if ia and ib else -1)
        return tuple(out)

    def gemm_shaped(self) -> str | None:
        """None if a systolic array can run this Einsum, else why not."""
        if not self.is_mac:
            return "it is not a product of two tensors reduced by sum"
        if -1 in self.roles(False):
            bad = self.ranks[self.roles(False).index(-1)]
            return f"rank '{bad}' indexes only one input and is reduced (a sum inside an operand)"
        return None

    def arrays(self) -> dict[str, np.ndarray]:
        bits = [d.bits for d in self.dtypes]
        bpe = [int(b // 8) if b.denominator == 1 and b.numerator % 8 == 0 else 0 for b in bits]
        return {"sizes": np.array(self.sizes, np.int64), "bpe": np.array(bpe, np.int64),
                "rel": np.array(self.relevant, np.int64).reshape(self.T, self.R),
                "bits_num": np.array([b.numerator for b in bits], np.int64),
                "bits_den": np.array([b.denominator for b in bits], np.int64),
                "roles": np.array([self.roles(False), self.roles(True)] if self.is_mac and
                                  self.gemm_shaped() is None else [[0] * self.R] * 2, np.int64)}

    def describe(self) -> str:
        return f"{self.einsum} with " + " ".join(f"{r}={s}" for r, s in zip(self.ranks, self.sizes))


@dataclass(frozen=True)
class Level:
    """One memory of the hierarchy and the path that fills it from the next memory out."""

    name: str
    type_name: str             # sram | dram
    capacity: int              # bytes (a DRAM's is unbounded for the mapper)
    port_width: int            # bytes per access (SRAM energy is per access); 1 for a DRAM
    read_pj: float             # per access (SRAM) or per byte (DRAM)
    write_pj: float
    bandwidth: float           # bytes/s of the memory itself
    link: str = ""             # the link from the next memory out ("" for the outermost)
    clock: int = 0
    bytes_per_cycle: int = 0   # SRAM: banks x port width (bounds how fast the unit can read it)


@dataclass(frozen=True)
class Target:
    """A compute unit and the memories that feed it, innermost first (`levels[-1]` is the DRAM)."""

    arch_name: str
    unit: object
    kind: int
    levels: tuple[Level, ...]
    paths: dict = field(default_factory=dict)   # (child level, parent level) -> Path
    mac_pj: float = 0.0
    op_pj: float = 0.0
    extra_notes: tuple[str, ...] = field(default=())

    @property
    def L(self) -> int:
        return len(self.levels)

    @property
    def count(self) -> int:
        return getattr(self.unit, "count", 1)

    @staticmethod
    def from_arch(arch: ArchSpec, unit: str | None = None) -> "Target":
        units = [c for c in arch.components if c.type_name in ("systolic_array", "vector_unit")]
        if not units:
            raise LoomError(f"architecture '{arch.name}' has no compute unit (systolic_array or vector_unit).")
        if unit is None:
            spec = units[0]
        else:
            spec = next((c for c in units if c.name == unit), None)
            if spec is None:
                hint = closest(unit, [c.name for c in units])
                raise LoomError(f"architecture '{arch.name}' has no compute unit '{unit}'; its units: "
                                f"{choices_text(c.name for c in units)}." + (f" Did you mean '{hint}'?" if hint else ""))
        levels, paths = _hierarchy(arch)
        kind = KIND_SYSTOLIC if spec.type_name == "systolic_array" else KIND_VECTOR
        mac = arch.energy[f"mac.{spec.dtype}"] if kind == KIND_SYSTOLIC else 0.0
        op_key = f"vector.{spec.dtype}"
        op = arch.energy[op_key] if kind == KIND_VECTOR and op_key in arch.energy else float("nan")
        return Target(arch.name, spec, kind, levels, paths, mac, op)

    def check_dtypes(self, p: EinsumProblem) -> str | None:
        """None if the unit computes in the inputs' data type, else why not (the space is then empty)."""
        if self.kind != KIND_SYSTOLIC:
            return None
        for t in range(p.T - 1):
            if p.dtypes[t].name != self.unit.dtype:
                return (f"the {self.unit.type_name} '{self.unit.name}' computes in {self.unit.dtype}, but tensor "
                        f"{p.tensors[t]} of '{p.einsum}' is {p.dtypes[t].name}")
        return None

    def arrays(self) -> dict[str, np.ndarray]:
        u = self.unit
        lv = self.levels
        unit = np.array([self.kind, getattr(u, "rows", 1), getattr(u, "cols", 1),
                         DATAFLOW_CODE.get(getattr(u, "dataflow", "ws"), 0),
                         getattr(u, "lanes", 1) * getattr(u, "ops_per_cycle", 1), self.count, u.clock,
                         _log2(getattr(u, "rows", 1)), _log2(getattr(u, "cols", 1))], np.int64)
        lvl_int = np.array([[lev.capacity, lev.port_width, int(lev.type_name == "dram"), lev.clock or u.clock,
                             lev.bytes_per_cycle, _log2(lev.port_width)] for lev in lv], np.int64)
        lvl_f = np.array([[lev.read_pj, lev.write_pj, lev.bandwidth] for lev in lv], np.float64)
        L = len(lv)
        path_f = np.zeros((L, L, 4), np.float64)     # [child, parent]: exists, bandwidth, latency ps, pJ/byte
        for (c, p), path in self.paths.items():
            path_f[c, p] = (1.0, path.bandwidth, path.latency_ps, path.pj_per_byte)
        energy = np.array([self.mac_pj, self.op_pj], np.float64)
        return {"unit": unit, "lvl_int": lvl_int, "lvl_f": lvl_f, "path_f": path_f, "energy": energy}

    def describe(self) -> str:
        u = self.unit
        what = (f"{u.rows}x{u.cols} {u.dataflow} systolic array" if self.kind == KIND_SYSTOLIC
                else f"{u.lanes}-lane vector unit")
        n = f"{self.count} x " if self.count > 1 else ""
        return f"{n}{what} '{u.name}' fed by " + " <- ".join(lev.name for lev in self.levels)


UNBOUNDED = 1 << 60


def _log2(n: int) -> int:
    """log2(n) when n is a power of two (the kernel then divides by shifting), else -1."""
    return n.bit_length() - 1 if n > 0 and n & (n - 1) == 0 else -1


def _hierarchy(arch: ArchSpec) -> tuple[tuple[Level, ...], dict]:
    """The memories from the innermost SRAM out to the DRAM, and the links between any two of them.

    The SRAMs reachable from the DRAM over links are ordered by capacity (largest outermost); each
    must be linked to the next one out. A link between two memories that are not neighbours in that
    order is a bypass path: a level between them may then be skipped for a tensor.
    """
    drams = arch.of_type("dram")
    if len(drams) != 1:
        raise LoomError(f"architecture '{arch.name}' has {len(drams)} DRAMs; the mapper needs exactly one to "
                        "start the memory hierarchy from.")
    dram = drams[0]
    reach, frontier = {dram.name}, [dram.name]
    while frontier:
        here = frontier.pop()
        for link in arch.links:
            if here in (link.src, link.dst):
                other = link.dst if link.src == here else link.src
                if other not in reach and arch[other].type_name == "sram":
                    reach.add(other)
                    frontier.append(other)
    srams = sorted((arch[n] for n in reach if n != dram.name), key=lambda c: -c.capacity)
    if not srams:
        raise LoomError(f"architecture '{arch.name}' has no SRAM linked to its DRAM '{dram.name}'; add "
                        f"links: [{{from: {dram.name}, to: <sram>, bandwidth: ...}}].")
    for a, b in zip(srams, srams[1:]):
        if a.capacity == b.capacity:
            raise LoomError(f"architecture '{arch.name}': SRAMs '{a.name}' and '{b.name}' have the same capacity, so "
                            "the mapper cannot tell which is nearer the compute unit.")
    chain = [dram] + srams                    # outermost first
    pairs = {}
    for i, outer in enumerate(chain):
        for j in range(i + 1, len(chain)):
            link = arch.link_between(outer.name, chain[j].name)
            if link is not None:
                pairs[(len(chain) - 1 - j, len(chain) - 1 - i)] = link   # (child level, parent level)
    levels = []
    for i, spec in enumerate(chain):
        if spec.type_name == "dram":
            levels.append(Level(spec.name, "dram", UNBOUNDED, 1, spec.read_energy_per_bit * 8,
                                spec.write_energy_per_bit * 8, spec.bandwidth, clock=spec.clock))
            continue
        link = arch.link_between(chain[i - 1].name, spec.name)
        if link is None:
            raise LoomError(f"architecture '{arch.name}': SRAM '{spec.name}' has no link to '{chain[i - 1].name}', the "
                            "next memory out (SRAMs are ordered by capacity); add one to the links.")
        levels.append(Level(spec.name, "sram", spec.capacity, spec.port_width, spec.read_energy, spec.write_energy,
                            _bandwidth(spec), link.name, spec.clock, spec.bytes_per_cycle))
    levels = tuple(reversed(levels))
    paths = {}
    for (child, parent), link in pairs.items():
        lat = link.latency_ps() + (chain[0].latency_ps() if parent == len(levels) - 1 else 0)
        bw = min(link.bandwidth, levels[child].bandwidth, levels[parent].bandwidth)
        paths[(child, parent)] = Path(link.name, bw, lat, link.energy_per_bit * 8)
    return levels, paths


@dataclass(frozen=True)
class Path:
    """A link that fills a level from a memory further out: its bandwidth (the smallest of the link's and
    both ends'), its latency (plus the DRAM's when it starts at the DRAM) and energy per byte."""

    link: str
    bandwidth: float
    latency_ps: int
    pj_per_byte: float


def _bandwidth(spec) -> float:
    return float(spec.bandwidth) if spec.type_name == "dram" else float(spec.bytes_per_cycle * spec.clock)
