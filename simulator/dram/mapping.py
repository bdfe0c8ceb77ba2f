"""Address mapping: byte addresses to (channel, rank, bank group, bank, row, column) and back.

The mapping is an ordered field string, most significant field first: `ro,ra,bg,ba,ch,co` puts the
column lowest (just above the offset within one access), then the channel, then the bank, and so on.
The fields form a mixed-radix number: with the access index a = address // atom, a field's value is
(a // stride) % count, its stride the product of the counts of the fields below it. Any count works
(an A100's 40 channels, say); when every count is a power of two this is the usual bit-field map.
Decoding is vectorised numpy, so a batch of requests is decoded at once; the kernel's decode
(`kernel_io.decode`) peels the same fields off least significant first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loomsim.arch.dram_device import DramDevice, parse_mapping

FIELDS = ("ch", "ra", "bg", "ba", "ro", "co")     # the order of the kernel's per-field arrays


def log2_or_minus_one(n: int) -> int:
    """log2(n) if n is a power of two, else -1 (the kernel then divides instead of shifting)."""
    return n.bit_length() - 1 if n > 0 and n & (n - 1) == 0 else -1


@dataclass(frozen=True)
class AddressMap:
    """Count and stride (in accesses) of each field, for one device and mapping."""

    order: tuple[str, ...]            # most significant first
    atom: int                         # bytes per access: the offset below the fields
    count: dict[str, int]
    stride: dict[str, int]            # product of the counts of the less significant fields
    bankgroups: int
    banks_per_group: int
    banks_per_rank: int

    @staticmethod
    def of(device: DramDevice, mapping: str | None = None) -> "AddressMap":
        o = device.org
        order = tuple(parse_mapping(mapping or device.controller.address_mapping).split(","))
        count = {"ch": o.channels, "ra": o.ranks, "bg": o.bankgroups, "ba": o.banks_per_group,
                 "ro": o.rows, "co": device.columns}
        stride, at = {}, 1
        for f in reversed(order):
            stride[f] = at
            at *= count[f]
        return AddressMap(order, int(device.atom), count, stride, o.bankgroups, o.banks_per_group,
                          o.bankgroups * o.banks_per_group)

    @property
    def span(self) -> int:
        """Bytes the mapping addresses (the device capacity); addresses wrap around it."""
        n = self.atom
        for c in self.count.values():
            n *= c
        return n

    def kernel_args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.int64, np.int64]:
        """What `kernel_io.decode` needs: field indices (into FIELDS) least significant first; in FIELDS
        order, each field's count, log2 count (-1 if not a power of two) and bit position (all -1 unless
        the atom and every count are powers of two); the atom and its log2 (or -1)."""
        order = np.array([FIELDS.index(f) for f in reversed(self.order)], dtype=np.int64)
        count = np.array([self.count[f] for f in FIELDS], dtype=np.int64)
        shift = np.array([log2_or_minus_one(self.count[f]) for f in FIELDS], dtype=np.int64)
        atom_sh = log2_or_minus_one(self.atom)
        pos = np.array([log2_or_minus_one(self.stride[f]) for f in FIELDS], dtype=np.int64)
        if atom_sh < 0 or (shift < 0).any():
            pos[:] = -1
        return order, count, shift, pos, np.int64(self.atom), np.int64(atom_sh)

    def field(self, addr, name: str) -> np.ndarray:
        a = np.asarray(addr, dtype=np.int64) // self.atom
        return a // self.stride[name] % self.count[name]

    def decode(self, addr) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(channel, bank within the channel, row, column) arrays; the bank index is
        rank x banks_per_rank + bank group x banks_per_group + bank."""
        a = np.asarray(addr, dtype=np.int64) // self.atom
        f = {name: a // self.stride[name] % self.count[name] for name in self.order}
        bank = f["ra"] * self.banks_per_rank + f["bg"] * self.banks_per_group + f["ba"]
        return f["ch"], bank, f["ro"], f["co"]

    def encode(self, ch=0, rank=0, bg=0, ba=0, row=0, col=0) -> int | np.ndarray:
        """The byte address of an access (scalars or arrays). Values are not reduced modulo their
        field's count, so encode(row=1) - encode(row=0) is the row's stride in bytes."""
        vals = {"ch": ch, "ra": rank, "bg": bg, "ba": ba, "ro": row, "co": col}
        out = 0
        for name, v in vals.items():
            out = out + np.asarray(v, dtype=np.int64) * self.stride[name]
        out = out * self.atom
        return int(out) if np.ndim(out) == 0 else out

    def bank_address(self, ch: int, bank: int, row: int, col: int = 0) -> int:
        """The address of (channel, channel-local bank index, row, column)."""
        rank, rest = divmod(bank, self.banks_per_rank)
        bg, ba = divmod(rest, self.banks_per_group)
        return self.encode(ch, rank, bg, ba, row, col)
