"""`loom run`: map a workload onto an architecture, simulate it, print the results."""
from __future__ import annotations

import argparse
from pathlib import Path

from loomsim import fmt
from loomsim.commands._common import output_path

EXAMPLE_ARCH = "npu"
EXAMPLE_WORKLOAD = "gemm M=64 N=1024 K=512"


def register(sub) -> None:
    p = sub.add_parser("run", help="the main job (NeuPIMs vs its baselines), or one workload on one architecture",
                       description="With no --arch and no --workload: the default experiment - NeuPIMs against its "
                                   "three baselines (NPU-only, the naive NPU+PIM, an A100) serving GPT-3 7B decoding "
                                   "(one device of tensor-parallel 4), batch 256, ShareGPT-like lengths - printed as a "
                                   "comparison and written to report.html. With --arch or --workload: map that workload "
                                   "onto that architecture, simulate it event by event and print cycles, time, "
                                   "utilisation, energy by component and bytes per memory level.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", default=None,
                   help=f"architecture YAML file, or the name of a shipped one (see 'loom arch list'); "
                        f"with only --workload: {EXAMPLE_ARCH}")
    p.add_argument("--workload", default=None,
                   help=f"workload string: 'gemm M=.. N=.. K=.. [dtype=..]', 'gemv N=.. K=..' or 'attention ...'; "
                        f"with only --arch: '{EXAMPLE_WORKLOAD}'")
    main = p.add_argument_group("the main job (no --arch, no --workload)")
    main.add_argument("--batch", type=int, default=None, help="decode batch (default 256)")
    main.add_argument("--model", default=None, help="zoo model (default gpt3-7b-neupims)")
    main.add_argument("--dataset", default=None, help="sharegpt or alpaca (default sharegpt)")
    main.add_argument("--systems", default=None,
                      help="comma-separated systems (default neupims,npu_only,npu_pim_blocked,gpu_only)")
    main.add_argument("--measure", type=int, default=None, help="measured iterations per system (default 2)")
    main.add_argument("--warmup", type=int, default=None, help="warm-up iterations per system (default 0: simulated time carries no state between iterations)")
    main.add_argument("--quick", action="store_true",
                      help="a small version (batch 16, one measured iteration after 512 fast-forwarded ones) to try things out")
    p.add_argument("--objective", default="latency", choices=["latency", "energy", "edp"],
                   help="what the mapper minimises")
    p.add_argument("--fuse", action="store_true",
                   help="let the mapper fuse Einsums and keep their intermediates on chip (see 'loom map --fuse')")
    p.add_argument("--json", metavar="FILE", help="also write the full result as JSON (input of 'loom report')")
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.arch is None and args.workload is None:
        return main_job(args)
    from loomsim.arch import load_arch
    from loomsim.mappers import map_workload
    from loomsim.simulator import simulate
    from loomsim.workloads import build_workload

    json_path = output_path(args.json, args.force) if args.json else None
    html_path = output_path(args.html, args.force) if args.html else None
    arch = load_arch(args.arch or EXAMPLE_ARCH)
    args.workload = args.workload or EXAMPLE_WORKLOAD
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


def _free_name(path: str) -> Path:
    """`path`, or, if a file of that name exists, the first free `stem-N.suffix` (nothing is overwritten)."""
    p = Path(path)
    n = 2
    while p.exists():
        p = Path(path).with_name(f"{Path(path).stem}-{n}{Path(path).suffix}")
        n += 1
    return p


def main_job(args) -> int:
    """NeuPIMs against its baselines on one trace: a comparison table and report.html."""
    import time

    from loomsim.designs.neupims import DEFAULT, compare
    from loomsim.errors import LoomError
    from loomsim.reports.compare import comparison_frame, write_comparison

    setup = dict(DEFAULT)
    if args.quick:
        setup.update(batch=16, fast_forward=512, warmup=0, measure=1)
    for key in ("batch", "model", "dataset", "measure", "warmup"):
        if getattr(args, key) is not None:
            setup[key] = getattr(args, key)
    if args.systems:
        setup["systems"] = [s.strip() for s in args.systems.split(",") if s.strip()]
    if setup["batch"] < 1:
        raise LoomError(f"--batch must be at least 1, got {setup['batch']}.")
    html_path = output_path(args.html, args.force) if args.html else _free_name("report.html")
    json_path = output_path(args.json, args.force) if args.json else None
    print(f"main job: {', '.join(setup['systems'])} serving {setup['model']} (tensor-parallel {setup['tp']}, one "
          f"device simulated), batch {setup['batch']}, {setup['dataset']}-like lengths, steady state after "
          f"{setup.get('fast_forward', 0)} fast-forwarded iterations; {setup['warmup']} warm-up + {setup['measure']} "
          f"measured iterations each", flush=True)
    bar = _progress(len(setup["systems"]) * (setup["warmup"] + setup["measure"]))
    t0 = time.perf_counter()
    runs, layers, notes = compare(setup, progress=lambda name, i, n: bar(name, i, n))
    bar.close()
    df = comparison_frame(runs, baseline="npu_only")
    rows = [[r.system, f"{r.throughput_tok_s:,.0f}", f"{getattr(r, 'speedup', float('nan')):.2f}x",
             fmt.percent(r.npu_util), fmt.percent(r.pim_util), fmt.percent(r.dram_util),
             f"{r.energy_per_token_mj:.3f}"] for r in df.itertuples()]
    print(fmt.table(rows, ["system", "tokens/s", "vs npu_only", "NPU util", "PIM util", "DRAM util", "mJ/token"]))
    print(f"\nsimulated in {time.perf_counter() - t0:.0f} s")
    write_comparison(html_path, df, layers, setup, notes)
    print(f"wrote {html_path}")
    if json_path:
        df.to_json(json_path, orient="records", indent=1)
        print(f"wrote {json_path}")
    return 0


class _progress:
    """A progress bar on stderr (tqdm), advanced once per simulated iteration."""

    def __init__(self, total: int):
        from tqdm import tqdm
        self.bar = tqdm(total=total, unit="iteration", dynamic_ncols=True)

    def __call__(self, name: str, i: int, n: int) -> None:
        self.bar.set_description(name)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
