"""`loom bench`: throughput benchmarks (mappings/s, DRAM commands/s, simulated cycles per second)."""
from __future__ import annotations

from loomsim.errors import LoomError, choices_text, closest


def register(sub) -> None:
    p = sub.add_parser("bench", help="run a throughput benchmark",
                       description="Run a benchmark and print its throughputs and its ratios against a baseline "
                                   "measured in the same run. Figures vary with the machine's load; compare ratios.")
    p.add_argument("name", nargs="?", help="benchmark to run (omit to list them)")
    p.add_argument("--quick", action="store_true", help="a smaller run, for smoke tests")
    p.add_argument("--json", metavar="FILE", help="also write the frame as JSON records")
    p.add_argument("--force", action="store_true", help="overwrite the JSON file if it exists")
    p.set_defaults(func=bench)


def bench(args) -> int:
    from loomsim.benchmarks import benchmarks
    from loomsim.commands._common import output_path

    found = benchmarks()
    if not args.name:
        if not found:
            print("no benchmarks are registered yet")
        for name, (_, help_) in found.items():
            print(f"  {name:12s} {help_}")
        return 0
    if args.name not in found:
        hint = closest(args.name, found)
        raise LoomError(f"unknown benchmark '{args.name}'; valid: {choices_text(found) or '(none yet)'}."
                        + (f" Did you mean '{hint}'?" if hint else ""))
    out = output_path(args.json, args.force) if args.json else None
    frame = found[args.name][0](quick=args.quick)
    print(frame.to_string(index=False))
    if out:
        frame.to_json(out, orient="records", indent=1)
        print(f"wrote {out}")
    return 0
