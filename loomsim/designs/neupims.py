"""NeuPIMs (Heo et al., ASPLOS'24) and its baselines, served iteration by iteration.

Four systems, one device of a tensor-parallel group each (`tp` from NeuPIMs' model configs):

    neupims          NPU + HBM2-PIM with dual row buffers; attention GEMVs on PIM; sub-batch interleaving
    npu_pim_blocked  the same NPU + Newton-style blocked PIM; attention on PIM; no sub-batches (naive NPU+PIM)
    npu_only         the same NPU + plain HBM2; attention on the NPU
    gpu_only         an A100 in Loom's components; attention on its Tensor Cores

Each decode iteration is simulated: the embedding, one decoder layer (reused for every layer, visibly:
`layers` in the stats) and the head. A layer is the GEMM part before attention (norm, Q/K/V
projections) and the part after it (output projection, residual, norm, FFN) — mapped by the generic
mapper onto the NPU — and attention, placed on PIM (`mappers.pim_attention`: the NeuPIMs layout,
greedy min-load channel packing) or mapped onto the NPU like the rest. With sub-batch interleaving
the batch is split in two (each channel's requests halved, NeuPIMs Alg. 3) and the NPU runs one
sub-batch's GEMMs while PIM runs the other's attention. Because layers pipeline into each other (a
sub-batch's next QKV generation runs before the other sub-batch's FFNs), one layer and two layers are
simulated: every layer after the first adds what the second added, T(L) = T(1) + (L-1)(T(2) - T(1)),
and likewise for energy.

Named simplifications: NPU-side attention (npu_only, gpu_only) groups requests by context rounded to the
nearest multiple of 16 keys (so a mapping serves many requests); the head and embedding are simulated
once per batch size (their shapes do not depend on the contexts).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from loomsim.arch import ArchSpec, load_arch
from loomsim.designs.compose import Composer
from loomsim.errors import LoomError, choices_text
from loomsim.mappers import map_workload
from loomsim.mappers.pim_attention import ChannelPacker, PimAttention, attention_tasks
from loomsim.simulator import simulate
from loomsim.simulator.serving import StepResult, serve_decode
from loomsim.validate import experiment_runner
from loomsim.workloads.cascade import Cascade
from loomsim.workloads.model import decode
from loomsim.workloads.serving import requests as make_trace
from loomsim.workloads.zoo import get_model

SYSTEMS = {
    "neupims": {"arch": "neupims", "attention": "pim", "sub_batch": "auto"},
    # ablations (NeuPIMs Fig. 13): without sub-batch interleaving; with a single (blocked) row buffer
    "neupims_no_sbi": {"arch": "neupims", "attention": "pim", "sub_batch": "off"},
    "neupims_sbi": {"arch": "neupims", "attention": "pim", "sub_batch": "on"},
    "neupims_single_buffer": {"arch": "npu_pim_blocked", "attention": "pim", "sub_batch": "auto"},
    "npu_pim_blocked": {"arch": "npu_pim_blocked", "attention": "pim", "sub_batch": "off"},
    "npu_only": {"arch": "npu_only", "attention": "npu", "sub_batch": "off"},
    "gpu_only": {"arch": "a100", "attention": "npu", "sub_batch": "off"},
}
SUB_BATCH_FROM = 256    # README of casys-kaist/NeuPIMs: "Sub-batch interleaving is enabled only when batch >= 256"
BUCKET = 16


def _is_group_tensor(name: str) -> bool:
    head, _, tail = name.rpartition("_")
    return bool(head) and tail.isdigit()


def split_layer(layer: Cascade) -> tuple[Cascade, list[Cascade], Cascade]:
    """A decoder layer's cascade cut into the part before attention, one cascade per attention group
    (`_j` tensors), and the part after."""
    attn = [i for i, e in enumerate(layer.einsums)
            if any(_is_group_tensor(t) for t in (e.output.tensor, *e.input_tensors))]
    first, last = attn[0], attn[-1]
    groups: dict[str, list] = {}
    for e in layer.einsums[first:last + 1]:
        j = next(t.rpartition("_")[2] for t in (e.output.tensor, *e.input_tensors) if _is_group_tensor(t))
        groups.setdefault(j, []).append(e)
    return (_sub(layer, layer.einsums[:first], "pre"), [_sub(layer, g, f"attention_{j}") for j, g in groups.items()],
            _sub(layer, layer.einsums[last + 1:], "post"))


def _sub(c: Cascade, einsums, name: str) -> Cascade:
    einsums = tuple(einsums)
    ranks = {r for e in einsums for r in e.ranks}
    for e in einsums:
        for a in (e.output, *e.inputs):
            for ix in a.indices:
                if isinstance(ix.fixed, str):
                    ranks.add(ix.fixed.lower())
    tensors = {a.tensor for e in einsums for a in (e.output, *e.inputs)}
    parts = {p: pair for p, pair in c.partitions.items() if p in ranks or set(pair) & ranks}
    for p, pair in parts.items():
        ranks |= {p, *pair}
    known = c.tensors
    tranks = {t: known[t].ranks for t in tensors}        # tensors crossing the cut keep their ranks
    for r in tranks.values():
        ranks |= set(r)
    sizes = {r: s for r, s in c.rank_sizes.items() if r in ranks}
    dtypes = {t: d for t, d in c.dtypes.items() if t in tensors}
    return Cascade(f"{c.name}:{name}", einsums, sizes, dtypes, c.default_dtype, parts, tranks)


@dataclass
class System:
    """One system serving decode iterations: its architecture, model shard and caches."""

    name: str
    arch: ArchSpec
    attention: str
    sub_batch: bool
    model: str
    tp: int
    dtype: str = "fp16"
    kv_append: bool = True
    # Fused groups of Einsums keep their intermediates on chip (the mapper's `fuse`): NeuPIMs' simulator
    # runs LayerNorm, GELU and the residual add as one operation each, reading its input and writing its
    # output only (src/operations/LayerNorm.cc), where an Einsum-by-Einsum mapping would spill every
    # intermediate (mean, centred input, variance) to HBM and back.
    fuse: bool = True
    maps: dict = field(default_factory=dict)
    searches: dict = field(default_factory=dict)      # the mapper's search cache, kept across iterations
    fixed: dict = field(default_factory=dict)
    packer: ChannelPacker | None = None

    def __post_init__(self):
        self.cfg = get_model(self.model)
        if self.attention == "pim":
            dram = self.arch.of_type("dram")[0]
            self.device = dram.device()
            self.packer = ChannelPacker(self.device.org.channels)
            link = self.arch.link_between(dram.name, self.arch.of_type("sram")[0].name)
            vu = self.arch.of_type("vector_unit")[0]
            self.pim = PimAttention(self.device, dram.name, self.arch.of_type("sram")[0].name, link.name,
                                    vu.name, heads=self.cfg.heads // self.tp, head_dim=self.cfg.head_dim,
                                    vector_units=vu.count)

    # ---- mapping (cached: identical shapes map identically) ---------------------------------------

    def mapped(self, cascade: Cascade):
        key = cascade.describe()
        if key not in self.maps:
            self.maps[key] = map_workload(self.arch, cascade, fuse=self.fuse, searches=self.searches).program
        return self.maps[key]

    def layer_parts(self, contexts: list[int]):
        """(pre, [attention per group], post) cascades of one layer for these attended contexts."""
        if self.attention == "npu":
            contexts = [max(BUCKET, BUCKET * round(c / BUCKET)) for c in contexts]
        else:       # attention runs on PIM from the contexts themselves; only the GEMM parts are used here
            contexts = [1] * len(contexts)
        w = decode(self.cfg, contexts, tp=self.tp, dtype=self.dtype)
        layer = next(s for s in w.stages if s.name == "layer")
        return split_layer(layer.cascade)

    # ---- one layer's program -------------------------------------------------------------------

    def _attention(self, comp: Composer, active, attn_parts, after):
        if self.attention == "npu":
            ends = []
            for part in attn_parts:
                ends += comp.add(self.mapped(part), after)
            return tuple(ends)
        where = self.packer.where
        reqs = [(rid, where[rid], keys) for rid, keys in active]
        tasks, ends = attention_tasks(self.pim, reqs, comp.next_id, label="", kv_append=self.kv_append)
        comp.add(tasks, after)
        return tuple(ends)

    def _sub_batches(self, active):
        """The batch halved per channel (NeuPIMs Alg. 3), or whole."""
        if not self.sub_batch or len(active) < 2:
            return [active]
        by_channel: dict[int, list] = {}
        for r in active:
            by_channel.setdefault(self.packer.where[r[0]], []).append(r)
        a, b = [], []
        for rs in by_channel.values():
            half = (len(rs) + 1) // 2
            a += rs[:half]
            b += rs[half:]
        return [x for x in (a, b) if x]

    def layers_program(self, active, layers: int):
        """`layers` consecutive decoder layers for the active (request id, keys) requests.

        The NPU's order is NeuPIMs' stage table (src/StageProgram.cc): QKV generation of every sub-batch,
        then per sub-batch in turn its projection and FFNs followed by its next layer's QKV generation,
        so that while the NPU works on one sub-batch PIM runs the other's attention (Alg. 3). Attention
        issues from the PIM side's own queues (`PimAttention.queue`), in sub-batch order."""
        comp = Composer()
        subs = self._sub_batches(active)
        parts = [self.layer_parts([k for _, k in s]) for s in subs]
        pre_ends = [comp.add(self.mapped(p[0])) for p in parts]
        for n in range(layers):
            attn_ends = [self._attention(comp, subs[i], p[1], pre_ends[i]) for i, p in enumerate(parts)]
            for i, p in enumerate(parts):
                post_ends = comp.add(self.mapped(p[2]), attn_ends[i])
                if n + 1 < layers:
                    pre_ends[i] = comp.add(self.mapped(p[0]), post_ends)
        return comp.program()

    def fixed_stage(self, name: str, batch: int):
        """Embedding or head of a batch: simulated once per batch size."""
        key = (name, batch)
        if key not in self.fixed:
            w = decode(self.cfg, [1] * batch, tp=self.tp, dtype=self.dtype)
            stage = next(s for s in w.stages if s.name == name)
            r = simulate(self.arch, self.mapped(stage.cascade))
            self.fixed[key] = r
        return self.fixed[key]

    # ---- one iteration -------------------------------------------------------------------------

    def step(self, active) -> StepResult:
        if self.packer is not None:
            self.packer.assign(active)
        # one and two layers: each further layer adds what the second added (the steady state of the
        # pipelined layers; the first layer also fills the pipeline)
        one = simulate(self.arch, self.layers_program(active, 1))
        two = simulate(self.arch, self.layers_program(active, 2))
        self.last_layer = two
        period = two.total_ps - one.total_ps
        layer_pj = two.energy_pj - one.energy_pj
        emb, head = self.fixed_stage("embedding", len(active)), self.fixed_stage("head", len(active))
        L = self.cfg.layers
        time_s = (emb.total_ps + head.total_ps + one.total_ps + (L - 1) * period) * 1e-12
        energy = (emb.energy_pj + head.energy_pj + one.energy_pj + (L - 1) * layer_pj) * 1e-12
        layer_s, layer_j, end1 = period * 1e-12, layer_pj * 1e-12, one.total_ps
        util = two.utilisation()
        npu = self.arch.of_type("systolic_array")[0].name
        dram = self.arch.of_type("dram")[0].name
        comps = {c["name"]: c for c in two.components}
        pim = comps[dram].get("pim_busy_ps", 0.0) / two.total_ps if two.total_ps else 0.0
        return StepResult(time_s, energy, {"npu_util": util[npu], "pim_util": pim, "dram_util": util[dram],
                                           "layer_s": layer_s, "layers": L, "first_layer_s": end1 * 1e-12,
                                           "embedding_s": emb.total_ps * 1e-12, "head_s": head.total_ps * 1e-12,
                                           "layer_energy_j": layer_j})


