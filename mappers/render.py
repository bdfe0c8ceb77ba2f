"""A readable loop-nest rendering of a mapping: levels outermost first, their loops, what each keeps."""
from __future__ import annotations

from loomsim.mappers.problem import KIND_SYSTOLIC, ROLE_NAMES, EinsumProblem, Target
from loomsim.mappers.space import Mapping


def _tensors(p: EinsumProblem, mask: int) -> str:
    return " ".join(t for i, t in enumerate(p.labels or p.tensors) if (mask >> i) & 1) or "-"


def render(p: EinsumProblem, target: Target, mp: Mapping) -> str:
    """The loop nest, one line per loop with a factor above 1, indented as it nests."""
    R, L = p.R, target.L
    lines = [f"{p.einsum}   ({' '.join(f'{r}={s}' for r, s in zip(p.ranks, p.sizes))})",
             f"on {target.describe()}"]
    depth = 0
    for lv in range(L - 1, -1, -1):
        lev = target.levels[lv]
        keep = _tensors(p, mp.keep[lv])
        moot = mp.resident if lv == L - 2 else 0       # resident tensors are never refilled
        extra = "" if lv == L - 1 else f", double-buffered: {_tensors(p, mp.db[lv] & ~moot)}"
        if mp.resident and lv == L - 2:
            extra += f", resident (fused): {_tensors(p, mp.resident)}"
        lines.append("  " * depth + f"{lev.name}: keeps {keep}{extra}")
        for r in mp.perm[lv]:
            f = mp.F[lv][r]
            if f > 1:
                tile = mp.C[r] * mp.S[r] * _below(mp, lv, r)
                lines.append("  " * (depth + 1) + f"for {p.ranks[r]}{lv} in [0,{f}):  # {p.ranks[r]} tiles of {tile}")
                depth += 1
        depth += 1
    spatial = [f"{p.ranks[r]}:{mp.S[r]}" for r in range(R) if mp.S[r] > 1]
    if spatial:
        lines.append("  " * depth + f"spatial-for across {target.count} x {target.unit.name}: {' '.join(spatial)}")
        depth += 1
    tile = " ".join(f"{p.ranks[r]}={mp.C[r]}" for r in range(R))
    if target.kind == KIND_SYSTOLIC:
        roles = p.roles(bool(mp.swap))
        a, b = (p.tensors[1], p.tensors[0]) if mp.swap else (p.tensors[0], p.tensors[1])
        by_role = {name: [p.ranks[r] for r in range(R) if roles[r] == i] for i, name in enumerate(ROLE_NAMES)}
        how = (f"A={a}, B={b} under {target.unit.dataflow}; "
               + ", ".join(f"{k}: {','.join(v)}" for k, v in by_role.items() if v))
    else:
        how = f"{p.ops_per_point} op(s) per point"
    lines.append("  " * depth + f"{target.unit.name} runs a tile {tile}  ({how})")
    return "\n".join(lines)


def _below(mp: Mapping, lv: int, r: int) -> int:
    out = 1
    for j in range(lv):
        out *= mp.F[j][r]
    return out


def describe(p: EinsumProblem, mp: Mapping) -> str:
    """One line: the compute tile, the spatial split and the buffering."""
    tile = " ".join(f"{r}={c}" for r, c in zip(p.ranks, mp.C))
    split = " ".join(f"{r}:{s}" for r, s in zip(p.ranks, mp.S) if s > 1)
    return f"compute tile {tile}" + (f", split {split}" if split else "") + (", operands swapped" if mp.swap else "")
