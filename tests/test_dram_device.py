"""DRAM device presets and files, and the `dram` component of an architecture: values, sources, errors."""
import pytest

from loomsim.arch import parse_arch
from loomsim.arch.dram_presets import load_device, preset_names
from loomsim.errors import ConfigError, LoomError
from loomsim.simulator.dram.mapping import AddressMap


def test_hbm2_preset_carries_the_issues_timings():
    t = load_device("HBM2").timing
    issue = dict(CL=14, CWL=4, tRCDRD=14, tRCDWR=14, tRP=14, tRAS=34, tRFC=260, tREFI=3900, tRRD_S=4, tRRD_L=6,
                 tWTR_S=6, tWTR_L=8, tFAW=30, tWR=16, tCCD_S=1, tCCD_L=2, tRTP_S=4, tRTP_L=6)
    assert {k: getattr(t, k) for k in issue} == issue


def test_every_preset_loads_and_every_number_has_a_source_comment():
    from importlib import resources
    assert set(preset_names()) >= {"HBM2", "HBM2-PIM", "HBM3", "HBM3-PIM", "GDDR6", "LPDDR5", "DDR4", "DDR5"}
    for name in preset_names():
        d = load_device(name)
        assert d.capacity > 0 and d.peak_bandwidth > 0
        text = (resources.files("loomsim.configs") / "dram" / f"{name}.yaml").read_text()
        assert "Sources" in text                               # each file names its sources up front


@pytest.mark.parametrize("name,gbps", [("HBM2", 256), ("HBM3", 665.6), ("DDR4", 25.6), ("DDR5", 17.62),
                                       ("GDDR6", 224.6), ("LPDDR5", 12.8), ("GDDR6-AiM", 1024)])
def test_peak_bandwidth_matches_the_data_rate(name, gbps):
    assert load_device(name).peak_bandwidth / 1e9 == pytest.approx(gbps, rel=2e-3)


def test_times_in_ns_round_up_to_whole_cycles():
    t = load_device("DDR5").timing                         # tCK 454 ps
    assert t.tRCDRD == 33                                  # 14.545 ns / 0.454 ns = 32.04 -> 33
    assert t.tREFI == 8591                                 # 3.9 us


def test_device_file_errors_name_file_line_and_the_closest_key(tmp_path):
    f = tmp_path / "my.yaml"
    f.write_text("name: x\nbase: HBM2\ntCK: 1ns\ntiming:\n  tRDC: 14\n  CL: fast\norganisation:\n  rows: 1000\n")
    with pytest.raises(ConfigError) as exc:
        load_device(str(f))
    text = str(exc.value)
    assert f"{f}:5: timing.tRDC: unknown key 'tRDC'" in text and "Did you mean 'tRC'" in text
    assert f"{f}:6: timing.CL: cannot read 'fast'" in text and "a cycle count such as 14" in text


def test_device_consistency_problems_point_at_the_value(tmp_path):
    f = tmp_path / "my.yaml"
    f.write_text("name: x\nbase: HBM2\norganisation:\n  bankgroups: 3\n  row_size: 1000B\n")
    with pytest.raises(ConfigError) as exc:
        load_device(str(f))
    assert f"{f}:4: organisation.bankgroups: 3 is not a power of two" in str(exc.value)
    assert f"{f}:5: organisation.row_size: 1000 B is not a whole number of 64-byte accesses" in str(exc.value)


def test_channels_rows_and_columns_may_be_any_count():
    d = load_device("HBM2", {"organisation": {"channels": 40, "rows": 1000, "row_size": "960B"}})
    assert (d.org.channels, d.org.rows, d.columns) == (40, 1000, 15)
    assert d.capacity == 40 * 32 * 1000 * 960


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(LoomError, match="Did you mean 'HBM2'"):
        load_device("HBM22")


def test_overrides_are_read_like_yaml():
    d = load_device("HBM2", {"timing": {"tRCDRD": 16, "tFAW": "20ns"}, "controller": {"page_policy": "closed"}})
    assert (d.timing.tRCDRD, d.timing.tFAW, d.controller.page_policy) == (16, 20, "closed")
    with pytest.raises(LoomError, match="tRDC"):
        load_device("HBM2", {"timing": {"tRDC": 16}})


