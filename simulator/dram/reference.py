"""A plain-Python reference of the DRAM/PIM controller: the same rules as the numba kernel, written plainly.

Where the kernel keeps, per bank, bank group, rank and channel, the earliest cycle of every command
and updates it as commands issue, the reference keeps the whole command history and asks, for each
candidate, every rule of `commands.rules` whose following command it is: "when did a preceding command
last issue to a bank in this scope?". Activation windows are checked by counting activations in the
window. Time advances cycle by cycle, except that it skips cycles in which provably nothing changes
(no command ready, no arrival). Slow, small and obvious: the tests require the kernel's command log to
equal this one exactly.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from loomsim.arch.dram_device import DramDevice
from loomsim.simulator.dram import commands as C
from loomsim.simulator.dram.mapping import AddressMap
from loomsim.simulator.dram.state import (OP_ACT, OP_COMP, OP_GWRITE, OP_PRE, OP_READRES, PAGE_POLICIES, QUEUES, REFRESH,
                                          REFRESH_POSTPONE, SCHEDULERS)

INF = float("inf")


@dataclass
class Request:
    id: int
    bank: int
    row: int
    write: bool
    arrival: int
    enter: int = -1
    seq: int = -1


@dataclass
class PimOp:
    op: int
    mask: int
    row: int
    bank: int
    count: int
    arrival: int
    id: int
    done: int = -1


@dataclass
class Channel:
    """Everything one channel controller knows."""

    fifo: deque = field(default_factory=deque)           # arrived or future requests, arrival order
    queue: list = field(default_factory=list)            # admitted requests, admission order
    pim: deque = field(default_factory=deque)
    row: dict = field(default_factory=dict)              # bank -> open memory row
    prow: dict = field(default_factory=dict)             # bank -> open PIM row (dual row buffers)
    last: dict = field(default_factory=dict)             # (bank, command) -> last issue cycle
    acts: dict = field(default_factory=dict)             # rank -> activation cycles
    ref_due: dict = field(default_factory=dict)
    ref_ptr: dict = field(default_factory=dict)
    last_pim: int = -(1 << 62)
    seq: int = 0
    t: int = 0


class ReferenceController:
    """The reference engine for one device; `submit`, `submit_pim`, then `run()` to completion."""

    def __init__(self, device: DramDevice):
        self.device, o, ctl = device, device.org, device.controller
        self.map = AddressMap.of(device)
        self.bpr, self.bpg, self.nrank = device.banks_per_rank, o.banks_per_group, o.ranks
        self.nbank = device.banks_per_channel
        self.sched, self.page = SCHEDULERS[ctl.scheduler], PAGE_POLICIES[ctl.page_policy]
        self.refresh, self.qmode, self.qsize = REFRESH[ctl.refresh], QUEUES[ctl.queue], ctl.queue_size
        self.pim_mode = C.PIM_MODES[device.pim.mode]
        self.windows = C.windows(device)
        self.by_next: dict[int, list[tuple[int, int, int]]] = {f: [] for f in range(C.NCMD)}
        for rule in C.rules(device):
            for p in rule.preceding:
                for f in rule.following:
                    self.by_next[f].append((rule.scope, p, rule.latency))
        t = device.timing
        self.period = t.tREFIpb if self.refresh == 2 else t.tREFI
        self.channels = [self._channel() for _ in range(o.channels)]
        self.log: list[tuple[int, int, int, int, int, int]] = []
        self.done: dict[int, int] = {}
        self.next_id = 0

    def _channel(self) -> Channel:
        ch = Channel()
        for r in range(self.nrank):
            ch.ref_due[r] = (r + 1) * self.period // self.nrank if self.refresh else INF
            ch.ref_ptr[r] = 0
            ch.acts[r] = []
        return ch

    # ---- input ----------------------------------------------------------------------------------

    def submit(self, addr, write, arrival) -> list[int]:
        chans, banks, rows, _ = self.map.decode(addr)
        ids = []
        for c, b, r, w, a in zip(chans, banks, rows, write, arrival):
            self.channels[int(c)].fifo.append(Request(self.next_id, int(b), int(r), bool(w), int(a)))
            ids.append(self.next_id)
            self.next_id += 1
        return ids

    def submit_pim(self, channel: int, ops, arrival: int, first_id: int = 0) -> None:
        for k, (op, mask, row, bank, count) in enumerate(ops):
            self.channels[channel].pim.append(PimOp(op, int(mask), row, bank, count, arrival, first_id + k))

    # ---- the rules ----------------------------------------------------------------------------

    def in_scope(self, scope: int, b: int, other: int) -> bool:
        if scope == C.BANK:
            return b == other
        if scope == C.BANKGROUP:
            return b // self.bpg == other // self.bpg
        if scope == C.RANK:
            return b // self.bpr == other // self.bpr
        if scope == C.CHANNEL:
            return True
        return b // self.bpr != other // self.bpr

    def ready(self, ch: Channel, f: int, banks: list[int]) -> int:
        """Earliest cycle command `f` may issue on all of `banks`, from the command history."""
        t = 0
        for b in banks:
            for scope, p, lat in self.by_next[f]:
                for other in range(self.nbank):
                    when = ch.last.get((other, p))
                    if when is not None and self.in_scope(scope, b, other):
                        t = max(t, when + lat)
        if f in (C.ACT, C.PACT):
            for r in sorted({b // self.bpr for b in banks}):
                k = sum(1 for b in banks if b // self.bpr == r)
                acts = ch.acts[r]
                for n, span in self.windows:
                    kk = min(k, n)
                    # need: activations in (t - span, t] plus kk <= n
                    while sum(1 for a in acts if a > t - span) + kk > n:
                        t = min(a for a in acts if a > t - span) + span
        return t

    def due(self, ch: Channel, r: int) -> float:
        """The refresh deadline of rank r, postponed by up to 8 intervals during a PIM compute or read-out."""
        busy = ch.pim and ch.pim[0].op in (OP_COMP, OP_READRES)
        return ch.ref_due[r] + (REFRESH_POSTPONE * self.period if busy else 0)

    def limit(self, ch: Channel, banks: list[int]) -> float:
        """Commands touching a rank (all-bank) or bank (per-bank) whose refresh is due must wait for it."""
        lim = INF
        for r in range(self.nrank):
            if self.refresh == 1:
                hit = any(b // self.bpr == r for b in banks)
            elif self.refresh == 2:
                hit = r * self.bpr + ch.ref_ptr[r] in banks
            else:
                hit = False
            if hit:
                lim = min(lim, self.due(ch, r))
        return lim

    # ---- what each kind of work needs next --------------------------------------------------------

    def refresh_next(self, ch: Channel, r: int):
        banks = list(range(r * self.bpr, (r + 1) * self.bpr))
        if self.refresh == 1:
            mem = [b for b in banks if ch.row.get(b, -1) >= 0]
            pim = [b for b in banks if ch.prow.get(b, -1) >= 0]
            if mem:
                return C.PREA, mem, banks
            if pim:
                return C.PPRE, pim, pim
            return C.REF, banks, banks
        b = r * self.bpr + ch.ref_ptr[r]
        if ch.row.get(b, -1) >= 0:
            return C.PRE, [b], [b]
        if ch.prow.get(b, -1) >= 0:
            return C.PPRE, [b], [b]
        return C.REFPB, [b], [b]

    def pim_rows(self, ch: Channel) -> dict:
        return ch.prow if self.pim_mode == C.PIM_DUAL else ch.row

    def pim_next(self, ch: Channel, op: PimOp):
        rows = self.pim_rows(ch)
        banks = [b for b in range(self.nbank) if op.mask >> b & 1]
        if op.op == OP_ACT:
            for b in banks:
                if rows.get(b, -1) not in (-1, op.row):
                    return (C.PPRE, [b]) if self.pim_mode == C.PIM_DUAL else (C.PRE, [b])
            need = [b for b in banks if rows.get(b, -1) != op.row]
            return (C.PACT, need) if need else (None, [])
        if op.op == OP_PRE:
            need = [b for b in banks if rows.get(b, -1) >= 0]
            return (C.PPRE, need) if need else (None, [])
        if op.op == OP_GWRITE:
            cur = ch.row.get(op.bank, -1)
            return (C.GWRITE if cur == op.row else C.PRE if cur >= 0 else C.ACT), [op.bank]
        if op.op == OP_COMP:          # reopen rows closed by refresh (or by memory, with one row buffer)
            if op.row < 0:
                closed = [b for b in banks if rows.get(b, -1) < 0]
                if closed:
                    raise RuntimeError(f"PIM compute on bank {closed[0]}, whose row is closed")
                return C.PCOMP, banks
            wrong = [b for b in banks if rows.get(b, -1) != op.row]
            for b in wrong:
                if rows.get(b, -1) >= 0:
                    return (C.PPRE, [b]) if self.pim_mode == C.PIM_DUAL else (C.PRE, [b])
            if wrong:
                return C.PACT, wrong[:self.device.pim.act_banks]
            return C.PCOMP, banks
        return C.READRES, banks

    def candidates(self, ch: Channel, t: int):
        """Every command that could issue next, as (ready cycle, class, seq, what) tuples."""
        out = []
        if self.refresh:
            for r in range(self.nrank):
                cmd, banks, _ = self.refresh_next(ch, r)
                out.append((max(t, self.ready(ch, cmd, banks), self.due(ch, r)), 0, r, ("ref", cmd, banks, r)))
        block = INF
        if ch.pim:
            op = ch.pim[0]
            if self.pim_mode == C.PIM_BLOCKED:
                block = op.arrival
            cmd, banks = self.pim_next(ch, op)
            r = max(t, op.arrival, ch.last_pim, self.ready(ch, cmd, banks))
            if r < self.limit(ch, banks):
                out.append((r, 1, 0, ("pim", cmd, banks, op)))
        queued = ch.queue if self.sched == 0 else ch.queue[:1]
        for b in sorted({q.bank for q in queued}):
            mine = [q for q in ch.queue if q.bank == b]
            lim = min(self.limit(ch, [b]), block)
            open_row = ch.row.get(b, -1)
            hits = [q for q in mine if q.row == open_row]
            if open_row >= 0 and hits and (self.sched == 0 or mine[0].row == open_row):
                picks = [hits[0]] if self.sched == 1 else \
                    [q for q in ([next((h for h in hits if not h.write), None), next((h for h in hits if h.write), None)])
                     if q is not None]
                for q in picks:
                    cmd = C.WR if q.write else C.RD
                    r = max(t, self.ready(ch, cmd, [b]))
                    if r < lim:
                        out.append((r, 2, q.seq, ("mem", cmd, [b], q)))
            else:
                cmd = C.PRE if open_row >= 0 else C.ACT
                r = max(t, self.ready(ch, cmd, [b]))
                if r < lim:
                    out.append((r, 3, mine[0].seq, ("mem", cmd, [b], mine[0])))
        return out

    # ---- issuing --------------------------------------------------------------------------------

    def record(self, ch: Channel, c: int, t: int, cmd: int, banks: list[int], bank: int, row: int, mask: int):
        for b in banks:
            ch.last[(b, cmd)] = t
        self.log.append((t, c, cmd, bank, row, mask))

    def issue(self, ch: Channel, c: int, t: int, what) -> None:
        kind, cmd, banks, obj = what
        rows = self.pim_rows(ch)
        mask = 0
        if kind == "mem":
            q, b = obj, banks[0]
            if cmd == C.ACT:
                ch.row[b] = q.row
                ch.acts[b // self.bpr].append(t)
                self.record(ch, c, t, cmd, banks, b, q.row, 0)
                return
            if cmd == C.PRE:
                ch.row[b] = -1
                self.record(ch, c, t, cmd, banks, b, -1, 0)
                return
            ch.queue.remove(q)
            others_hit = any(o.bank == b and o.row == q.row for o in ch.queue)
            if self.page == 1 or (self.page == 2 and not others_hit):
                cmd = C.RDA if cmd == C.RD else C.WRA
                ch.row[b] = -1
            t_data = self.device.timing.CWL if q.write else self.device.timing.CL
            self.done[q.id] = t + t_data + self.device.timing.tBL
            self.record(ch, c, t, cmd, banks, b, q.row, 0)
            return
        if kind == "ref":
            r = obj
            if cmd in (C.PREA, C.REF):
                all_banks = list(range(r * self.bpr, (r + 1) * self.bpr))
                mask = sum(1 << b for b in (banks if cmd == C.PREA else all_banks))
                for b in all_banks:
                    if cmd == C.PREA:
                        ch.row[b] = -1
                if cmd == C.REF:
                    ch.ref_due[r] += self.device.timing.tREFI
                self.record(ch, c, t, cmd, all_banks, banks[0], -1, mask)
                return
            if cmd == C.PPRE:
                for b in banks:
                    ch.prow[b] = -1
                self.record(ch, c, t, cmd, banks, -1, -1, sum(1 << b for b in banks))
                return
            if cmd == C.PRE:
                ch.row[banks[0]] = -1
            else:
                ch.ref_due[r] += self.device.timing.tREFIpb
                ch.ref_ptr[r] = (ch.ref_ptr[r] + 1) % self.bpr
            self.record(ch, c, t, cmd, banks, banks[0], -1, 0)
            return
        op = obj
        ch.last_pim = t
        if cmd in (C.ACT, C.PRE, C.GWRITE):
            b = banks[0]
            if cmd == C.ACT:
                ch.row[b] = op.row
                ch.acts[b // self.bpr].append(t)
            elif cmd == C.PRE:
                ch.row[b] = -1
            else:
                op.done = t + self.device.pim.gwrite_cycles
                ch.pim.popleft()
            self.record(ch, c, t, cmd, banks, b, -1 if cmd == C.PRE else op.row, 0)
            return
        mask = sum(1 << b for b in banks)
        if cmd == C.PACT:
            for b in banks:
                rows[b] = op.row
            for r in range(self.nrank):
                k = sum(1 for b in banks if b // self.bpr == r)
                ch.acts[r].extend([t] * k)
            self.record(ch, c, t, cmd, banks, -1, op.row, mask)
            return
        if cmd == C.PPRE:
            for b in banks:
                rows[b] = -1
            self.record(ch, c, t, cmd, banks, -1, -1, mask)
            return
        op.count -= 1
        if op.count == 0:
            tm = self.device.timing
            pim = self.device.pim
            op.done = t + (pim.comp_interval if cmd == C.PCOMP else pim.readres_latency + tm.tBL)
            ch.pim.popleft()
        self.record(ch, c, t, cmd, banks, -1, -1, mask)

    # ---- the clock ----------------------------------------------------------------------------

    def admit(self, ch: Channel, t: int) -> None:
        while ch.fifo and ch.fifo[0].arrival <= t:
            q = ch.fifo[0]
            if self.qmode == 0 and len(ch.queue) >= self.qsize:
                return
            if self.qmode == 1 and sum(1 for o in ch.queue if o.bank == q.bank) >= self.qsize:
                return
            ch.fifo.popleft()
            q.enter, q.seq = t, ch.seq
            ch.seq += 1
            ch.queue.append(q)

    def retire(self, ch: Channel) -> None:
        while ch.pim and ch.pim[0].op in (OP_ACT, OP_PRE) and self.pim_next(ch, ch.pim[0])[0] is None:
            op = ch.pim.popleft()
            op.done = max(op.arrival, ch.last_pim + 1)

    def run(self) -> None:
        """Run every channel until its submitted work is done."""
        for c, ch in enumerate(self.channels):
            t = ch.t
            while True:
                self.admit(ch, t)
                self.retire(ch)
                if not ch.queue and not ch.fifo and not ch.pim:
                    break
                cands = self.candidates(ch, t)
                now = [x for x in cands if x[0] == t]
                if now:
                    self.issue(ch, c, t, min(now, key=lambda x: (x[1], x[2]))[3])
                    continue
                nxt = min([x[0] for x in cands] + [ch.fifo[0].arrival] if ch.fifo else [x[0] for x in cands])
                t = max(t + 1, int(nxt)) if nxt != INF else t + 1
            ch.t = t
