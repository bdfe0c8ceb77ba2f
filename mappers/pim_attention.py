"""NeuPIMs' attention mapping: each request's KV cache in one channel, its GEMVs as all-bank PIM bundles.

The layout and command sequence follow NeuPIMs (Heo et al., ASPLOS'24, §5 and Alg. 1; the public
simulator's src/operations/NeuPIMSLogitSoftmax.cc and PIMGEMV.cc, read for facts):

* Keys lie along DRAM rows: one row of a bank holds one token's `page` consecutive elements of the
  query-key dimension (E = heads x head_dim of this device), so a row is `page / head_dim` heads of one
  token, and the 32 banks of a channel hold 32 tokens side by side. A *tile* is one row in every bank.
* Score GEMV (Q K^T): for each chunk of `page` elements of E, the query chunk is written to the global
  buffer (GWRITE); then for every tile of 32 tokens: activate the row in all banks (G_ACT, 4 banks at a
  time), and for each head in the row `head_dim / macs_per_bank` COMPs and one result read-out.
* The scores go to the NPU, whose vector unit runs the softmax, and come back to DRAM.
* Context GEMV (A V): values are stored transposed, one row per (head, value dimension) holding `page`
  tokens, 32 dimensions side by side in the 32 banks (dimension j of a head in bank j mod 32; rows
  ordered by token chunk, then head, then dimension group). For each head and chunk of `page` tokens
  the scores are written to the global buffer, then for each group of 32 dimensions: activate, one
  COMP per `macs_per_bank` tokens, read out.
* Requests go to channels by greedy min-load bin packing on their context lengths (Alg. 2); a new
  request joins the least-loaded channel and stays there.

Simplifications (named): the NPU reads PIM results and writes scores over the channel without a
separate transfer task (the read-outs and global-buffer writes are the PIM commands themselves); the new
token's value is written as one burst per (head, dimension) row, since values are stored transposed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from loomsim.errors import LoomError
from loomsim.mappers.program import PimTask, Transfer, VectorOp
from loomsim.simulator.dram.mapping import AddressMap
from loomsim.simulator.dram.pim import PimBundle, PimStep, act_groups, bank_sets, readres_count

SOFTMAX_OPS = 5     # per score: max, subtract, exp, sum, divide


@dataclass
class ChannelPacker:
    """Greedy min-load bin packing of requests onto channels (NeuPIMs Alg. 2), kept across iterations."""

    channels: int
    where: dict[int, int] = field(default_factory=dict)

    def assign(self, requests: Sequence[tuple[int, int]]) -> dict[int, int]:
        """Channel of every active (request id, context); requests seen before keep theirs."""
        active = {rid for rid, _ in requests}
        self.where = {r: c for r, c in self.where.items() if r in active}
        load = [0] * self.channels
        ctx = dict(requests)
        for r, c in self.where.items():
            load[c] += ctx[r]
        for rid, context in sorted((r for r in requests if r[0] not in self.where), key=lambda r: -r[1]):
            c = min(range(self.channels), key=lambda i: (load[i], i))
            self.where[rid] = c
            load[c] += context
        return dict(self.where)


@dataclass(frozen=True)
class PimAttention:
    """Where attention runs: the PIM device, the NPU's scratchpad, link and vector unit."""

    device: object            # DramDevice
    dram: str
    sram: str
    link: str
    vector: str
    heads: int                # query heads of this device (tensor-parallel shard)
    head_dim: int
    elem_bytes: int = 2
    vector_units: int = 1     # identical units of `vector`: a request's softmax runs its heads across them
    # The NPU's PIM side issues from queues of its own (NeuPIMs' core keeps a load and an execute queue
    # for PIM beside the systolic arrays' pair, src/NeuPIMSCore.cc, and a PIM request queue per channel),
    # so attention's transfers and softmax never wait behind the GEMMs' loads or vector work, nor hold
    # them back, and one channel's attention never waits behind another's: queue "<queue>:ch<n>".
    queue: str = "pim"

    def queue_of(self, channel: int) -> str:
        return f"{self.queue}:ch{channel}"

    @property
    def page(self) -> int:
        return self.device.org.row_size // self.elem_bytes

    def check(self) -> None:
        o, p = self.device.org, self.device.pim
        if self.device.pim.mode == "none":
            raise LoomError(f"PIM attention needs a PIM device; {self.device.name} has pim.mode none.")
        if self.page % self.head_dim or self.head_dim % p.macs_per_bank:
            raise LoomError(f"PIM attention needs heads that fill rows evenly: row of {self.page} elements, head "
                            f"dimension {self.head_dim}, {p.macs_per_bank} MACs per bank.")


