"""The engine's state: named tuples of numpy arrays that persist between batches, shared by kernel and driver.

`Cfg` holds the scalars a channel controller needs; `State` every array the kernel reads and writes.
Both are plain named tuples so numba compiles attribute access to them (`st.bank[c, b, B_ROW]`) directly.
Times are int64 cycles of the device clock; `INF` marks "never" and `NEVER` "long ago".

The input rings (`fifo` of arriving requests, `pim` of PIM ops) are written only by the Python side and
never changed by the kernel, which only moves each channel's head; so a look-ahead copy of the state
(`component.py`) can share them. Everything the kernel changes is per channel and listed in
`CHANNEL_ARRAYS`.
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

# Columns of the per-channel scalars `chs[c, H_*]`: the channel's time; queue occupancy and free slots;
# arrivals ring head and tail; PIM ring head and tail; completions written in this run; the next
# admission's sequence number; the last PIM command's cycle; error code and bank; PIM bank activations
# and compute bank-commands (for energy); commands issued for the head PIM op; PIM completions written.
(H_NOW, H_NQ, H_NFREE, H_FHEAD, H_FTAIL, H_PHEAD, H_PTAIL, H_NOUT, H_SEQ, H_LASTPIM, H_ERR, H_ERRB,
 H_PACTB, H_PCOMPB, H_PISSUED, H_NPOUT) = range(16)
NH = 16
# per bank `bank[c, b, B_*]`: open rows (memory and PIM row buffer), queued requests, the first and last
# of them (a doubly linked list of queue slots, oldest first), and the oldest queued read and write
# hitting the open memory row (-1: none)
B_ROW, B_PROW, B_QN, B_HEAD, B_TAIL, B_RS, B_WS = range(7)
NB = 7
# per channel bank sets `bm[c, M_*]` (uint64 masks): banks with queued requests, banks with an open
# memory row, banks with a queued request hitting it
M_Q, M_OPEN, M_HIT = range(3)
NM = 3
# per rank `rank[c, r, R_*]`: activation-window ring position, refresh, background-power accounting
R_WINPOS, R_REFDUE, R_REFPTR, R_OPEN, R_SINCE, R_ACT, R_PRE = range(7)
NR = 7
# a queue entry `q[c, slot, Q_*]`, linked to the entries of the same bank before and after it
Q_BANK, Q_ROW, Q_COL, Q_WRITE, Q_ENTER, Q_ID, Q_SEQ, Q_NEXT, Q_PREV = range(9)
NQ = 9
# an arrival waiting for a queue slot `fifo[c, k, F_*]` (a ring)
F_BANK, F_ROW, F_COL, F_WRITE, F_ARR, F_ID = range(6)
NF = 6
# a PIM op `pim[c, k, P_*]` (a ring; its bank set is `p_mask[c, k]`)
P_OP, P_ROW, P_BANK, P_COUNT, P_ARR = range(5)
NP = 5
# a completed request `out[c, k, O_*]`; a completed PIM op `pout[c, k, PO_*]` (its place in the ring's
# sequence, and the cycle it is done)
O_ID, O_ENTER, O_DONE, O_WRITE = range(4)
NO = 4
PO_SEQ, PO_DONE = range(2)
# a logged command `log[k, L_*]` (its bank set is `log_mask[k]`)
L_T, L_CH, L_CMD, L_BANK, L_ROW = range(5)
# error codes the kernel reports in chs[:, H_ERR]
ERR_NONE, ERR_PIM_ROW_CLOSED, ERR_OUT_FULL = 0, 1, 2

# PIM op codes (the bundle's steps; the kernel expands each into commands)
OP_ACT, OP_COMP, OP_READRES, OP_PRE, OP_GWRITE = range(5)

# the arrays holding one channel's controller state (everything but the input rings and the outputs)
CHANNEL_ARRAYS = ("nt_bank", "nt_bg", "nt_rank", "nt_ch", "bank", "bm", "rank", "win", "chs", "q", "q_free", "cnt")


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
    gwrite: int
    log: int            # 1: record every command in the log arrays
    act_banks: int      # banks one PIM activate opens
    nwin: int           # activation windows (tFAW, t32AW)
    wmax: int           # ring length for the windows


class State(NamedTuple):
    nt_bank: np.ndarray    # [ch, bank, cmd] earliest issue time from same-bank rules
    nt_bg: np.ndarray      # [ch, rank*nbg + bg, cmd] ... from bank-group rules
    nt_rank: np.ndarray    # [ch, rank, cmd] ... from rank and other-rank rules
    nt_ch: np.ndarray      # [ch, cmd] ... from channel rules (command and data buses)
    bank: np.ndarray       # [ch, bank, B_*]
    bm: np.ndarray         # [ch, M_*] uint64 bank sets
    rank: np.ndarray       # [ch, rank, R_*]
    win: np.ndarray        # [ch, rank, wmax] recent activation times (a ring)
    chs: np.ndarray        # [ch, H_*]
    q: np.ndarray          # [ch, slot, Q_*] the controller queue
    q_free: np.ndarray     # [ch, slot] stack of free slots
    fifo: np.ndarray       # [ch, k, F_*]
    pim: np.ndarray        # [ch, k, P_*]
    p_mask: np.ndarray     # [ch, k] uint64 bank sets of the PIM ops
    out: np.ndarray        # [ch, k, O_*] requests completed in this run
    pout: np.ndarray       # [ch, k, PO_*] PIM ops completed in this run
    cnt: np.ndarray        # [ch, cmd] commands issued
    log: np.ndarray        # [k, L_*] command log (tests and `--log`)
    log_mask: np.ndarray   # [k] uint64
    log_n: np.ndarray      # [1]


def make_cfg(device: DramDevice, log: bool = False) -> Cfg:
    o, t, p, ctl = device.org, device.timing, device.pim, device.controller
    nwin = 1 if t.t32AW == 0 else 2
    return Cfg(nbank=device.banks_per_channel, bpr=device.banks_per_rank, bpg=o.banks_per_group,
               bpr_sh=device.banks_per_rank.bit_length() - 1, bpg_sh=o.banks_per_group.bit_length() - 1,
               nrank=o.ranks, nbg=o.bankgroups, sched=SCHEDULERS[ctl.scheduler], page=PAGE_POLICIES[ctl.page_policy],
               refresh=REFRESH[ctl.refresh], qmode=QUEUES[ctl.queue], qsize=ctl.queue_size, pim=PIM_MODES[p.mode],
               CL=t.CL, CWL=t.CWL, tBL=t.tBL, tREFI=t.tREFI, tREFIpb=t.tREFIpb, postpone=REFRESH_POSTPONE,
               comp_done=p.comp_interval, gwrite=p.gwrite_cycles, log=int(log), act_banks=p.act_banks, nwin=nwin,
               wmax=32 if nwin == 2 else 4)


def make_state(cfg: Cfg, channels: int, fifo: int = 1024, pim: int = 64, log: int = 0) -> State:
    """Fresh state: every bank closed, no command yet, the first refresh of rank r due at (r+1)/R of tREFI."""
    nb, nr = cfg.nbank, cfg.nrank
    slots = cfg.qsize * (nb if cfg.qmode == 1 else 1)
    i64 = lambda *shape: np.zeros(shape, dtype=np.int64)  # noqa: E731
    chs = i64(channels, NH)
    chs[:, H_NFREE] = slots
    chs[:, H_LASTPIM] = NEVER
    bank = i64(channels, nb, NB)
    bank[:, :, [B_ROW, B_PROW, B_HEAD, B_TAIL, B_RS, B_WS]] = -1
    rank = i64(channels, nr, NR)
    period = cfg.tREFIpb if cfg.refresh == 2 else cfg.tREFI
    rank[:, :, R_REFDUE] = (np.arange(nr) + 1) * period // nr if cfg.refresh else INF
    return State(
        nt_bank=i64(channels, nb, NCMD), nt_bg=i64(channels, nr * cfg.nbg, NCMD), nt_rank=i64(channels, nr, NCMD),
        nt_ch=i64(channels, NCMD), bank=bank, bm=np.zeros((channels, NM), np.uint64), rank=rank,
        win=np.full((channels, nr, cfg.wmax), NEVER, np.int64), chs=chs, q=i64(channels, slots, NQ),
        q_free=np.tile(np.arange(slots - 1, -1, -1, dtype=np.int64), (channels, 1)),
        fifo=i64(channels, fifo, NF), pim=i64(channels, pim, NP), p_mask=np.zeros((channels, pim), np.uint64),
        out=i64(channels, fifo + slots, NO), pout=i64(channels, pim, 2), cnt=i64(channels, NCMD), log=i64(log, 5),
        log_mask=np.zeros(log, np.uint64), log_n=i64(1))


def grow_ring(arr: np.ndarray, head: np.ndarray, tail: np.ndarray, new: int) -> np.ndarray:
    """A [ch, k, ...] ring re-laid into [ch, new, ...] keeping each channel's live entries at their places."""
    out = np.zeros((arr.shape[0], new) + arr.shape[2:], dtype=arr.dtype)
    k = arr.shape[1]
    for c in range(arr.shape[0]):
        idx = np.arange(int(head[c]), int(tail[c]))
        out[c, idx % new] = arr[c, idx % k]
    return out
