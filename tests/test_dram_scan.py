"""The all-bank choice's scan (`kernel_rules.scan_keys`, AVX-512 permutes or portable loads) against the
same formula in plain numpy, and the portable build of the whole kernel against the recorded logs."""
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from loomsim.simulator.dram.kernel_rules import CAP, scan_keys
from loomsim.simulator.dram.state import INF

ACT, PRE, RD, WR = 0, 1, 3, 4


@numba.njit
def _scan(own, ck, cg, key, nt_bg, bg_sh, nt_rank, nt_ch, w0, w1, chunks, t):
    return scan_keys(own.ctypes.data, ck.ctypes.data, cg.ctypes.data, key.ctypes.data, nt_bg.ctypes.data, bg_sh,
                     nt_rank.ctypes.data, nt_ch.ctypes.data, w0, w1, chunks, t)


def _expected(own, ck, key, nt_bg, bg_sh, nt_rank, nt_ch, w, nbank, t):
    best = INF
    for b in range(nbank):
        rank, cmd = ck[b] >> 3, ck[b] & 7
        g = max(t, nt_ch[cmd], nt_rank[rank, cmd], w[rank] if cmd == ACT else -INF)
        best = min(best, (min(max(own[b], nt_bg[b >> bg_sh, cmd], g) - t, CAP) << 32) + key[b])
    return best


@pytest.mark.parametrize("seed", range(40))
def test_scan_equals_the_formula(seed):
    rng = np.random.default_rng(seed)
    nbank = int(rng.choice([8, 16, 32, 64]))
    t = int(rng.integers(0, 1 << 40))
    near = lambda *shape: t + rng.integers(-200, 200, shape)           # noqa: E731 (times around t)
    own = near(64)
    own[rng.random(64) < 0.2] = INF                                      # banks without a command
    own[nbank:] = INF
    if seed % 10 == 0:
        own[rng.integers(0, nbank)] = t + (1 << 31)                      # an offset beyond the key's bits
    ranks = 1 + seed % 2
    bg_sh = 2 + seed % 3                                                 # 4, 8 or 16 banks a bank group
    cmd = rng.choice([ACT, PRE, RD, WR], 64)
    ck = (rng.integers(0, ranks, 64) << 3) + cmd
    cg = ((np.arange(64) >> bg_sh) << 3) + cmd
    key = (rng.integers(0, 2, 64) << 31) + (rng.permutation(1 << 12)[:64] << 6) + np.arange(64)
    nt_bg, nt_rank, nt_ch = near(64, 16), near(16, 16), near(16)
    w = near(2)
    got = _scan(own, ck, cg, key, nt_bg, bg_sh, nt_rank, nt_ch, w[0], w[1], (nbank + 7) >> 3, t)
    assert got == _expected(own, ck, key, nt_bg, bg_sh, nt_rank, nt_ch, w, nbank, t)


@pytest.mark.slow
def test_the_portable_kernel_issues_the_recorded_commands():
    """Without AVX-512 (forced off) the scan looks its values up with loads; the whole kernel is compiled
    that way in a fresh process and must issue the recorded command logs, weighing all banks at once."""
    code = ("import test_dram_recorded_logs as r\n"
            "from loomsim.simulator.dram.kernel_rules import PERMUTE\n"
            "assert not PERMUTE\n"
            "for case in [('HBM2', 'frfcfs', 'open', 'all_bank', 'at_once'), ('DDR5', 'frfcfs', 'open', 'all_bank', "
            "'at_once')]:\n"
            "    assert r.digest(*case, n=4800, all_banks=True) == r.digest(*case, n=4800), case\n"
            "    assert r.digest(*case, all_banks=True) == r.RECORDED[case], case\n")
    env = dict(os.environ, LOOM_DRAM_NO_AVX512="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=os.path.dirname(__file__), capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
