"""Request sources for `loom dram run`: trace files read in chunks, and synthetic patterns.

Trace format (the one DRAMsim3 reads): one transaction a line, `hex_address READ|WRITE arrival_cycle`,
e.g. `0x1f40 READ 120`, fields separated by spaces or tabs, arrival cycles in the device clock and never
decreasing. A file is read a chunk of lines at a time (the pandas C parser), so its size does not
bound memory; a malformed line is an error naming its line number and what was expected.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from loomsim.errors import LoomError

CHUNK = 1 << 20
EXPECTED = "'hex_address READ|WRITE arrival_cycle', e.g. '0x1f40 READ 120'"


@dataclass
class Chunk:
    """Requests of one chunk: byte addresses, writes (0/1), arrival cycles."""

    addr: np.ndarray
    write: np.ndarray
    arrival: np.ndarray


def _hex(values: np.ndarray, first_line: int, path: str) -> np.ndarray:
    try:
        out = np.fromiter((int(v, 16) for v in values), dtype=np.int64, count=values.size)
        if (out >= 0).all():
            return out
    except (TypeError, ValueError, OverflowError):
        pass
    for i, v in enumerate(values):                      # find the line that failed, to name it
        try:
            bad = int(v, 16) < 0
        except (TypeError, ValueError):
            bad = True
        if bad:
            raise LoomError(f"{path}:{first_line + i}: cannot read address {v!r} as a hexadecimal number. "
                            f"Expected {EXPECTED}.")
    raise LoomError(f"{path}:{first_line}: an address beyond 2^63. Expected {EXPECTED}.")  # pragma: no cover


def read_trace(path: str | Path, limit: int | None = None, chunk: int = CHUNK) -> Iterator[Chunk]:
    """Yield the trace's requests chunk by chunk, checking every line."""
    path = str(path)
    if not Path(path).is_file():
        raise LoomError(f"no trace file '{path}'.")
    line, last_arrival, seen = 1, -1, 0
    try:
        reader = pd.read_csv(path, sep=r"\s+", header=None, names=["addr", "op", "t", "extra"], dtype=str,
                             chunksize=chunk, engine="c", skip_blank_lines=False, na_filter=True)
        for frame in reader:
            if limit is not None and seen + len(frame) > limit:
                frame = frame.iloc[: limit - seen]
            bad = frame["op"].isna() | frame["t"].isna() | frame["extra"].notna() | frame["addr"].isna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                fields = [x for x in frame.iloc[i].tolist() if isinstance(x, str)]
                raise LoomError(f"{path}:{line + i}: expected three fields, found {len(fields)} "
                                f"({' '.join(fields) or 'an empty line'!r}). Expected {EXPECTED}.")
            op = frame["op"].to_numpy()
            unknown = (op != "READ") & (op != "WRITE")
            if unknown.any():                          # accept any case, but check it only when needed
                op = frame["op"].str.upper().to_numpy()
                unknown = (op != "READ") & (op != "WRITE")
            if unknown.any():
                i = int(np.flatnonzero(unknown)[0])
                raise LoomError(f"{path}:{line + i}: unknown operation {frame['op'].iloc[i]!r}. Expected READ or "
                                f"WRITE, as in {EXPECTED}.")
            t = frame["t"].to_numpy()
            try:
                arrival = t.astype(np.int64)
                ok = bool((arrival >= 0).all())
            except ValueError:
                ok = False
            if not ok:
                digits = frame["t"].str.fullmatch(r"\d+").to_numpy()
                i = int(np.flatnonzero(~digits)[0])
                raise LoomError(f"{path}:{line + i}: arrival {t[i]!r} is not a whole number of cycles. "
                                f"Expected {EXPECTED}.")
            back = np.flatnonzero(np.diff(np.concatenate([[last_arrival], arrival])) < 0)
            if back.size:
                i = int(back[0])
                raise LoomError(f"{path}:{line + i}: arrival {arrival[i]} is earlier than the previous line's "
                                f"{arrival[i - 1] if i else last_arrival}; a trace must be in arrival order.")
            addr = _hex(frame["addr"].to_numpy(), line, path)
            yield Chunk(addr, (op == "WRITE").astype(np.int64), arrival)
            line += len(frame)
            seen += len(frame)
            last_arrival = int(arrival[-1]) if arrival.size else last_arrival
            if limit is not None and seen >= limit:
                return
    except pd.errors.ParserError as exc:
        raise LoomError(f"{path}: {exc}. Expected {EXPECTED}.") from None
    except pd.errors.EmptyDataError:
        return


def pattern(name: str, atom: int, capacity: int, requests: int, write_fraction: float = 0.0, seed: int = 0,
            chunk: int = CHUNK) -> Iterator[Chunk]:
    """Synthetic requests, all arriving at cycle 0 (the controller queue paces them):
    `seq` consecutive accesses, `random` uniform over the device, `stride:BYTES` every BYTES bytes."""
    rng = np.random.default_rng(seed)
    if name == "seq":
        step = atom
    elif name.startswith("stride:"):
        try:
            step = int(name.split(":", 1)[1], 0)
        except ValueError:
            raise LoomError(f"pattern {name!r}: the stride must be a whole number of bytes, e.g. stride:2048.") \
                from None
        if step <= 0:
            raise LoomError(f"pattern {name!r}: the stride must be positive.")
    elif name != "random":
        raise LoomError(f"unknown pattern {name!r}; valid: seq, random, stride:BYTES (e.g. stride:2048).")
    for start in range(0, requests, chunk):
        n = min(chunk, requests - start)
        if name == "random":
            addr = rng.integers(0, capacity // atom, n, dtype=np.int64) * atom
        else:
            addr = (np.arange(start, start + n, dtype=np.int64) * step) % capacity
        write = (rng.random(n) < write_fraction).astype(np.int64) if write_fraction else np.zeros(n, np.int64)
        yield Chunk(addr, write, np.zeros(n, dtype=np.int64))
