"""`loom workload`: list the model zoo, show a model's (or a generator's) Einsums with their costs."""
from __future__ import annotations

import argparse

from loomsim import fmt


def register(sub) -> None:
    p = sub.add_parser("workload", help="list models, show a workload's Einsums and costs",
                       description="Inspect workloads: the model zoo and the Einsum cascades Loom builds.")
    wsub = p.add_subparsers(dest="workload_command", metavar="SUBCOMMAND")
    ls = wsub.add_parser("list", help="list the zoo's models and the workload generators",
                         description="List every model of the zoo with its shape and published size.")
    ls.set_defaults(func=list_)
    sh = wsub.add_parser("show", help="each Einsum of a model phase with shapes, FLOPs, bytes, Op/B",
                         description="Build a model in one phase (or a generator workload such as 'gemm M=64 "
                                     "N=64 K=64') and print every Einsum with its tensor shapes, FLOPs, bytes "
                                     "and operational intensity, then the totals.",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sh.add_argument("model", help="a zoo model name (see 'loom workload list') or a generator workload string")
    sh.add_argument("--phase", default="decode", help="prefill, decode or mixed")
    sh.add_argument("--batch", type=int, default=1, help="requests in the batch")
    sh.add_argument("--context", type=int, default=2048, help="context length of each decoding request")
    sh.add_argument("--prompt", type=int, default=128, help="prompt length of each prefilling request")
    sh.add_argument("--prefill-requests", type=int, default=None,
                    help="mixed phase: how many of the batch prefill (default: half)")
    sh.add_argument("--variant", default="3pass", help="attention cascade: 3pass, 2pass or 1pass")
    sh.add_argument("--dtype", default="bf16", help="data type of activations and weights")
    sh.add_argument("--seed", type=int, default=0, help="seed for token ids and MoE routing")
    sh.add_argument("--all", action="store_true", help="list every Einsum (default: the 40 costliest per stage)")
    sh.set_defaults(func=show)
    p.set_defaults(func=None, parser=p)


def list_(args) -> int:
    from loomsim.workloads import generators
    from loomsim.workloads.zoo import get_model, list_models

    rows = []
    for name in list_models():
        c = get_model(name)
        shape = f"{c.layers}L d{c.hidden} h{c.heads}" + (f"/kv{c.kv_heads}" if c.kv_heads != c.heads else "")
        moe = f" {c.experts}x top-{c.top_k}" if c.experts else ""
        rows.append([name, c.kind, shape + moe, f"ffn {c.ffn} {c.ffn_type}", fmt.count(c.params_published)])
    print(fmt.table(rows, ["model", "kind", "shape", "ffn", "published params"]))
    print("\ngenerators: " + ", ".join(f"{n} ({', '.join(fn.__code__.co_varnames[:fn.__code__.co_argcount])})"
                                       for n, fn in generators().items()))
    return 0


def show(args) -> int:
    from loomsim.errors import LoomError
    from loomsim.workloads import build_workload, generators
    from loomsim.workloads.model import build
    from loomsim.workloads.zoo import get_model

    if args.batch <= 0:
        raise LoomError(f"--batch must be at least 1, got {args.batch} (a batch of zero requests does nothing).")
    for name, value in (("--context", args.context), ("--prompt", args.prompt)):
        if value <= 0:
            raise LoomError(f"{name} must be at least 1, got {value}.")
    if args.model.split()[0] in generators():
        cascade = build_workload(args.model)
        rows = [[str(e), fmt.count(cascade.counts(e).flops), fmt.nbytes(cascade.counts(e).bytes),
                 f"{cascade.counts(e).intensity:.3g}"] for e in cascade.einsums]
        print(fmt.table(rows, ["einsum", "FLOPs", "bytes", "Op/B"]))
        return 0
    cfg = get_model(args.model)
    if args.phase == "prefill":
        requests = [(args.prompt, args.prompt)] * args.batch
    elif args.phase == "decode":
        requests = [(1, args.context)] * args.batch
    else:
        n = args.batch // 2 if args.prefill_requests is None else args.prefill_requests
        if not 0 <= n <= args.batch:
            raise LoomError(f"--prefill-requests must be between 0 and --batch ({args.batch}), got {n}.")
        requests = [(args.prompt, args.prompt)] * n + [(1, args.context)] * (args.batch - n)
    w = build(cfg, args.phase, requests, variant=args.variant, dtype=args.dtype, seed=args.seed)
    table = w.einsum_table()
    print(f"{cfg.name}, {args.phase}: {len(requests)} requests, {w.tokens} new tokens, "
          f"attention {args.variant}, {args.dtype}")
    for stage in w.stages:
        t = table[table.stage == stage.name]
        if not args.all:
            t = t.sort_values("flops", ascending=False).head(40)
        print(f"\nstage {stage.name} (x{stage.count}): {len(stage.cascade.einsums)} Einsums, "
              f"{fmt.count(stage.param_elements)} parameters")
        rows = [[r.einsum if len(r.einsum) <= 72 else r.einsum[:69] + "...", fmt.count(r.flops), fmt.nbytes(r.bytes),
                 f"{r.intensity:.3g}"] for r in t.itertuples()]
        print(fmt.table(rows, ["einsum", "FLOPs", "bytes", "Op/B"]))
    tot = w.totals()
    print(f"\ntotal: {fmt.count(tot.flops)} FLOPs ({fmt.count(tot.macs)} MACs), {fmt.nbytes(tot.bytes)} moved by "
          f"Einsums, {tot.intensity:.3g} Op/B; {fmt.count(w.parameters())} parameters; "
          f"{fmt.count(tot.flops / w.tokens)} FLOPs per new token")
    return 0
