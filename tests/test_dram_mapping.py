"""Mixed-radix address maps: any channel count (an A100's 40), bit fields unchanged for powers of two,
and the numba decode equal to the numpy one."""
import numba
import numpy as np
import pytest

from loomsim.arch.dram_device import NAMED_MAPPINGS
from loomsim.arch.dram_presets import load_device
from loomsim.simulator.dram.engine import DramEngine
from loomsim.simulator.dram.kernel_io import decode
from loomsim.simulator.dram.mapping import AddressMap

FORTY = {"organisation": {"channels": 40}}


@pytest.mark.parametrize("mapping", list(NAMED_MAPPINGS))
def test_decode_of_encode_is_the_identity_with_40_channels(mapping):
    m = AddressMap.of(load_device("HBM2", FORTY), mapping)
    rng = np.random.default_rng(7)
    n = 2000
    ch, rank, bg, ba = rng.integers(0, 40, n), rng.integers(0, 2, n), rng.integers(0, 4, n), rng.integers(0, 4, n)
    row, col = rng.integers(0, 32768, n), rng.integers(0, 16, n)
    got = m.decode(m.encode(ch, rank, bg, ba, row, col))
    for g, want in zip(got, (ch, rank * 16 + bg * 4 + ba, row, col)):
        assert np.array_equal(g, want)
    assert m.span == 40 * 2**30


@pytest.mark.parametrize("mapping", list(NAMED_MAPPINGS))
def test_encode_numbers_every_access_of_the_device_once(mapping):
    dev = load_device("HBM2", {"organisation": {"channels": 40, "rows": 3, "row_size": "128B"}})
    m = AddressMap.of(dev, mapping)
    grid = np.meshgrid(*(np.arange(n) for n in (40, 2, 4, 4, 3, 2)), indexing="ij")
    addr = np.sort(m.encode(*(g.ravel() for g in grid)))
    assert np.array_equal(addr, np.arange(dev.capacity // 64) * 64)


def test_40_channel_map_counts_in_mixed_radix():
    """ro,ra,bg,ba,ch,co with 16 columns of 64 B: 1 KiB per channel, then the next channel; after the
    40th channel (40 KiB) the next bank."""
    m = AddressMap.of(load_device("HBM2", FORTY))
    ch, bank, row, col = (int(x[0]) for x in m.decode([39 * 1024 + 15 * 64]))
    assert (ch, bank, row, col) == (39, 0, 0, 15)
    ch, bank, row, col = (int(x[0]) for x in m.decode([40 * 1024]))
    assert (ch, bank, row, col) == (0, 1, 0, 0)
    assert m.encode(row=1) == 40 * 1024 * 32            # 40 channels x 32 banks x 1 KiB rows
    assert [int(c) for c in m.decode(np.arange(0, 80 * 1024, 1024))[0]] == list(range(40)) * 2


def test_power_of_two_maps_are_the_bit_fields():
    """HBM2 (8 channels, ro,ra,bg,ba,ch,co): co bits 6-9, ch 10-12, ba 13-14, bg 15-16, ra 17, ro 18 up."""
    m = AddressMap.of(load_device("HBM2"))
    assert m.encode(ch=3, rank=1, bg=2, ba=1, row=77, col=5) == (77 << 18 | 1 << 17 | 2 << 15 | 1 << 13 | 3 << 10
                                                                 | 5 << 6)
    assert m.span == 8 * 2**30


@pytest.mark.parametrize("org,mapping", [
    ({"channels": 40}, "rorabgbachco"),
    ({"channels": 40, "rows": 1000}, "RoBaRaCoCh"),
    ({"channels": 5, "rows": 96, "row_size": "960B"}, "chrobabgraco"),   # 15 columns
    ({"channels": 8}, "rochrababgco"),                                   # powers of two: the shift path
    ({"channels": 6, "bus_width": 96, "device_width": 96, "row_size": "768B"}, "ChRaBaRoCo"),  # 48 B accesses: the atom divides
])
def test_kernel_decode_equals_the_numpy_decode(org, mapping):
    dev = load_device("HBM2", {"organisation": org, "controller": {"address_mapping": mapping}})
    m = AddressMap.of(dev)
    rng = np.random.default_rng(3)
    addr = rng.integers(0, 2 * m.span // dev.atom, 3000) * dev.atom     # beyond the span: addresses wrap
    e = DramEngine(dev, fifo=4096)
    e.submit(addr, 0, 0)
    ch, bank, row, col = m.decode(addr)
    assert np.array_equal(e.channel_counts(addr), np.bincount(ch, minlength=dev.org.channels))
    for c in range(dev.org.channels):
        mine = np.flatnonzero(ch == c)                                   # in submission order
        fifo = e.st.fifo[c, :mine.size]
        assert np.array_equal(fifo["id"], mine)
        assert np.array_equal(fifo["bank"], bank[mine]) and np.array_equal(fifo["row"], row[mine])
    # the column does not change any timing, so the arrival rings do not keep it; the kernel's decode
    # still finds it
    assert np.array_equal(_kernel_columns(addr, *e._decode[:6]), col)


@numba.njit
def _kernel_columns(addr, order, count, shift, pos, atom, atom_sh):
    out = np.empty_like(addr)
    for i in range(addr.shape[0]):
        out[i] = decode(addr[i], order, count, shift, pos, atom, atom_sh)[5]
    return out


@pytest.mark.bench
def test_bench_dram_decode_reports_rates_and_ratios_to_hbm2():
    from loomsim.simulator.bench import dram_decode
    frame = dram_decode(quick=True)
    print(frame.to_string())
    rates = frame[frame.stat == "requests_per_second"]["value"]
    ratios = frame[frame.stat == "ratio_vs_HBM2"].set_index("case")["value"]
    assert (rates > 0).all() and ratios["HBM2 seq"] == 1 and ratios["HBM2 random"] == 1
