"""Kernel helpers for the timing rules and bank state: when a command may issue, what issuing it changes.

Pure functions over one channel's record (`ch`, see `state.CHANNEL`) and its queue and rings (`cc`, a
`ChannelArrays`), compiled with numba; `kernel.py` builds the controller on them. Command codes arrive
here as int64 values (see `I64` below), never as literals.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np
from numba.core import caching, cgutils
from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic
from numba.cpython.unsafe.numbers import trailing_zeros

from loomsim.simulator.dram import commands as C
from loomsim.simulator.dram.state import CMDS, INF


def _host_permutes() -> bool:
    """True when numba compiles for this machine's processor and it has AVX-512 (`vpermt2q` picks eight
    64-bit values out of sixteen by index in one instruction). LOOM_DRAM_NO_AVX512=1 turns it off (to test
    the portable code on such a machine)."""
    if os.environ.get("LOOM_DRAM_NO_AVX512") or numba.config.CPU_NAME or numba.config.CPU_FEATURES:
        return False
    return "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")


PERMUTE = _host_permutes()


KERNEL_FILES = tuple((Path(__file__).parent / name).resolve()
                     for name in ("commands.py", "state.py", "kernel_rules.py", "kernel_pim.py", "kernel_pick.py",
                                  "kernel.py", "kernel_io.py"))


class _KernelCacheLocator(caching.InTreeCacheLocator):
    """Numba's on-disk cache stamps a function with the hash of the file that defines it, but a cached
    function carries the machine code of everything it calls and the constants it reads from other
    modules. The kernel's functions are stamped with the hash of all its modules instead, so a change
    to any of them recompiles them all rather than reusing stale code."""

    def get_source_stamp(self):
        digest = hashlib.sha256()
        for path in KERNEL_FILES:
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def get_disambiguator(self):
        """Code compiled with and without `PERMUTE` (see `scan_keys`) is kept in separate cache files."""
        return super().get_disambiguator() + ("" if PERMUTE else "-portable")

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve() not in KERNEL_FILES:
            return None
        return super().from_function(py_func, py_file)


if _KernelCacheLocator not in caching.CacheImpl._locator_classes:
    caching.CacheImpl._locator_classes.insert(0, _KernelCacheLocator)
# The kernel allocates nothing, so it is compiled without numba's reference counting (`_nrt=False`):
# with it, every call passing the state tuple of arrays paid ~40 atomic increments and decrements
# (~200 ns), which made the engine 50x slower. `error_model="numpy"` drops division-by-zero checks
# (every divisor is a positive organisation count).
jit = numba.njit(cache=True, error_model="numpy", no_cpython_wrapper=True, _nrt=False)
entry = numba.njit(cache=True, error_model="numpy", _nrt=False)
# Small helpers called in the controller's inner loops are inlined at numba's level: a call would copy
# the channel's arrays (their data pointers, shapes, strides) onto the stack each time.
tiny = numba.njit(cache=True, error_model="numpy", no_cpython_wrapper=True, _nrt=False, inline="always")


def I64(v):
    """An int64 constant for jitted code: numba compiles a separate copy of a function for each *literal*
    integer argument it is called with, so the command codes are handed over as int64 values."""
    return np.int64(v)


ACT, PACT, BANK, BANKGROUP, RANK, CHANNEL, OTHER_RANKS = (I64(v) for v in (C.ACT, C.PACT, C.BANK, C.BANKGROUP,
                                                                           C.RANK, C.CHANNEL, C.OTHER_RANKS))
RD, WR, PRE = I64(C.RD), I64(C.WR), I64(C.PRE)
U0, U1 = np.uint64(0), np.uint64(1)


class ChannelArrays(NamedTuple):
    """One channel's rows of the state's run-time-length arrays (its controller record `ch` is apart)."""

    q: np.ndarray          # QUEUE_ENTRY slots
    free: np.ndarray       # stack of free slots
    fifo: np.ndarray       # ARRIVAL ring
    pim: np.ndarray        # PIM_OP ring
    out: np.ndarray        # DONE: where the channel's completions of this run go (rows of `State.out`)
    pout: np.ndarray       # PIM_DONE
    log: np.ndarray        # LOGGED (all channels share it)
    log_n: np.ndarray
    c: np.int64            # the channel's index


@intrinsic
def _ctpop(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return x(x), codegen


@tiny
def popcount(m):
    """Set bits of a bank mask: the processor's one-instruction count (numba has no popcount)."""
    return np.int64(_ctpop(m))


@tiny
def bit(b):
    return U1 << np.uint64(b)


