"""The SimPy engine: runs a `Program` on the components of an `ArchSpec`, one event per task.

Time is integer picoseconds. Each issue queue of an executing unit (most units have one) is a SimPy
process that takes its tasks in program order, waits for their dependencies, and hands each to its
component model, which shares the unit among its queues. The engine decides
nothing about the schedule; it only executes and times what the mapper wrote.
"""
from __future__ import annotations

import time

import simpy

from loomsim.arch import ArchSpec
from loomsim.errors import LoomError
from loomsim.mappers.program import Program
from loomsim.simulator.models import ComponentModel, build_model, nbytes_for
from loomsim.simulator.result import SimResult, collect


class SimContext:
    """What models share during one simulation: the environment, each other, the task log."""

    def __init__(self, arch: ArchSpec, program: Program):
        self.arch = arch
        self.env = simpy.Environment()
        self.models: dict[str, ComponentModel] = {}
        for spec in arch.components + arch.links:
            self.models[spec.name] = build_model(spec, self)
        self.nbytes = nbytes_for(program.tensors)
        self.task_log: list[tuple[int, int, int]] = []   # (task id, start ps, end ps)
        self.done_ps: dict[int, int] = {}                  # task id -> when its done event fired

    def record(self, task, start: int, end: int) -> None:
        self.task_log.append((task.id, start, end))


def _check(arch: ArchSpec, program: Program) -> None:
    for task in program.tasks:
        if task.unit not in arch:
            raise LoomError(f"program task {task.id} ({task.label}) runs on '{task.unit}', which architecture "
                            f"'{arch.name}' does not have.")
        for end in ("src", "dst", "sram"):
            name = getattr(task, end, None)
            if name and name not in arch:
                raise LoomError(f"program task {task.id} ({task.label}) uses '{name}', not in '{arch.name}'.")


def simulate(arch: ArchSpec, program: Program, workload: str = "") -> SimResult:
    """Execute `program` on `arch`; returns per-task times, busy time, counts, energy and traffic."""
    _check(arch, program)
    wall0 = time.perf_counter()
    ctx = SimContext(arch, program)
    for task in program.tasks:
        model = ctx.models[task.unit]
        if task.kind not in model.accepts:
            raise LoomError(f"program task {task.id} ({task.label}) is a {task.kind} task, but '{task.unit}' is a "
                            f"{model.spec.type_name}, which cannot execute {task.kind} tasks"
                            + (f" (it runs: {', '.join(model.accepts)})." if model.accepts else "."))
        for end in ("src", "dst", "sram"):
            name = getattr(task, end, None)
            if name and not hasattr(ctx.models[name], "access"):
                raise LoomError(f"program task {task.id} ({task.label}) uses '{name}' as a memory, but it is a "
                                f"{ctx.models[name].spec.type_name}.")
    env = ctx.env
    done = {t.id: env.event() for t in program.tasks}
    for tid, ev in done.items():    # when each task finished: a unit may start work on a ready task early
        ev.callbacks.append(lambda _, tid=tid: ctx.done_ps.__setitem__(tid, env.now))

    def unit_loop(unit: str, tasks):
        model = ctx.models[unit]
        for task in tasks:
            pending = [done[d] for d in task.deps if not done[d].processed]
            if pending:
                yield env.all_of(pending)
            yield from model.execute(task, done[task.id])

    for (unit, _queue), tasks in program.by_queue().items():
        env.process(unit_loop(unit, tasks))
    env.run()
    stuck = [t for t in program.tasks if not done[t.id].triggered]
    if stuck:  # cannot happen for a program whose dependencies come first; guard against model bugs
        raise RuntimeError(f"simulation ended with {len(stuck)} tasks not run, first: {stuck[0]}")
    return collect(ctx, program, workload, wall_seconds=time.perf_counter() - wall0)
