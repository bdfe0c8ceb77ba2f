"""The kernel's rule update (`kernel_rules.apply`, vector rows of latencies) against the rules applied one
by one in plain Python from the dense latency table, for every command of every preset."""
import numba
import numpy as np
import pytest

from loomsim.arch.dram_presets import load_device
from loomsim.simulator.dram.commands import BANK, BANKGROUP, CHANNEL, NCMD, OTHER_RANKS, RANK, asked, compile_tables
from loomsim.simulator.dram.kernel_rules import apply
from loomsim.simulator.dram.state import make_cfg, make_state, pack_tables


@numba.njit
def _apply(chs, cfg, tbs, cmd, b, t):
    apply(chs[0], cfg, tbs[0], cmd, b, t)


def _expected(ch, lat, wanted, cfg, cmd, b, t):
    """Every rule of `lat` from `cmd` on bank `b` at `t`, one at a time."""
    g, rank = b // cfg.bpg, b // cfg.bpr
    for f in wanted:
        if lat[BANK, cmd, f]:
            ch["nt_bank"][b, f] = max(ch["nt_bank"][b, f], t + lat[BANK, cmd, f])
        if lat[BANKGROUP, cmd, f]:
            ch["nt_bg"][g, f] = max(ch["nt_bg"][g, f], t + lat[BANKGROUP, cmd, f])
        if lat[RANK, cmd, f]:
            ch["nt_rank"][rank, f] = max(ch["nt_rank"][rank, f], t + lat[RANK, cmd, f])
        if lat[CHANNEL, cmd, f]:
            ch["nt_ch"][f] = max(ch["nt_ch"][f], t + lat[CHANNEL, cmd, f])
        if lat[OTHER_RANKS, cmd, f]:
            for r2 in range(cfg.nrank):
                if r2 != rank:
                    ch["nt_rank"][r2, f] = max(ch["nt_rank"][r2, f], t + lat[OTHER_RANKS, cmd, f])


@pytest.mark.parametrize("preset", ["HBM2", "DDR4", "DDR5", "LPDDR5", "GDDR6-AiM", "HBM2-PIM", "HBM3-BGPIM"])
def test_vector_rule_update_equals_the_rules_one_by_one(preset):
    dev = load_device(preset, {"organisation": {"ranks": 2}} if preset == "DDR4" else None)
    tables = compile_tables(dev)
    cfg = make_cfg(dev)
    tbs = pack_tables(tables)
    wanted = asked(dev)
    rng = np.random.default_rng(7)
    st = make_state(cfg, 1)
    ch = st.ch
    for f in ("nt_bank", "nt_bg", "nt_rank", "nt_ch"):
        ch[f] = rng.integers(0, 200, ch[f].shape)          # earlier commands left these
    expected = ch.copy()
    for step in range(400):
        cmd, b, t = int(rng.integers(0, NCMD)), int(rng.integers(0, cfg.nbank)), 100 + step
        _apply(ch, cfg, tbs, np.int64(cmd), np.int64(b), np.int64(t))
        _expected(expected[0], tables.lat, wanted, cfg, cmd, b, t)
        for f in ("nt_bank", "nt_bg", "nt_rank", "nt_ch"):
            assert np.array_equal(ch[f], expected[f]), (preset, step, cmd, b, f)
