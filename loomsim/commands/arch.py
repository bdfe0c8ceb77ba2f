"""`loom arch`: check an architecture file, list component types and shipped designs, describe a type."""
from __future__ import annotations

from loomsim import fmt
from loomsim.errors import LoomError, choices_text, closest


def register(sub) -> None:
    p = sub.add_parser("arch", help="check, list and describe architectures",
                       description="Work with architecture YAML files and component types.")
    asub = p.add_subparsers(dest="arch_command", metavar="SUBCOMMAND")
    c = asub.add_parser("check", help="validate an architecture file and print its resolved configuration",
                        description="Validate an architecture file; print every problem with file, line, YAML path "
                                    "and the valid choices, or the fully resolved configuration.")
    c.add_argument("file", help="architecture YAML file, or the name of a shipped one")
    c.add_argument("--quiet", action="store_true", help="print only problems, not the resolved configuration")
    c.set_defaults(func=check)
    ls = asub.add_parser("list", help="list component types and shipped architectures",
                         description="List the registered component types and the architectures shipped with Loom.")
    ls.set_defaults(func=list_)
    d = asub.add_parser("describe", help="the parameters of a component type",
                        description="Print every parameter of a component type: kind, unit, default and help.")
    d.add_argument("type", help="a component type, e.g. systolic_array")
    d.set_defaults(func=describe)
    p.set_defaults(func=None, parser=p)


def check(args) -> int:
    from loomsim.arch import load_arch

    spec = load_arch(args.file)
    print(f"{args.file}: OK ({len(spec.components)} components, {len(spec.links)} links, hash {spec.content_hash()})")
    if not args.quiet:
        print(spec.to_yaml(), end="")
    return 0


def list_(args) -> int:
    from loomsim.arch import component_types, shipped_arch_names

    print("component types:")
    for name, cls in component_types().items():
        print(f"  {name:16s} {(cls.__doc__ or '').strip().splitlines()[0]}")
    print("shipped architectures (use the name with --arch):")
    for name in shipped_arch_names():
        print(f"  {name}")
    return 0


def describe(args) -> int:
    from loomsim.arch import component_types, params_of

    types = component_types()
    cls = types.get(args.type)
    if cls is None:
        hint = closest(args.type, types)
        raise LoomError(f"unknown component type '{args.type}'; valid types: {choices_text(types)}."
                        + (f" Did you mean '{hint}'?" if hint else ""))
    print(f"{args.type}: {(cls.__doc__ or '').strip()}\n")
    rows = []
    for p in params_of(cls):
        default = "required" if p.required else ("inherited/derived" if p.default_text is None else str(p.default_text))
        rows.append([p.key, p.kind.name, p.kind.unit, default, p.help])
    print(fmt.table(rows, ["parameter", "kind", "unit", "default", "help"]))
    return 0
