"""Systolic-array timing: the closed forms against a register-level, cycle-by-cycle model."""
import numpy as np
import pytest

from loomsim.simulator.systolic import fold_cycles, tile_breakdown, tile_cycles, tile_traffic
from systolic_rtl import rtl_tile

# (m, n, k): smaller than the array, equal to it, non-multiples, partial folds on every rank
SHAPES = [(1, 1, 1), (3, 5, 7), (4, 4, 4), (9, 4, 13), (8, 8, 8), (5, 17, 3), (12, 6, 9), (2, 9, 16),
          (16, 3, 5), (7, 7, 1)]
ARRAYS = [(4, 4), (3, 5)]


def closed_form(dataflow, R, C, m, n, k):
    """The documented formula written out by hand: per fold 2r + c + t - 2 summed over folds."""
    rows_rank, cols_rank, t = {"ws": (k, n, m), "os": (m, n, k), "is": (k, m, n)}[dataflow]
    total = 0
    for r0 in range(0, rows_rank, R):
        r = min(R, rows_rank - r0)
        for c0 in range(0, cols_rank, C):
            c = min(C, cols_rank - c0)
            total += 2 * r + c + t - 2
    return total


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a[0]}x{a[1]}")
def test_tile_cycles_equal_register_level_model(dataflow, shape, array):
    m, n, k = shape
    R, C = array
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    A, B = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    Z, rtl_cycles, moves = rtl_tile(dataflow, R, C, A, B)
    np.testing.assert_allclose(Z, A @ B, rtol=1e-12, atol=1e-12)
    assert tile_cycles(dataflow, R, C, m, n, k) == rtl_cycles == closed_form(dataflow, R, C, m, n, k)
    tr = tile_traffic(dataflow, R, C, m, n, k, accumulate=False)
    assert (tr.a_reads, tr.b_reads, tr.z_writes) == (moves["a"], moves["b"], moves["outputs"])
    assert tr.z_reads == moves["outputs"] - m * n   # every partial after an element's first is read back


@pytest.mark.parametrize("dataflow,shape,expected", [
    # 128x128 array, 64x1024x512: ws 4 k-folds x 8 n-folds of 2*128+128+64-2 = 446 cycles
    ("ws", (64, 1024, 512), 32 * 446),
    # os: one 64-row fold x 8 n-folds of 2*64+128+512-2 = 766
    ("os", (64, 1024, 512), 8 * 766),
    # is: 4 k-folds x one 64-column fold of 2*128+64+1024-2 = 1342
    ("is", (64, 1024, 512), 4 * 1342),
    # partial folds on k and n: (r,c)=(128,128)x2: 582, (128,44): 498, (2,128)x2: 330, (2,44): 246
    ("ws", (200, 300, 130), 2 * 582 + 498 + 2 * 330 + 246),
    # a 1x1x1 tile: 2 + 1 + 1 - 2 = 2 cycles
    ("os", (1, 1, 1), 2),
])
def test_tile_cycles_on_a_128x128_array_by_hand(dataflow, shape, expected):
    assert tile_cycles(dataflow, 128, 128, *shape) == expected


def test_fold_phases_add_up():
    for df in ("ws", "os", "is"):
        for r, c, t in [(1, 1, 1), (128, 128, 64), (3, 100, 7)]:
            f = fold_cycles(df, r, c, t)
            assert f.total == 2 * r + c + t - 2
            assert f.stream == t and f.fill == r + c - 2
            assert (f.preload, f.drain) == ((0, r) if df == "os" else (r, 0))
    b = tile_breakdown("ws", 128, 128, 64, 1024, 512)
    assert b.preload + b.fill + b.stream + b.drain == tile_cycles("ws", 128, 128, 64, 1024, 512)


def test_bad_fold_dimensions_raise():
    with pytest.raises(ValueError):
        fold_cycles("xs", 1, 1, 1)
    with pytest.raises(ValueError):
        fold_cycles("ws", 0, 1, 1)