def attention_tasks(pa: PimAttention, requests: Sequence[tuple[int, int, int]], first_id: int,
                    after: tuple[int, ...] = (), label: str = "", kv_append: bool = True) -> tuple[list, list[int]]:
    """Tasks for one layer's attention of (request id, channel, keys) requests.

    With `kv_append`, the new token's key and value are written into the request's cache first (the
    value one burst per transposed row: the layout's cost); without, the cache is taken as filled.

    Returns (tasks in program order, ids of the tasks whose completion ends attention). Each channel's
    tasks issue from its own queue (`PimAttention.queue_of`); program order puts every request's writes
    and score GEMV first, then the softmaxes, score write-backs and context GEMVs, so a channel's bundles
    queue in order and no request waits behind another's softmax.
    """
    pa.check()
    dev, o, p = pa.device, pa.device.org, pa.device.pim
    amap = AddressMap.of(dev)
    banks = dev.banks_per_channel
    mask = bank_sets(dev)[0]
    acts = act_groups(dev, mask)
    n_read = readres_count(dev, mask)
    E = pa.heads * pa.head_dim
    page = pa.page
    row_stride = amap.encode(row=1) - amap.encode(row=0)
    bank_stride = amap.encode(ba=1) - amap.encode(ba=0)
    if amap.encode(bg=1) - amap.encode(bg=0) != o.banks_per_group * bank_stride or (
            o.ranks > 1 and amap.encode(rank=1) - amap.encode(rank=0) != dev.banks_per_rank * bank_stride):
        raise LoomError(f"PIM attention writes a value row in every bank with one strided transfer; the address "
                        f"mapping of {dev.name} must keep rank, bank group and bank adjacent (as ro,ra,bg,ba,ch,co).")
    comps_head = pa.head_dim // p.macs_per_bank
    next_row: dict[int, int] = {}
    ids = iter(range(first_id, first_id + 10 ** 9))
    writes, scores, softmax, backs, contexts = [], [], [], [], []
    ends = []

    def rows(channel: int, n: int) -> int:
        r = next_row.get(channel, 0)
        if r + n > o.rows:
            raise LoomError(f"PIM attention: channel {channel} needs {r + n} rows, beyond its {o.rows}; spread the "
                            "requests over more channels or shorten them.")
        next_row[channel] = r + n
        return r

    def write(tag, rid, ch, row, nrows, row_bytes, deps, bank=0):
        t = Transfer(next(ids), pa.link, deps, tag, pa.sram, pa.dram, nrows * row_bytes, f"{label}{tag} r{rid}",
                     address=int(amap.encode(ch=ch, rank=bank // dev.banks_per_rank,
                                             bg=bank % dev.banks_per_rank // o.banks_per_group,
                                             ba=bank % o.banks_per_group, row=row)),
                     rows=nrows, row_bytes=row_bytes, stride=row_stride, queue=pa.queue_of(ch))
        return t

    for rid, ch, keys in requests:
        chunks = -(-E // page)
        tiles = -(-keys // banks)                     # rows per chunk: 32 tokens each
        spans = -(-keys // page)                      # score chunks of `page` tokens
        dim_groups = -(-pa.head_dim // banks)
        q_row = rows(ch, chunks)
        k_row = rows(ch, chunks * tiles)
        s_row = rows(ch, pa.heads * spans)
        v_row = rows(ch, pa.heads * spans * dim_groups)
        # the new token's key (its chunks, one row each in bank keys-1 mod 32) and value (one element of
        # each (head, dimension) row: a burst each), and the query chunks for the global buffer
        kt = write("K", rid, ch, k_row + (keys - 1) // banks, chunks, min(page, E) * pa.elem_bytes, after,
                   bank=(keys - 1) % banks)
        # the new value: one burst into each (head, dimension) row of its token chunk; one transfer per
        # row index covers that row in every bank (banks sit at a fixed address stride in the mapping)
        span_row = v_row + (keys - 1) // page * pa.heads * dim_groups
        vts = [Transfer(next(ids), pa.link, after, "V", pa.sram, pa.dram, min(banks, pa.head_dim) * dev.atom,
                        f"{label}V r{rid}", address=int(amap.encode(ch=ch, row=span_row + i)),
                        rows=min(banks, pa.head_dim), row_bytes=dev.atom, stride=bank_stride,
                        queue=pa.queue_of(ch))
               for i in range(pa.heads * dim_groups)]
        qt = write("Q", rid, ch, q_row, chunks, min(page, E) * pa.elem_bytes, after)
        if not kv_append:
            kt, vts = None, []
        writes += [w for w in (kt, *vts, qt) if w is not None]
        steps: list[PimStep] = []
        for k in range(chunks):
            steps.append(PimStep("gwrite", bank=0, row=q_row + k))
            heads_here = min(page, E - k * page) // pa.head_dim
            for g in range(tiles):
                row = k_row + k * tiles + g
                steps += [PimStep("act", banks=m, row=row) for m in acts]
                for _ in range(heads_here):
                    steps += [PimStep("comp", banks=mask, row=row, count=comps_head),
                              PimStep("readres", banks=mask, count=n_read)]
                steps.append(PimStep("pre", banks=mask))
        deps = tuple(w.id for w in (kt, qt, *vts) if w is not None)
        qk = PimTask(next(ids), pa.dram, deps, PimBundle(ch, tuple(steps), f"QK r{rid}"),
                     f"{label}QK r{rid} ch{ch}", queue=pa.queue_of(ch))
        scores.append(qk)
        units = min(pa.heads, pa.vector_units)
        heads_per_unit = [pa.heads // units + (u < pa.heads % units) for u in range(units)]
        sm = VectorOp(next(ids), pa.vector, (qk.id,), elements=pa.heads * keys, ops=SOFTMAX_OPS,
                      label=f"{label}softmax r{rid}", queue=pa.queue_of(ch),
                      parts=tuple(h * keys for h in heads_per_unit) if units > 1 else ())
        softmax.append(sm)
        back = write("S", rid, ch, s_row, pa.heads * spans, min(page, keys) * pa.elem_bytes, (sm.id,))
        backs.append(back)
        steps = []
        for h in range(pa.heads):
            for s in range(spans):
                steps.append(PimStep("gwrite", bank=0, row=s_row + h * spans + s))
                tokens = min(page, keys - s * page)
                for q in range(dim_groups):
                    row = v_row + (s * pa.heads + h) * dim_groups + q
                    steps += [PimStep("act", banks=m, row=row) for m in acts]
                    steps += [PimStep("comp", banks=mask, row=row, count=-(-tokens // p.macs_per_bank)),
                              PimStep("readres", banks=mask, count=n_read), PimStep("pre", banks=mask)]
        av = PimTask(next(ids), pa.dram, (back.id,), PimBundle(ch, tuple(steps), f"AV r{rid}"),
                     f"{label}AV r{rid} ch{ch}", queue=pa.queue_of(ch))
        contexts.append(av)
        ends.append(av.id)
    return writes + scores + softmax + backs + contexts, ends
