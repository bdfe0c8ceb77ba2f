"""`loom validate`: run a design's published experiments and print published versus simulated."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("validate", help="reproduce a design's published results",
                       description="Run the experiments of configs/experiments/DESIGN.yaml and print, for each "
                                   "published figure, the simulated value and whether it lands within tolerance.")
    p.add_argument("design", nargs="?", help="a design with experiments (omit to run them all)")
    p.add_argument("--reduced", action="store_true", help="the reduced setups the CI golden tier runs")
    p.add_argument("--only", action="append", metavar="ID", help="run only this experiment (repeatable)")
    p.add_argument("--json", metavar="FILE", help="also write the table as JSON records")
    p.add_argument("--force", action="store_true", help="overwrite the JSON file if it exists")
    p.add_argument("--strict", action="store_true", help="exit 1 when any experiment misses its tolerance")
    p.set_defaults(func=validate)


def validate(args) -> int:
    import sys

    import pandas as pd

    from loomsim import fmt
    from loomsim.commands._common import output_path
    from loomsim.validate import designs, experiment_path, load_experiments, run_experiments

    out = output_path(args.json, args.force) if args.json else None
    names = [args.design] if args.design else designs()
    if not names:
        print("no design has experiments yet")
        return 0
    frames = []
    for name in names:
        spec = load_experiments(experiment_path(name))
        frames.append(run_experiments(spec, reduced=args.reduced, only=args.only,
                                      progress=lambda msg: print(msg, file=sys.stderr, flush=True)))
    table = pd.concat(frames, ignore_index=True)
    rows = [[r.design, r.id, r.source, str(r.published), f"{r.simulated:.3g}", "yes" if r.within else "NO"]
            for r in table.itertuples()]
    print(fmt.table(rows, ["design", "experiment", "source", "published", "simulated", "within"]))
    hits = int(table["within"].sum())
    print(f"\n{hits} of {len(table)} within tolerance" + (" (reduced setups)" if args.reduced else ""))
    if out:
        table.to_json(out, orient="records", indent=1)
        print(f"wrote {out}")
    return 1 if args.strict and hits < len(table) else 0
