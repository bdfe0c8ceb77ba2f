"""Address mapping: byte addresses to (channel, rank, bank group, bank, row, column) and back.

The mapping is an ordered field string, most significant field first: `ro,ra,bg,ba,ch,co` puts the
column in the lowest bits above the access offset, then the channel, then the bank, and so on; each
field gets log2(count) bits. Decoding is vectorised numpy, so a batch of requests is decoded at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loomsim.arch.dram_device import DramDevice, parse_mapping


@dataclass(frozen=True)
class AddressMap:
    """Bit positions and widths of each field, for one device and mapping."""

    order: tuple[str, ...]            # most significant first
    shift: int                        # log2(access atom): the offset bits below the fields
    pos: dict[str, int]
    width: dict[str, int]
    bankgroups: int
    banks_per_group: int
    banks_per_rank: int

    @staticmethod
    def of(device: DramDevice, mapping: str | None = None) -> "AddressMap":
        o = device.org
        order = tuple(parse_mapping(mapping or device.controller.address_mapping).split(","))
        counts = {"ch": o.channels, "ra": o.ranks, "bg": o.bankgroups, "ba": o.banks_per_group,
                  "ro": o.rows, "co": device.columns}
        width = {f: int(c).bit_length() - 1 for f, c in counts.items()}
        pos, at = {}, 0
        for f in reversed(order):
            pos[f] = at
            at += width[f]
        return AddressMap(order, int(device.atom).bit_length() - 1, pos, width, o.bankgroups, o.banks_per_group,
                          o.bankgroups * o.banks_per_group)

    @property
    def span(self) -> int:
        """Bytes the mapping addresses (the device capacity)."""
        return 1 << (self.shift + sum(self.width.values()))

    def field(self, addr: np.ndarray, name: str) -> np.ndarray:
        a = np.asarray(addr, dtype=np.int64) >> self.shift
        return (a >> self.pos[name]) & ((1 << self.width[name]) - 1)

    def decode(self, addr) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(channel, bank within the channel, row, column) arrays; the bank index is
        rank x banks_per_rank + bank group x banks_per_group + bank."""
        a = np.asarray(addr, dtype=np.int64) % self.span >> self.shift
        f = {name: (a >> self.pos[name]) & ((1 << self.width[name]) - 1) for name in self.order}
        bank = f["ra"] * self.banks_per_rank + f["bg"] * self.banks_per_group + f["ba"]
        return f["ch"], bank, f["ro"], f["co"]

    def encode(self, ch=0, rank=0, bg=0, ba=0, row=0, col=0) -> int | np.ndarray:
        """The byte address of an access (scalars or arrays)."""
        vals = {"ch": ch, "ra": rank, "bg": bg, "ba": ba, "ro": row, "co": col}
        out = 0
        for name, v in vals.items():
            out = out + (np.asarray(v, dtype=np.int64) << self.pos[name])
        out = out << self.shift
        return int(out) if np.ndim(out) == 0 else out

    def bank_address(self, ch: int, bank: int, row: int, col: int = 0) -> int:
        """The address of (channel, channel-local bank index, row, column)."""
        rank, rest = divmod(bank, self.banks_per_rank)
        bg, ba = divmod(rest, self.banks_per_group)
        return self.encode(ch, rank, bg, ba, row, col)
