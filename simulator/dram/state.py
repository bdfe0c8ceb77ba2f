"""The engine's state: numpy record arrays that persist between batches, shared by kernel and driver.

Each channel's controller state is one record (`CHANNEL`): its scalars, bank sets, and per-bank,
per-rank and per-command arrays of fixed maximum size (64 banks, 16 ranks). Fixed sizes let numba
compile every field access to a constant offset; with arrays of run-time shape, each access cost stride
multiplications and the kernel spent its registers on strides. The queue, the input rings and the
outputs are record arrays of run-time length, one row per channel. Field names say what they hold
(`ch.row[b]`, `q[s].seq`), so the kernel reads like the controller it is.

The input rings (`fifo` of arriving requests, `pim` of PIM ops) are written only by the Python side and
never changed by the kernel, which only moves each channel's head; so a look-ahead copy of the state
(`lookahead.py`) can share them. Everything the kernel changes for a channel is its `ch` record and its
rows of `q` and `q_free`.

Times are int64 cycles of the device clock; `INF` marks "never" and `NEVER` "long ago".
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from loomsim.arch.dram_device import DramDevice
from loomsim.simulator.dram.commands import NCMD, PIM_MODES

INF = 1 << 62
NEVER = -(1 << 62)

SCHEDULERS = {"frfcfs": 0, "fcfs": 1}
PAGE_POLICIES = {"open": 0, "closed": 1, "adaptive": 2}
REFRESH = {"none": 0, "all_bank": 1, "per_bank": 2}
QUEUES = {"shared": 0, "per_bank": 1}
# JEDEC DDR4 (JESD79-4 4.24) and HBM allow a controller to postpone up to 8 REF commands
REFRESH_POSTPONE = 8

MAX_BANKS = 64      # banks per channel (bank sets are 64-bit masks)
MAX_RANKS = 16
CMDS = 16           # command codes, padded to a power of two
WIN = 32            # activation-window ring length (t32AW needs 32)
KINDS = 4           # kinds of next memory command (RD, WR, PRE, ACT; see kernel_pick.py)
# banks with queued requests at which FR-FCFS switches its way of weighing (a speed setting, not a model
# parameter: both ways choose the same command; 6 to 12 measured alike on HBM2 random and mixed traces,
# 16 and up slower on the mix, docs/dram.md "Speed")
VEC_ON, VEC_OFF = 12, 8

LINE = 64           # bytes of a cache line


def lined(fields: list[tuple]) -> np.dtype:
    """A record dtype whose array fields each start on a cache line, and whose size is whole lines
    (scalars are packed between them). With the arrays allocated on a line too (`zeros`), a row of 16
    earliest times (128 B) is two whole lines that vector loads and stores reach without splitting;
    as laid out by numpy's `align=True`, the same rows sat at an offset of 32 B that changed with
    where numpy placed the array, and the kernel's speed changed with it (up to ~10% between runs)."""
    names, formats, offsets, at = [], [], [], 0
    for name, kind, *shape in fields:
        dt = np.dtype((kind, shape[0])) if shape else np.dtype(kind)
        if shape:
            at = -(-at // LINE) * LINE
        names.append(name)
        formats.append(dt)
        offsets.append(at)
        at += dt.itemsize
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": -(-at // LINE) * LINE})


def _on_line(alloc, shape, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    raw = alloc(n + LINE, np.uint8)
    skip = -raw.ctypes.data % LINE
    return raw[skip:skip + n].view(dtype).reshape(shape)


def zeros(shape, dtype) -> np.ndarray:
    """np.zeros whose first element starts on a cache line (numpy only promises 16 bytes)."""
    return _on_line(np.zeros, shape, dtype)


def empty(shape, dtype) -> np.ndarray:
    """np.empty whose first element starts on a cache line."""
    return _on_line(np.empty, shape, dtype)


def copy(arr: np.ndarray) -> np.ndarray:
    """A copy of `arr` that starts on a cache line."""
    out = zeros(arr.shape, arr.dtype)
    out[...] = arr
    return out


i8, u8 = np.int64, np.uint64
CHANNEL = lined([
    # -- scalars
    ("now", i8),            # the channel's time: the cycle of its last decision
    ("nq", i8),             # requests in the controller queue
    ("nfree", i8),          # free queue slots (the top of `q_free`)
    ("fhead", i8), ("ftail", i8),   # arrivals ring: next to admit, next free place (sequence numbers)
    ("phead", i8), ("ptail", i8),   # PIM ring likewise
    ("pissued", i8),        # commands issued for the head PIM op
    ("nout", i8),           # requests completed in the last run (its rows of `out`, after the channels run before it)
    ("npout", i8),          # PIM ops completed in this run (rows of `pout`)
    ("seq", i8),            # sequence number of the next admitted request (its age)
    ("lastpim", i8),        # cycle of the last PIM command
    ("err", i8), ("errb", i8),      # error code, and the bank it concerns
    ("pactb", i8),          # banks opened by PIM activates (energy)
    ("pcompb", i8),         # bank-compute commands (energy)
    # -- bank sets (bit b: bank b)
    ("m_q", u8),            # banks with queued requests
    ("m_open", u8),         # banks with an open memory row
    ("m_rs", u8),           # banks with a queued read hitting it
    ("m_ws", u8),           # banks with a queued write hitting it
    ("minp", i8, (KINDS, MAX_RANKS)),   # per (kind of next command, rank): a lower bound of the earliest
                                        # cycles of its banks by their own rules (kernel_pick.py)
    # -- per bank
    ("row", i8, (MAX_BANKS,)),      # open memory row, -1: closed
    ("prow", i8, (MAX_BANKS,)),     # open PIM row (dual row buffers), -1: closed
    ("qn", i8, (MAX_BANKS,)),       # queued requests
    ("nw", i8, (MAX_BANKS,)),       # ... of them writes (no search for a kind of hit the bank has none of)
    ("head", i8, (MAX_BANKS,)),     # the oldest of them (a queue slot; a doubly linked list), -1: none
    ("tail", i8, (MAX_BANKS,)),     # the newest
    ("rs", i8, (MAX_BANKS,)),       # the oldest queued read hitting the open row, -1: none
    ("ws", i8, (MAX_BANKS,)),       # the oldest queued write hitting it
    # -- per rank
    ("winpos", i8, (MAX_RANKS,)),   # activation-window ring position
    ("refdue", i8, (MAX_RANKS,)),   # when the next refresh is due
    ("refptr", i8, (MAX_RANKS,)),   # the bank per-bank refresh goes to next
    ("nopen", i8, (MAX_RANKS,)),    # banks with a row open (memory or PIM)
    ("since", i8, (MAX_RANKS,)),    # when `nopen` last went from or to zero
    ("act_cycles", i8, (MAX_RANKS,)),   # cycles with some bank open (background energy)
    ("pre_cycles", i8, (MAX_RANKS,)),   # cycles with all banks closed
    ("win", i8, (MAX_RANKS, WIN)),      # recent activation times (a ring)
    ("wready", i8, (MAX_RANKS,)),       # earliest cycle one more activation fits every window (push_window)
    # -- earliest issue time of each command, from same-bank, bank-group, rank, channel rules
    ("nt_bank", i8, (MAX_BANKS, CMDS)),
    ("nt_bg", i8, (MAX_BANKS, CMDS)),   # rank x bank groups + bank group
    ("nt_rank", i8, (MAX_RANKS, CMDS)),
    ("nt_ch", i8, (CMDS,)),
    ("cnt", i8, (CMDS,)),               # commands issued
    # -- FR-FCFS weighing all banks at once (kernel_pick.pick_all)
    ("m_dirty", u8),        # banks whose next command may have changed since the last pick (kernel_pick.py)
    ("m_own", u8),          # banks whose own part (`cown`) may have changed since the last pick
    ("vmode", i8),          # 1: FR-FCFS weighs all banks at once from the candidate arrays below
    ("vfull", i8),          # 1: ... and their ages fit the keys
    ("vbase", i8),          # the age the keys count from
    ("ck", i8, (MAX_BANKS,)),       # the bank's candidate: its group's place in `vg` (8 x rank + command)
    ("cg", i8, (MAX_BANKS,)),       # its place in its bank group's row of `nt_bg` (8 x bank group + command)
    ("ccmd", i8, (MAX_BANKS,)),     # its command
    ("ckey", i8, (MAX_BANKS,)),     # its priority: class bit << 31 + ((seq - vbase) << 6 | bank)
    ("cslot", i8, (MAX_BANKS,)),    # its queue slot
    ("cown", i8, (MAX_BANKS,)),     # its earliest cycle by same-bank rules (INF: no command)
    ("vg", i8, (8 * MAX_RANKS,)),   # per (rank, command) group its shared part (made at each pick;
                                    # for one or two ranks the pick keeps it in registers instead)
])
QUEUE_ENTRY = np.dtype([("bank", i8), ("row", i8), ("write", i8), ("enter", i8), ("id", i8),
                        ("seq", i8), ("next", i8), ("prev", i8)], align=True)
ARRIVAL = np.dtype([("bank", np.int32), ("write", np.int32), ("row", i8), ("arr", i8), ("id", i8)], align=True)
PIM_OP = np.dtype([("op", i8), ("row", i8), ("bank", i8), ("count", i8), ("arr", i8), ("mask", u8)], align=True)
DONE = np.dtype([("id", i8), ("enter", i8), ("done", i8), ("write", i8)], align=True)
PIM_DONE = np.dtype([("seq", i8), ("done", i8)], align=True)   # the op's place in the ring's sequence
LOGGED = np.dtype([("t", i8), ("ch", i8), ("cmd", i8), ("bank", i8), ("row", i8), ("mask", u8)], align=True)
# the compiled timing rules (commands.compile_tables): per (scope, earlier command) how many later commands
# it constrains (`upd_n`) and one row of CMDS latencies (`upd_d`, NOLAT where there is no rule: adding it to
# a time leaves a value below every earliest time); and the activation windows
TABLES = lined([("upd_n", i8, (5, CMDS)), ("upd_d", i8, (5, CMDS, CMDS)), ("win_n", i8, (2,)),
                ("win_t", i8, (2,))])
NOLAT = -(1 << 61)

# error codes the kernel reports in `err`
ERR_NONE, ERR_PIM_ROW_CLOSED, ERR_OUT_FULL = 0, 1, 2
# PIM op codes (the bundle's steps; the kernel expands each into commands)
OP_ACT, OP_COMP, OP_READRES, OP_PRE, OP_GWRITE = range(5)


class Cfg(NamedTuple):
    nbank: int          # banks per channel
    bpr: int            # banks per rank
    bpg: int            # banks per bank group
    bpr_sh: int         # log2(bpr)
    bpg_sh: int         # log2(bpg)
    nrank: int
    nbg: int            # bank groups per rank
    sched: int
    page: int
    refresh: int
    qmode: int
    qsize: int          # entries per queue (shared: per channel; per_bank: per bank)
    pim: int
    CL: int
    CWL: int
    tBL: int
    tREFI: int
    tREFIpb: int
    postpone: int       # refresh intervals a refresh may be postponed while PIM runs
    comp_done: int      # cycles after a PIM compute command issues until its reads are done
    readres_done: int   # cycles after a PIM read-out command issues until its data is out
    gwrite: int
    log: int            # 1: record every command in the log
    act_banks: int      # banks one PIM activate opens
    nwin: int           # activation windows (tFAW, t32AW)
    wmax: int           # ring length used for the windows
    vec_on: int         # FR-FCFS weighs all banks at once from this many banks with queued requests on
    vec_off: int        # ... and group by group again below this many (kernel_pick.py)


class State(NamedTuple):
    ch: np.ndarray         # [channels] CHANNEL records
    q: np.ndarray          # [channels, slots] QUEUE_ENTRY: the controller queue
    q_free: np.ndarray     # [channels, slots] stack of free slots
    fifo: np.ndarray       # [channels, k] ARRIVAL ring
    pim: np.ndarray        # [channels, k] PIM_OP ring
    out: np.ndarray        # [channels x k] DONE: requests completed in this run, channel after channel in the
                           # order they ran
    out_n: np.ndarray      # [1]: rows of `out` in use
    pout: np.ndarray       # [channels, k] PIM_DONE: PIM ops completed in this run
    log: np.ndarray        # [k] LOGGED command log (tests and `--log`)
    log_n: np.ndarray      # [1]


def make_cfg(device: DramDevice, log: bool = False) -> Cfg:
    o, t, p, ctl = device.org, device.timing, device.pim, device.controller
    nwin = 1 if t.t32AW == 0 else 2
    return Cfg(nbank=device.banks_per_channel, bpr=device.banks_per_rank, bpg=o.banks_per_group,
               bpr_sh=device.banks_per_rank.bit_length() - 1, bpg_sh=o.banks_per_group.bit_length() - 1,
               nrank=o.ranks, nbg=o.bankgroups, sched=SCHEDULERS[ctl.scheduler], page=PAGE_POLICIES[ctl.page_policy],
               refresh=REFRESH[ctl.refresh], qmode=QUEUES[ctl.queue], qsize=ctl.queue_size, pim=PIM_MODES[p.mode],
               CL=t.CL, CWL=t.CWL, tBL=t.tBL, tREFI=t.tREFI, tREFIpb=t.tREFIpb, postpone=REFRESH_POSTPONE,
               comp_done=p.comp_interval, readres_done=p.readres_latency + t.tBL, gwrite=p.gwrite_cycles,
               log=int(log), act_banks=p.act_banks, nwin=nwin, wmax=32 if nwin == 2 else 4,
               vec_on=VEC_ON, vec_off=VEC_OFF)


def make_state(cfg: Cfg, channels: int, fifo: int = 1024, pim: int = 64, log: int = 0) -> State:
    """Fresh state: every bank closed, no command yet, the first refresh of rank r due at (r+1)/R of tREFI."""
    assert cfg.nbank <= MAX_BANKS and cfg.nrank <= MAX_RANKS and NCMD <= CMDS
    slots = cfg.qsize * (cfg.nbank if cfg.qmode == 1 else 1)
    ch = zeros(channels, CHANNEL)
    ch["nfree"] = slots
    ch["lastpim"] = NEVER
    for f in ("row", "prow", "head", "tail", "rs", "ws"):
        ch[f] = -1
    ch["win"] = NEVER
    ch["wready"] = NEVER
    ch["cown"] = INF                     # no bank has a command (kernel_pick.pick_all)
    period = cfg.tREFIpb if cfg.refresh == 2 else cfg.tREFI
    ch["refdue"][:, :cfg.nrank] = (np.arange(cfg.nrank) + 1) * period // cfg.nrank if cfg.refresh else INF
    return State(ch=ch, q=zeros((channels, slots), QUEUE_ENTRY),
                 q_free=copy(np.tile(np.arange(slots - 1, -1, -1, dtype=np.int64), (channels, 1))),
                 fifo=zeros((channels, fifo), ARRIVAL), pim=zeros((channels, pim), PIM_OP),
                 out=zeros(channels * (fifo + slots), DONE), out_n=zeros(1, np.int64),
                 pout=zeros((channels, pim), PIM_DONE), log=zeros(log, LOGGED), log_n=zeros(1, np.int64))


def pack_tables(tables) -> np.ndarray:
    """`commands.Tables` as the one-record array the kernel reads (fixed shapes, so constant offsets)."""
    out = zeros(1, TABLES)
    n = tables.upd_n.shape[1]
    out["upd_n"][0, :, :n] = tables.upd_n
    out["upd_d"][0] = NOLAT
    for s, p in zip(*np.nonzero(tables.upd_n)):
        k = tables.upd_n[s, p]
        out["upd_d"][0, s, p, tables.upd_f[s, p, :k]] = tables.upd_v[s, p, :k]
    out["win_n"][0, :tables.win_n.size] = tables.win_n
    out["win_t"][0, :tables.win_t.size] = tables.win_t
    return out


def grow_ring(arr: np.ndarray, head: np.ndarray, tail: np.ndarray, new: int) -> np.ndarray:
    """A [ch, k] ring re-laid into [ch, new] keeping each channel's live entries at their places."""
    out = zeros((arr.shape[0], new), arr.dtype)
    k = arr.shape[1]
    size = arr.dtype.itemsize         # moved as bytes: a structured copy checks every field (~100x slower)
    src, dst = arr.view(np.uint8).reshape(arr.shape[0], k, size), out.view(np.uint8).reshape(arr.shape[0], new, size)
    for c in range(arr.shape[0]):
        idx = np.arange(int(head[c]), int(tail[c]))
        dst[c, idx % new] = src[c, idx % k]
    return out