@tiny
def lowest(m):
    """The index of the lowest set bit of a non-empty mask."""
    return np.int64(trailing_zeros(m))


@tiny
def low_bits(n):
    """A mask of the `n` lowest bits (n <= 64; a shift by 64 is undefined, so 64 is spelled out)."""
    return ~U0 if n >= 64 else (U1 << np.uint64(n)) - U1


@tiny
def rank_bits(mask, rank, bpr):
    """The part of a channel bank mask that falls in one rank, shifted down to bit 0."""
    return (mask >> np.uint64(rank * bpr)) & low_bits(bpr)


@tiny
def rank_mask(rank, bpr):
    """The banks of one rank as a channel bank mask."""
    return low_bits(bpr) << np.uint64(rank * bpr)


@tiny
def ready_bank(ch, b, f, bpr_sh, bpg_sh):
    """Earliest cycle command `f` may issue to bank `b` by the pairwise rules (bank counts are powers of
    two, so bank -> bank group and rank are shifts; a 64-bit division costs ~40 cycles)."""
    return max(ch.nt_bank[b, f], ch.nt_bg[b >> bpg_sh, f], ch.nt_rank[b >> bpr_sh, f], ch.nt_ch[f])


@tiny
def ready_window(ch, cfg, tb, rank, k):
    """Earliest cycle `k` more activations fit every activation window of the rank (tFAW, t32AW)."""
    r = -INF
    pos = ch.winpos[rank]
    for w in range(cfg.nwin):
        n = tb.win_n[w]
        kk = k if k < n else n
        j = n - kk + 1                      # the j-th most recent activation must have left the window
        r = max(r, ch.win[rank, (pos - j) & (cfg.wmax - 1)] + tb.win_t[w])
    return r


@tiny
def ready1(ch, cfg, tb, f, b):
    """Earliest cycle for command `f` on bank `b`, activation windows included for an ACT."""
    r = ready_bank(ch, b, f, cfg.bpr_sh, cfg.bpg_sh)
    if f == ACT:
        r = max(r, ch.wready[b >> cfg.bpr_sh])
    return r


@jit
def ready(ch, cfg, tb, f, b, mask):
    """Earliest cycle for command `f` on bank `b`, or on every bank of `mask` when the mask is not empty."""
    if mask == U0:
        return ready1(ch, cfg, tb, f, b)
    r = -INF
    for rank in range(cfg.nrank):
        rm = rank_bits(mask, rank, cfg.bpr)
        if rm == U0:
            continue
        for i in range(cfg.bpr):
            if rm & bit(i):
                r = max(r, ready_bank(ch, rank * cfg.bpr + i, f, cfg.bpr_sh, cfg.bpg_sh))
        if f == PACT:
            r = max(r, ready_window(ch, cfg, tb, rank, popcount(rm)))
    return r


@intrinsic
def _raise_row(typingctx, dst, src, t):
    """dst[f] = max(dst[f], t + src[f]) for the CMDS int64 at the addresses `dst` and `src`: two 8-wide
    vector loads, adds, maxima and a store (AVX-512; narrower vectors on other processors). Written
    as an intrinsic because LLVM does not vectorise the same loop over record fields (it cannot rule
    out that the two rows overlap) and unrolls it into 16 scalar steps."""
    assert CMDS == 16

    def codegen(context, builder, signature, args):
        d, s, tv = args
        i64 = ir.IntType(64)
        vty = ir.VectorType(i64, 8)
        lane0 = builder.insert_element(ir.Constant(vty, ir.Undefined), tv, ir.Constant(ir.IntType(32), 0))
        splat = builder.shuffle_vector(lane0, ir.Constant(vty, ir.Undefined),
                                       ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8))
        for half in range(2):
            off = ir.Constant(i64, 64 * half)
            dp = builder.inttoptr(builder.add(d, off), vty.as_pointer())
            sp = builder.inttoptr(builder.add(s, off), vty.as_pointer())
            now = builder.load(dp, align=8)
            new = builder.add(builder.load(sp, align=8), splat)
            builder.store(builder.select(builder.icmp_signed(">", now, new), now, new), dp, align=8)
        return context.get_dummy_value()
    return types.void(types.int64, types.int64, types.int64), codegen


SPAN = 30                   # bits of an all-bank key's time offset (kernel_pick.pick_all)
CAP = np.int64((1 << SPAN) - 1)


