"""`loom run`: map a workload onto an architecture, simulate it, print the results."""
from __future__ import annotations

import argparse

from loomsim import fmt
from loomsim.commands._common import output_path

EXAMPLE_ARCH = "npu"
EXAMPLE_WORKLOAD = "gemm M=64 N=1024 K=512"


def register(sub) -> None:
    p = sub.add_parser("run", help="simulate a workload on an architecture",
                       description="Map a workload onto an architecture, simulate it event by event and print "
                                   "cycles, time, utilisation, energy by component and bytes per memory level.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", default=EXAMPLE_ARCH,
                   help="architecture YAML file, or the name of a shipped one (see 'loom arch list')")
    p.add_argument("--workload", default=EXAMPLE_WORKLOAD,
                   help="workload string: 'gemm M=.. N=.. K=.. [dtype=..]' or 'gemv N=.. K=..'")
    p.add_argument("--objective", default="latency", choices=["latency", "energy", "edp"],
                   help="what the mapper minimises")
    p.add_argument("--fuse", action="store_true",
                   help="let the mapper fuse Einsums and keep their intermediates on chip (see 'loom map --fuse')")
    p.add_argument("--json", metavar="FILE", help="also write the full result as JSON (input of 'loom report')")
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=run)


def run(args) -> int:
    from loomsim.arch import load_arch
    from loomsim.mappers import map_workload
    from loomsim.simulator import simulate
    from loomsim.workloads import build_workload

    json_path = output_path(args.json, args.force) if args.json else None
    html_path = output_path(args.html, args.force) if args.html else None
    arch = load_arch(args.arch)
    cascade = build_workload(args.workload)
    mapped = map_workload(arch, cascade, args.objective, fuse=args.fuse)
    result = simulate(arch, mapped.program, workload=args.workload)
    print(summary_text(result))
    if json_path:
        result.to_json(json_path)
        print(f"\nwrote {json_path}")
    if html_path:
        from loomsim.reports import write_report
        write_report(result, html_path)
        print(f"{'' if json_path else chr(10)}wrote {html_path}")
    return 0


def summary_text(result) -> str:
    frames = result.to_frames()
    m = result.mapping
    lines = [f"{result.workload} on {result.arch_name} (architecture hash {result.arch_hash})"]
    if "description" in m:
        lines.append(f"mapping: {m['description']}; {m.get('evaluated', 0)} mappings evaluated, "
                     f"{m.get('rejected_total', 0)} rejected {m.get('rejected') or ''}".rstrip())
    lines += ["", f"cycles   {result.cycles:,} at {result.clock_hz / 1e6:g} MHz",
              f"time     {fmt.time_ps(result.total_ps)}", f"energy   {fmt.energy_pj(result.energy_pj)}", ""]
    comp = frames["components"]
    rows = []
    for name, g in comp.groupby("component", sort=False):
        stats = dict(zip(g["stat"], g["value"]))
        extra = f"MAC utilisation {fmt.percent(stats['mac_utilisation'])}" if "mac_utilisation" in stats else ""
        rows.append([name, g["type"].iloc[0], fmt.time_ps(stats["busy"]), fmt.percent(stats["utilisation"]), extra])
    lines += [fmt.table(rows, ["component", "type", "busy", "utilisation", ""]), ""]
    en = frames["energy"]
    total = en["pj"].sum() or 1.0
    rows = [[r.component, r.action, fmt.energy_pj(r.pj), fmt.percent(r.pj / total)] for r in en.itertuples()]
    lines += [fmt.table(rows, ["component", "action", "energy", "share"]), ""]
    tr = frames["traffic"].pivot_table(index="level", columns="direction", values="bytes", aggfunc="sum",
                                       fill_value=0)
    rows = [[lvl, fmt.nbytes(r.get("read", 0)), fmt.nbytes(r.get("write", 0))] for lvl, r in tr.iterrows()]
    lines += [fmt.table(rows, ["memory level", "read", "written"])]
    if result.simplifications:
        lines += ["", "simplifications in this model:"] + [f"  - {n}" for n in result.simplifications]
    return "\n".join(lines)
