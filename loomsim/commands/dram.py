"""`loom dram`: run request streams through the cycle-level DRAM engine; list and show device presets."""
from __future__ import annotations

import json

from loomsim import fmt
from loomsim.errors import LoomError


def register(sub) -> None:
    p = sub.add_parser("dram", help="cycle-level DRAM: run traces and patterns, list and show presets",
                       description="The cycle-level DRAM/PIM engine on its own: run a trace file or a synthetic "
                                   "pattern through a device, or inspect the device presets.")
    dsub = p.add_subparsers(dest="dram_command", metavar="SUBCOMMAND")
    r = dsub.add_parser("run", help="simulate a trace or a pattern on a device",
                        description="Simulate every request of a trace file (one 'hex_address READ|WRITE "
                                    "arrival_cycle' a line, arrival in device cycles, in order) or of a synthetic "
                                    "pattern, command by command. Prints transactions per cycle, GB/s, command "
                                    "counts, row-buffer hit rate, read latency (mean, p99; from queue entry to "
                                    "last data beat) and energy.")
    r.add_argument("--device", required=True, help="a preset name (see 'loom dram presets') or a device YAML file")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--trace", metavar="FILE", help="trace file, streamed a chunk at a time")
    src.add_argument("--pattern", metavar="PATTERN",
                     help="seq, random or stride:BYTES; all requests arrive at cycle 0 and the queue paces them")
    r.add_argument("--requests", type=int, metavar="N", help="stop after N requests (pattern default: 1000000)")
    r.add_argument("--cycles", type=int, metavar="N", help="stop at cycle N")
    r.add_argument("--write-fraction", type=float, default=0.0, metavar="F",
                   help="share of writes in a pattern (0..1)")
    r.add_argument("--seed", type=int, default=0, help="seed of the random pattern")
    r.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    r.add_argument("--force", action="store_true", help="overwrite the JSON file if it exists")
    r.set_defaults(func=run)
    ls = dsub.add_parser("presets", help="list the shipped DRAM device presets",
                         description="List the shipped DRAM device presets with their organisation and peak bandwidth.")
    ls.set_defaults(func=presets)
    sh = dsub.add_parser("show", help="a device's resolved parameters and its timing rules",
                         description="Print a device's resolved parameters (every timing in cycles) as YAML, "
                                     "and every timing rule the engine enforces.")
    sh.add_argument("device", help="a preset name or a device YAML file")
    sh.set_defaults(func=show)
    de = dsub.add_parser("describe", help="the parameters of a device file, section by section",
                         description="Every parameter a device YAML (or a dram component's timing:/organisation: "
                                     "overrides) may give: kind, unit, default and help.")
    de.add_argument("section", nargs="?", help="organisation, timing, power, energy, pim or controller (default: all)")
    de.set_defaults(func=describe)
    p.set_defaults(func=None, parser=p)


def run(args) -> int:
    from loomsim.arch.dram_presets import load_device
    from loomsim.commands._common import output_path
    from loomsim.simulator.dram.run import run_stream
    from loomsim.simulator.dram.trace import pattern, read_trace

    for name in ("requests", "cycles"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise LoomError(f"--{name} must be a positive whole number, got {value}.")
    if not 0 <= args.write_fraction <= 1:
        raise LoomError(f"--write-fraction must be between 0 and 1, got {args.write_fraction}.")
    out = output_path(args.json, args.force) if args.json else None
    device = load_device(args.device)
    if args.trace:
        chunks = read_trace(args.trace, limit=args.requests)
        source = args.trace
    else:
        n = args.requests or 1_000_000
        chunks = pattern(args.pattern, device.atom, device.capacity, n, args.write_fraction, args.seed)
        source = f"pattern {args.pattern}, {n:,} requests"
    stats = run_stream(device, chunks, cycles=args.cycles)
    print(summary(stats, source))
    if out:
        out.write_text(json.dumps({"schema": "loom.dramrun/1", "source": source, **stats.to_dict()}, indent=1))
        print(f"\nwrote {out}")
    return 0


def summary(s, source: str) -> str:
    ns = s.cycles * s.tck_ps / 1000
    lines = [f"{source} on {s.device}", "",
             f"requests      {s.requests:,} ({s.reads:,} reads, {s.writes:,} writes)",
             f"cycles        {s.cycles:,} ({fmt.time_ps(ns * 1000)} at tCK {s.tck_ps} ps)",
             f"throughput    {s.transactions_per_cycle:.4g} transactions/cycle, {s.bandwidth_gbps:.4g} GB/s "
             f"({fmt.percent(s.bandwidth_gbps / s.peak_gbps)} of the {s.peak_gbps:.4g} GB/s peak)",
             f"row hits      {fmt.percent(s.row_hit_rate)} of column accesses",
             f"read latency  mean {s.read_latency_mean:.1f} cycles, p99 {s.read_latency_p99:.0f} cycles", ""]
    rows = [[k, f"{v:,}"] for k, v in s.commands.items() if v]
    lines += [fmt.table(rows, ["command", "count"]), ""]
    if s.energy_pj:
        total = sum(s.energy_pj.values()) or 1.0
        rows = [[k, fmt.energy_pj(v), fmt.percent(v / total)] for k, v in s.energy_pj.items() if v]
        lines += [fmt.table(rows, [f"energy ({s.energy_model})", "pJ", "share"]),
                  f"total energy  {fmt.energy_pj(total)}", ""]
    else:
        lines += ["energy        n/a (the device has no energy model)", ""]
    lines.append(f"simulated in {s.wall_seconds:.2f} s: {s.commands_per_second / 1e6:.3g} million commands/s")
    lines += ["", "simplifications in this model:"] + [f"  - {n}" for n in s.notes]
    return "\n".join(lines)


def presets(args) -> int:
    from loomsim.arch.dram_presets import load_device, preset_names

    rows = []
    for name in preset_names():
        d = load_device(name)
        o = d.org
        rows.append([name, d.standard, f"{o.channels}x{o.ranks}x{o.bankgroups}x{o.banks_per_group}",
                     f"{d.tck_ps} ps", f"{d.atom} B", f"{d.peak_bandwidth / 1e9:.4g} GB/s", d.pim.mode,
                     d.description])
    print(fmt.table(rows, ["preset", "standard", "ch x rank x bg x bank", "tCK", "access", "peak", "PIM",
                           "description"]))
    return 0


def describe(args) -> int:
    from loomsim.arch.dram_device import SECTIONS
    from loomsim.arch.params import params_of
    from loomsim.errors import choices_text, closest

    names = [args.section] if args.section else list(SECTIONS)
    for name in names:
        if name not in SECTIONS:
            hint = closest(name, SECTIONS)
            raise LoomError(f"unknown device section '{name}'; valid: {choices_text(SECTIONS)}."
                            + (f" Did you mean '{hint}'?" if hint else ""))
        cls = SECTIONS[name]
        rows = [[p.key, p.kind.name, p.kind.unit, "required" if p.required else
                 ("derived" if p.default_text is None else str(p.default_text)), p.help] for p in params_of(cls)]
        print(f"{name}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        print(fmt.table(rows, ["parameter", "kind", "unit", "default", "help"]), end="\n\n")
    return 0


def show(args) -> int:
    import yaml

    from loomsim.arch.dram_presets import load_device
    from loomsim.simulator.dram.commands import rules

    d = load_device(args.device)
    print(f"# {d.describe()}")
    print(f"# from {d.source}")
    print(yaml.safe_dump(d.to_dict(), sort_keys=False), end="")
    print("\n# timing rules the engine enforces (cycles):")
    for r in rules(d):
        print(f"#   {r}")
    return 0