def configuration(name: str, setup: dict) -> tuple[str, str, bool]:
    """(architecture, where attention runs, sub-batch interleaving on) of a named system for a setup."""
    if name not in SYSTEMS:
        raise LoomError(f"unknown NeuPIMs system '{name}'; valid: {choices_text(SYSTEMS)}.")
    spec = SYSTEMS[name]
    sb = spec["sub_batch"]
    on = {"auto": setup["batch"] >= SUB_BATCH_FROM, "on": True, "off": False}[sb] if isinstance(sb, str) else bool(sb)
    return setup.get(f"{name}_arch", spec["arch"]), spec["attention"], on


def make_system(name: str, setup: dict) -> System:
    arch, attention, sub_batch = configuration(name, setup)
    return System(name, load_arch(arch), attention, sub_batch, setup["model"], setup.get("tp", 1),
                  kv_append=setup.get("kv_append", True), fuse=setup.get("fuse", True))


def trace_size(setup: dict) -> int:
    """Requests enough for the fast-forward and the simulated iterations even if every request were
    short (Alpaca-like outputs average 56 tokens), unless the setup says how many extra to draw."""
    if "extra_requests" in setup:
        return setup["batch"] + setup["extra_requests"]
    iterations = setup.get("fast_forward", 0) + setup.get("warmup", 2) + setup.get("measure", 4)
    return setup["batch"] * (2 + iterations // 16)


def serve(name: str, setup: dict, progress=None, keep: dict | None = None):
    """Serve the setup's trace on one system; returns the ServingRun (and, in `keep`, the system)."""
    trace = make_trace(trace_size(setup), rng=setup.get("seed", 0), dataset_name=setup.get("dataset", "sharegpt"),
                       max_total=setup.get("max_total"))
    system = make_system(name, setup)
    if keep is not None:
        keep[name] = system
    return serve_decode(trace, setup["batch"], system.step, warmup=setup.get("warmup", 2),
                        measure=setup.get("measure", 4), fast_forward=setup.get("fast_forward", 0),
                        progress=progress)


# fast_forward: the batch is sampled in the steady state of continuous batching, as NeuPIMs' trace
# generator samples its batches after a warm-up (see simulator/serving.py); 2,048 iterations is the
# longest request a trace can hold (max_total), so every slot has turned over.
# max_total: contexts are capped at 2,048 tokens (get_distributions.py ModelConfig.max_seq_len).
DEFAULT = {"model": "gpt3-7b-neupims", "tp": 4, "batch": 256, "dataset": "sharegpt", "seed": 0, "fast_forward": 2048,
           "max_total": 2048, "warmup": 0, "measure": 2, "systems": ["neupims", "npu_only", "npu_pim_blocked", "gpu_only"]}


def compare(setup: dict, progress=None):
    """The main job: every system on the same trace. Returns (runs by system, one simulated layer of
    each system's last measured iteration, the simplifications those models name)."""
    runs, systems = {}, {}
    for name in setup["systems"]:
        runs[name] = serve(name, setup, progress=(lambda i, n, name=name: progress(name, i, n)) if progress else None,
                           keep=systems)
    layers = {name: s.last_layer for name, s in systems.items()}
    notes: list[str] = []
    for r in layers.values():
        notes += [n for n in r.simplifications if n not in notes]
    notes.append("NeuPIMs design: " + " ".join(__doc__.split("Named simplifications: ")[1].split()))
    return runs, layers, notes


@experiment_runner("neupims")
def run(setup: dict, memo: dict | None = None) -> dict[str, float]:
    """Figures of every system for one setup: throughput (tokens/s), utilisations, energy per token.
    A system already served on the same setup (other systems aside) in this `memo` is not served again."""
    memo = {} if memo is None else memo
    out = {}
    base = {k: v for k, v in setup.items() if k != "systems"}
    for name in setup.get("systems", list(SYSTEMS)):
        key = (configuration(name, setup), json.dumps(base, sort_keys=True, default=str))
        if key not in memo:
            memo[key] = serve(name, setup)
        run_ = memo[key]
        out[f"{name}.throughput"] = run_.throughput
        out[f"{name}.energy_per_token"] = run_.energy_per_token
        for stat in ("npu_util", "pim_util", "dram_util"):
            out[f"{name}.{stat}"] = run_.mean(stat)
    return out