@intrinsic
def scan_keys(typingctx, own, ck, cg, key, nt_bg, bg_sh, nt_rank, nt_ch, w0, w1, chunks, t):
    """The least key of kernel_pick.pick_all over banks b < 8 * chunks, eight banks a step:
    (min(max(own[b], nt_bg[cg[b]], g[ck[b]]) - t, CAP) << 32) + key[b] for the int64 arrays at the
    addresses `own`, `ck`, `cg` and `key`, where nt_bg[8 * bank group + cmd] is the bank group's row of
    earliest times (`ch.nt_bg`, rows of CMDS; bank b is in group b >> bg_sh) and g[8 * rank + cmd] =
    max(t, nt_ch[cmd], nt_rank[rank, cmd]), raised to the rank's activation-window time (`w0`, `w1`) for
    cmd = ACT: the earliest cycle of each bank's next command, for one or two ranks (ck[b] < 16) and four
    or more banks a bank group (eight banks span at most two groups). The two rows of g stay in
    registers and the two bank-group rows of a step are loaded whole: with AVX-512 each look-up is one
    `vpermt2q` (3 cycles), where the loop numba makes of `kernel_pick` code gathers from memory (~20
    cycles, and then waits for the stores that made the table). Elsewhere the look-ups are eight loads."""
    def codegen(context, builder, signature, args):
        own_a, ck_a, cg_a, key_a, bg_a, bg_shv, rank_a, ch_a, w0v, w1v, n, tv = args
        i64, i32 = ir.IntType(64), ir.IntType(32)
        vty = ir.VectorType(i64, 8)
        ptr = vty.as_pointer()
        mod = builder.module

        def at(addr, off):
            return builder.inttoptr(builder.add(addr, ir.Constant(i64, off) if isinstance(off, int) else off), ptr)

        def vmax(a, b):
            return builder.select(builder.icmp_signed(">", a, b), a, b)

        def vmin(a, b):
            return builder.select(builder.icmp_signed("<", a, b), a, b)

        lane0 = builder.insert_element(ir.Constant(vty, ir.Undefined), tv, ir.Constant(i32, 0))
        ts = builder.shuffle_vector(lane0, ir.Constant(vty, ir.Undefined), ir.Constant(ir.VectorType(i32, 8), [0] * 8))
        shared = vmax(builder.load(at(ch_a, 0), align=8), ts)
        rows = []
        for r, w in enumerate((w0v, w1v)):      # the two ranks' rows of g; lane ACT also waits for the windows
            row = vmax(builder.load(at(rank_a, r * ROW), align=8), shared)
            act = builder.extract_element(row, ir.Constant(i32, int(ACT)))
            act = builder.select(builder.icmp_signed(">", act, w), act, w)
            rows.append(builder.insert_element(row, act, ir.Constant(i32, int(ACT))))
        if PERMUTE:
            perm = mod.declare_intrinsic("llvm.x86.avx512.vpermi2var.q.512", (), ir.FunctionType(vty, [vty] * 3))
        else:
            table = cgutils.alloca_once(builder, ir.ArrayType(i64, 16))    # in the entry block: once a call
            base = builder.bitcast(table, i64.as_pointer())
            for r in range(2):
                builder.store(rows[r], builder.bitcast(builder.gep(base, [ir.Constant(i32, 8 * r)]), ptr), align=8)
        cap = ir.Constant(vty, [int(CAP)] * 8)
        start = builder.basic_block
        loop = builder.append_basic_block("scan")
        done = builder.append_basic_block("scanned")
        builder.branch(loop)
        builder.position_at_end(loop)
        i = builder.phi(i64)
        acc = builder.phi(vty)
        i.add_incoming(ir.Constant(i64, 0), start)
        acc.add_incoming(ir.Constant(vty, [INF] * 8), start)
        off = builder.mul(i, ir.Constant(i64, 64))
        ck_v = builder.load(at(ck_a, off), align=8)
        cg_v = builder.load(at(cg_a, off), align=8)
        if PERMUTE:
            g = builder.call(perm, [rows[0], ck_v, rows[1]])
            first = builder.lshr(builder.mul(i, ir.Constant(i64, 8)), bg_shv)      # the step's bank groups
            last = builder.lshr(builder.add(builder.mul(i, ir.Constant(i64, 8)), ir.Constant(i64, 7)), bg_shv)
            lo = builder.load(at(bg_a, builder.mul(first, ir.Constant(i64, ROW))), align=8)
            hi = builder.load(at(bg_a, builder.mul(last, ir.Constant(i64, ROW))), align=8)
            gb = builder.call(perm, [lo, cg_v, hi])    # index bit 3 (group & 1) picks the row
        else:
            g = ir.Constant(vty, ir.Undefined)
            gb = ir.Constant(vty, ir.Undefined)
            bgp = builder.inttoptr(bg_a, i64.as_pointer())
            for lane in range(8):
                li = ir.Constant(i32, lane)
                k = builder.extract_element(ck_v, li)
                g = builder.insert_element(g, builder.load(builder.gep(base, [k])), li)
                c = builder.extract_element(cg_v, li)   # 8 x group + cmd -> CMDS x group + cmd
                e = builder.add(builder.mul(builder.lshr(c, ir.Constant(i64, 3)), ir.Constant(i64, CMDS)),
                                builder.and_(c, ir.Constant(i64, 7)))
                gb = builder.insert_element(gb, builder.load(builder.gep(bgp, [e])), li)
        d = builder.sub(vmax(vmax(builder.load(at(own_a, off), align=8), gb), g), ts)
        k = builder.add(builder.shl(vmin(d, cap), ir.Constant(vty, [32] * 8)), builder.load(at(key_a, off), align=8))
        nacc = vmin(k, acc)
        ni = builder.add(i, ir.Constant(i64, 1))
        i.add_incoming(ni, loop)
        acc.add_incoming(nacc, loop)
        builder.cbranch(builder.icmp_signed("<", ni, n), loop, done)
        builder.position_at_end(done)
        red = mod.declare_intrinsic("llvm.vector.reduce.smin.v8i64", (), ir.FunctionType(i64, [vty]))
        return builder.call(red, [nacc])
    return types.int64(*([types.int64] * 12)), codegen


