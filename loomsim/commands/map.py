"""`loom map`: search mappings of a workload on an architecture and print the best, its cost and why others lost."""
from __future__ import annotations

import argparse

from loomsim import fmt

EXAMPLE_ARCH = "npu"
EXAMPLE_WORKLOAD = "gemm M=64 N=1024 K=512"


def register(sub) -> None:
    p = sub.add_parser("map", help="find the best mapping of a workload (no simulation)",
                       description="Search the map space of every Einsum of a workload on an architecture and print "
                                   "the best mapping as a loop nest, its estimated cycles, energy and traffic per "
                                   "tensor and level, and how many mappings were evaluated and rejected, by reason.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", default=EXAMPLE_ARCH, help="architecture YAML file or shipped name")
    p.add_argument("--workload", default=EXAMPLE_WORKLOAD, help="workload string, e.g. 'gemm M=.. N=.. K=..'")
    p.add_argument("--objective", default="latency",
                   help="latency, energy, edp, or a lexicographic list such as latency,energy")
    p.add_argument("--strategy", default=None,
                   help="exhaustive, random, loop-order or evolutionary (default: exhaustive for spaces up to "
                        "200,000 mappings, else evolutionary)")
    p.add_argument("--budget", type=int, default=None, help="mapping evaluations per Einsum (default 50,000)")
    p.add_argument("--seconds", type=float, default=None, help="wall-time budget per Einsum (not deterministic)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search's random generator")
    p.add_argument("--placement", default="by-kind", help="placement policy: by-kind or by-intensity")
    p.add_argument("--fuse", action="store_true",
                   help="fuse consecutive Einsums under shared loops, keeping intermediates that fit on chip")
    p.set_defaults(func=run)


def run(args) -> int:
    from loomsim.arch import load_arch
    from loomsim.errors import LoomError
    from loomsim.mappers import map_workload
    from loomsim.workloads import build_workload

    if args.budget is not None and args.budget <= 0:
        raise LoomError(f"--budget must be a positive number of evaluations, not {args.budget}.")
    arch = load_arch(args.arch)
    cascade = build_workload(args.workload)
    mapped = map_workload(arch, cascade, args.objective, strategy=args.strategy, budget=args.budget,
                          seconds=args.seconds, seed=args.seed, placement=args.placement, fuse=args.fuse)
    print(mapped_text(mapped))
    return 0


def mapped_text(mapped) -> str:
    lines = []
    for em in mapped.einsums:
        c, s = em.cost, em.search
        lines += [em.render(), ""]
        lines.append(f"estimated  {fmt.time_ps(c.latency_ps)} (compute {fmt.time_ps(c.compute_ps)}, "
                     f"{c.compute_cycles:,} unit cycles), {fmt.energy_pj(c.energy_pj)}, "
                     f"DRAM traffic {fmt.nbytes(c.dram_bytes)}, {c.tasks:,} compute tasks")
        frame = c.frame()
        rows = []
        for (t, lv), g in frame.groupby(["tensor", "level"], sort=False):
            v = dict(zip(g["stat"], g["value"]))
            if v["reads"] or v["fills"] or v["updates"]:
                rows.append([t, lv, f"{v['reads']:,}", f"{v['fills']:,}", f"{v['updates']:,}"])
        lines += [fmt.table(rows, ["tensor", "level", "reads", "fills", "updates"]), ""]
        rej = ", ".join(f"{k} {v:,}" for k, v in sorted(s.rejected.items())) or "none"
        pruned = ", ".join(f"{k} {v:,}" for k, v in sorted(s.pruned.items()))
        lines.append(f"search     {s.strategy}: {s.evaluated:,} mappings evaluated of {em.space_size:.3g}, "
                     f"{s.legal:,} legal, rejected: {rej}" + (f"; pruned unevaluated: {pruned}" if pruned else "")
                     + f"; {s.seconds:.2f} s")
        lines.append("")
    for g in mapped.groups:
        if not g.fused:
            continue
        d = g.describe()
        lines.append(f"group      {len(g.einsums)} Einsums from '{g.einsums[0]}'; shared loops: "
                     + (" ".join(d["nest"]) or "none"))
        kept = ", ".join(f"{t} {fmt.nbytes(b)}" for t, b in d["footprint_bytes"].items()) or "none"
        lines.append(f"  on chip  {kept}; peak {fmt.nbytes(g.peak)} of a {fmt.nbytes(g.budget)} budget")
        spilled = ", ".join(f"{t} ({why})" for t, why in d["spilled"].items()) or "none"
        lines.append(f"  to DRAM  {spilled}")
        lines.append("")
    if len(mapped.einsums) > 1:
        lines.append(f"total      {fmt.time_ps(mapped.latency_ps)}, {fmt.energy_pj(mapped.energy_pj)} "
                     f"(estimated; Einsums and their runs one after another)")
    return "\n".join(lines).rstrip()
