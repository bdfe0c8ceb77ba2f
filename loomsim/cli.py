"""The `loom` command. Each subcommand lives in `loomsim/commands/<name>.py` and registers itself."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from loomsim.errors import LoomError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loom", description="Loom: a cycle-level, event-driven simulator of LLM accelerators.",
        epilog="Run 'loom COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"loom {__import__('loomsim').__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import loomsim.commands as commands
    for mod in pkgutil.iter_modules(commands.__path__):
        if mod.name.startswith("_"):
            continue
        importlib.import_module(f"loomsim.commands.{mod.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        getattr(args, "parser", parser).print_help()
        return 0 if args.command is None else 2
    try:
        return args.func(args) or 0
    except LoomError as exc:
        print(f"loom {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"loom {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