ROW = CMDS * 8              # bytes of one row of earliest times or of latencies


@tiny
def apply(ch, cfg, tb, cmd, b, t):
    """Record command `cmd` issued to bank `b` at `t`: raise the earliest time of every later command.
    Each scope's update is one row of CMDS latencies (`tb.upd_d`, NOLAT where no rule binds, which
    raises nothing) added to `t` and maxed into the row of earliest times (`_raise_row`); walking only
    the constrained commands (`commands.Tables.upd_f`) cost a load, a compare and a branch per rule."""
    d = tb.upd_d.ctypes.data + cmd * ROW
    _raise_row(ch.nt_bank.ctypes.data + b * ROW, d + BANK * CMDS * ROW, t)
    g = b >> cfg.bpg_sh
    _raise_row(ch.nt_bg.ctypes.data + g * ROW, d + BANKGROUP * CMDS * ROW, t)
    rank = b >> cfg.bpr_sh
    _raise_row(ch.nt_rank.ctypes.data + rank * ROW, d + RANK * CMDS * ROW, t)
    _raise_row(ch.nt_ch.ctypes.data, d + CHANNEL * CMDS * ROW, t)
    if tb.upd_n[OTHER_RANKS, cmd] > 0:
        for r2 in range(cfg.nrank):
            if r2 != rank:
                _raise_row(ch.nt_rank.ctypes.data + r2 * ROW, d + OTHER_RANKS * CMDS * ROW, t)
    ch.m_own |= bit(b)                       # the bank's own part changed (its group's is read at each pick)


@jit
def apply_mask(ch, cfg, tb, cmd, mask, t):
    for b in range(cfg.nbank):
        if mask & bit(b):
            apply(ch, cfg, tb, cmd, b, t)


@tiny
def push_window(ch, cfg, tb, rank, k, t):
    """Record `k` activations at `t` in the rank's activation-window ring, and when one more fits."""
    if k > cfg.wmax:
        k = cfg.wmax
    for _ in range(k):
        ch.win[rank, ch.winpos[rank] & (cfg.wmax - 1)] = t
        ch.winpos[rank] += 1
    ch.wready[rank] = ready_window(ch, cfg, tb, rank, np.int64(1))


@tiny
def set_row(ch, cfg, b, row, pim_buffer, t):
    """Open (row >= 0) or close (-1) the memory or (`pim_buffer`) PIM row buffer of a bank, keeping the
    rank's account of cycles with some bank open (for background energy)."""
    rank = b >> cfg.bpr_sh
    before = ch.row[b] >= 0 or ch.prow[b] >= 0
    if pim_buffer:
        ch.prow[b] = row
    else:
        ch.row[b] = row
    after = ch.row[b] >= 0 or ch.prow[b] >= 0
    if before == after:
        return
    n = ch.nopen[rank]
    if (n == 0 and after) or (n == 1 and not after):
        span = t - ch.since[rank]
        if n == 0:
            ch.pre_cycles[rank] += span
        else:
            ch.act_cycles[rank] += span
        ch.since[rank] = t
    ch.nopen[rank] = n + 1 if after else n - 1