def test_address_mapping_places_fields_most_significant_first():
    d = load_device("HBM2")                                # ro,ra,bg,ba,ch,co
    m = AddressMap.of(d)
    assert m.decode([0])[3][0] == 0 and m.decode([64])[3][0] == 1      # the column moves first
    assert m.decode([1024])[0][0] == 1                                 # then the channel
    addr = m.encode(ch=3, rank=1, bg=2, ba=1, row=77, col=5)
    ch, bank, row, col = (int(x[0]) for x in m.decode([addr]))
    assert (ch, bank, row, col) == (3, 16 + 2 * 4 + 1, 77, 5)
    assert load_device("HBM2", {"controller": {"address_mapping": "RoBaRaCoCh"}}).controller.address_mapping \
        == "ro,ba,bg,ra,co,ch"


ARCH = """\
name: t
clock: 1GHz
components:
  buf: {type: sram, capacity: 1MiB}
  hbm: {type: dram, DRAM}
links:
  - {from: hbm, to: buf, bandwidth: 100GB/s}
"""


def arch(dram: str):
    return parse_arch(ARCH.replace("DRAM", dram), "a.yaml")


def test_dram_component_derives_bandwidth_latency_capacity_from_its_preset():
    a = arch("preset: HBM2, channels: 2, timing: {tRCDRD: 16}")
    hbm = a["hbm"]
    assert hbm.bandwidth == 64e9 and hbm.latency == (16 + 14 + 2) * 1000 and hbm.capacity == 2 * 2**30
    assert hbm.page_policy == "open" and hbm.device().timing.tRCDRD == 16
    assert parse_arch(a.to_yaml()) == a                    # the resolved file loads back to the same spec


def test_the_arch_hash_follows_the_device_file_and_its_base_not_only_the_arch_file(tmp_path):
    """Results are keyed on what was simulated: editing a device file (or the file it is based on)
    changes the architecture's hash although the architecture file is unchanged."""
    base = tmp_path / "mybase.yaml"
    dev = tmp_path / "mydev.yaml"
    base.write_text("base: HBM2\nname: mybase\ntiming: {tRP: 14}\n")
    dev.write_text(f"base: {base}\nname: mydev\n")
    first = arch(f"preset: {dev}")
    h1 = first.content_hash()
    assert arch(f"preset: {dev}").content_hash() == h1                       # stable
    dev.write_text(f"base: {base}\nname: mydev\ntiming: {{tFAW: 24}}\n")
    second = arch(f"preset: {dev}")
    assert second.to_dict() == first.to_dict()          # the arch file resolves the same ...
    assert second["hbm"].device().timing.tFAW == 24      # ... the device changed, not from a stale cache ...
    h2 = second.content_hash()
    assert h2 != h1                                     # ... and so does the hash
    base.write_text("base: HBM2\nname: mybase\ntiming: {tRP: 15}\n")
    assert arch(f"preset: {dev}").content_hash() not in (h1, h2)


def test_dram_component_problems_have_file_line_and_suggestions():
    with pytest.raises(ConfigError) as exc:
        arch("preset: HBM2e")
    assert "a.yaml:5: components.hbm.preset:" in str(exc.value) and "Did you mean 'HBM2'" in str(exc.value)
    with pytest.raises(ConfigError, match="tRDC"):
        arch("preset: HBM2, timing: {tRDC: 3}")
    with pytest.raises(ConfigError, match="disagrees with preset HBM2"):
        arch("preset: HBM2, bandwidth: 10GB/s")
    with pytest.raises(ConfigError, match="missing required key 'bandwidth' for a dram without a preset"):
        arch("latency: 30ns")


def test_a_dram_without_preset_keeps_the_bandwidth_latency_model():
    hbm = arch("bandwidth: 32GB/s, latency: 30ns")["hbm"]
    assert not hbm.cycle_level and hbm.channels == 1
