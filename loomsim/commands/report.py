"""`loom report`: turn a result JSON into a self-contained HTML report."""
from __future__ import annotations

from loomsim.commands._common import output_path


def register(sub) -> None:
    p = sub.add_parser("report", help="write an HTML report from a result JSON",
                       description="Write one self-contained HTML file (plotly embedded, opens offline) with "
                                   "cycles, a utilisation timeline, energy by component and traffic by memory level.")
    p.add_argument("result", metavar="RESULT.json", help="a result written by 'loom run --json'")
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write (default: report.html)")
    p.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    p.set_defaults(func=report)


def report(args) -> int:
    from loomsim.reports import write_report
    from loomsim.simulator import SimResult

    out = output_path(args.output, args.force)
    result = SimResult.from_json(args.result)
    write_report(result, out)
    print(f"wrote {out}")
    return 0