@tiny
def find_hits(q, s, row, reads, writes):
    """The first queue slots from `s` on that hit `row` as a read and as a write (-1: none), in one walk
    of the bank's list that stops once both are found. A kind is looked for only when `reads` or `writes`
    says so: not when the bank has none of it queued (a read-only stream stops at the first hit), nor
    when the caller needs only the other."""
    rs, ws = np.int64(-1), np.int64(-1)
    while s >= 0 and (reads or writes):
        e = q[s]
        if e.row == row:
            if e.write:
                if writes:
                    ws, writes = s, False
            elif reads:
                rs, reads = s, False
        s = e.next
    return rs, ws


@tiny
def set_hits(ch, cfg, b, rs, ws):
    """Record the oldest read and write hitting the bank's open row (-1: none); the bank's next command
    may have changed, so the next pick looks at it."""
    ch.rs[b] = rs
    ch.ws[b] = ws
    m = bit(b)
    ch.m_rs = (ch.m_rs | m) if rs >= 0 else (ch.m_rs & ~m)
    ch.m_ws = (ch.m_ws | m) if ws >= 0 else (ch.m_ws & ~m)
    touch(ch, cfg, b)


@tiny
def _lower(ch, cfg, kind, cmd, b):
    """Bank `b` now has a next command `cmd` of `kind`: its group's lower bound must cover it."""
    rank = b >> cfg.bpr_sh
    own = max(ch.nt_bank[b, cmd], ch.nt_bg[b >> cfg.bpg_sh, cmd])
    if own < ch.minp[kind, rank]:
        ch.minp[kind, rank] = own


@tiny
def candidate(ch, q, cfg, b):
    """Make bank `b`'s entries in the candidate arrays (`ch.ck` ...; kernel_pick.pick_all): its next
    command (the read hit if it has one, else the write hit, else PRE or ACT for its oldest request),
    that command's earliest cycle by same-bank rules and its priority."""
    m = bit(b)
    rank = b >> cfg.bpr_sh
    if ch.m_rs & m:
        cmd, s, cls = RD, ch.rs[b], np.int64(0)
    elif ch.m_ws & m:
        cmd, s, cls = WR, ch.ws[b], np.int64(0)
    elif ch.m_q & m:
        s, cls = ch.head[b], np.int64(1)
        cmd = PRE if ch.m_open & m else ACT
    else:                                    # no command: never chosen
        ch.ck[b], ch.cg[b], ch.ccmd[b], ch.cslot[b], ch.ckey[b], ch.cown[b] = 0, 0, RD, -1, np.int64(0xFFFFFFFF), INF
        return
    ch.ck[b] = (rank << 3) + cmd               # its place in the shared parts (kernel_pick.pick_all)
    ch.cg[b] = ((b >> cfg.bpg_sh) << 3) + cmd  # and in its bank group's rows
    ch.ccmd[b] = cmd
    ch.cslot[b] = s
    ch.ckey[b] = (cls << 31) + (((q[s].seq - ch.vbase) << 6) | b)
    ch.cown[b] = ch.nt_bank[b, cmd]


@tiny
def touch(ch, cfg, b):
    """Bank `b`'s next commands may have changed (kernel_pick.py): keep the bounds of their groups."""
    m = bit(b)
    if ch.m_rs & m:
        _lower(ch, cfg, np.int64(0), RD, b)
    if ch.m_ws & m:
        _lower(ch, cfg, np.int64(1), WR, b)
    if ch.m_q & m and not (ch.m_rs | ch.m_ws) & m:
        if ch.m_open & m:
            _lower(ch, cfg, np.int64(2), PRE, b)
        else:
            _lower(ch, cfg, np.int64(3), ACT, b)
    ch.m_dirty |= m                          # its candidate (kernel_pick.pick_all) must be made again


@tiny
def open_row(ch, cc, cfg, b, row, pim_buffer, t):
    set_row(ch, cfg, b, row, pim_buffer, t)
    if not pim_buffer:                       # find the queued requests this row now serves
        ch.m_open |= bit(b)
        rs, ws = find_hits(cc.q, ch.head[b], row, ch.qn[b] > ch.nw[b], ch.nw[b] > 0)
        set_hits(ch, cfg, b, rs, ws)


@tiny
def close_row(ch, cfg, b, pim_buffer, t):
    set_row(ch, cfg, b, np.int64(-1), pim_buffer, t)
    if not pim_buffer:
        ch.m_open &= ~bit(b)
        set_hits(ch, cfg, b, np.int64(-1), np.int64(-1))


@tiny
def log(cc, t, cmd, b, row, mask):
    i = cc.log_n[0]
    if i < cc.log.shape[0]:
        e = cc.log[i]
        e.t, e.ch, e.cmd, e.bank, e.row, e.mask = t, cc.c, cmd, b, row, mask
        cc.log_n[0] = i + 1
