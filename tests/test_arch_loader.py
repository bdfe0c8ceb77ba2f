"""Architecture YAML: the shipped NPU, the resolved configuration, and every kind of bad input."""
import dataclasses
import re

import pytest

from loomsim.arch import ArchSpec, component_types, load_arch, params_of, parse_arch, register
from loomsim.arch.registry import ComponentSpec, RegistrationError
from loomsim.errors import ConfigError, LoomError

GOOD = """\
name: tiny
clock: 1GHz
components:
  pe: {type: systolic_array, rows: 4, cols: 4}
  buf: {type: sram, capacity: 64KiB, banks: 2, port_width: 32B}
  mem: {type: dram, bandwidth: 32GB/s, latency: 30ns}
links:
  - {from: mem, to: buf, bandwidth: 32GB/s}
"""


def test_shipped_npu_loads_with_cited_numbers(npu):
    mxu = npu["mxu"]
    assert (mxu.rows, mxu.cols, mxu.dataflow, mxu.dtype, mxu.clock) == (128, 128, "ws", "bf16", 700_000_000)
    assert npu["vmem"].capacity == 16 * 2**20
    assert npu["hbm"].bandwidth == 358e9 and npu["hbm"].latency_ps() == 30_000
    assert npu.link_between("vmem", "hbm").bandwidth == 358e9
    # energies resolved from the default table: 0.3 pJ/bit x 512 B port
    assert npu["vmem"].read_energy == pytest.approx(0.3 * 512 * 8)
    assert npu.energy["mac.bf16"] == 0.46


def test_resolved_config_reloads_to_the_same_spec(write_yaml):
    spec = parse_arch(GOOD, "tiny.yaml")
    again = parse_arch(spec.to_yaml(), "resolved.yaml")
    assert again == spec
    assert again.content_hash() == spec.content_hash()
    assert spec["pe"].clock == 10**9          # inherited from the top-level clock
    assert spec["mem->buf"].src == "mem"


def test_hash_changes_with_any_parameter():
    a = parse_arch(GOOD)
    b = parse_arch(GOOD.replace("rows: 4", "rows: 8"))
    assert a.content_hash() != b.content_hash()


def test_specs_are_frozen():
    spec = parse_arch(GOOD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec["pe"].rows = 2


def test_duplicate_registration_is_an_error():
    with pytest.raises(RegistrationError, match="registered twice"):
        @register("sram")
        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Other(ComponentSpec):
            pass


def test_every_parameter_is_declared_with_help():
    for name, cls in component_types().items():
        for p in params_of(cls):
            assert p.help and p.kind.expected, (name, p.name)


def problems(text, name="bad.yaml"):
    with pytest.raises(ConfigError) as err:
        parse_arch(text, name)
    return err.value.problems, str(err.value)


# (description, yaml text, line, path, message fragment, valid choice or suggestion that must appear)
BAD = [
    ("unknown top-level key", GOOD.replace("clock: 1GHz", "clok: 1GHz"), 2, "clok", "unknown key", "clock"),
    ("unknown component key", GOOD.replace("rows: 4", "rowz: 4"), 4, "components.pe.rowz", "unknown key", "rows"),
    ("unknown type", GOOD.replace("type: sram", "type: sramm"), 5, "components.buf.type", "unknown component type",
     "sram"),
    ("missing required key", GOOD.replace("capacity: 64KiB, ", ""), 5, "components.buf",
     "missing required key 'capacity'", "a size such as"),
    ("missing type", GOOD.replace("{type: dram, ", "{"), 6, "components.mem", "missing required key 'type'",
     "systolic_array"),
    ("wrong type: string for a count", GOOD.replace("rows: 4", "rows: four"), 4, "components.pe.rows",
     "not a whole number", "an integer >= 1"),
    ("wrong type: float for a count", GOOD.replace("banks: 2", "banks: 2.5"), 5, "components.buf.banks",
     "not a whole number", "an integer >= 1"),
    ("bad unit", GOOD.replace("64KiB", "64KBB"), 5, "components.buf.capacity", "unknown size unit", "512KiB"),
    ("bandwidth without /s", GOOD.replace("bandwidth: 32GB/s, latency", "bandwidth: 32GB, latency"), 6,
     "components.mem.bandwidth", "'/s'", "32GB/s"),
    ("zero size", GOOD.replace("64KiB", "0KiB"), 5, "components.buf.capacity", "must be positive", "positive size"),
    ("zero count", GOOD.replace("cols: 4", "cols: 0"), 4, "components.pe.cols", "below the minimum", "integer >= 1"),
    ("negative latency", GOOD.replace("30ns", "-30ns"), 6, "components.mem.latency", "non-negative", "14ns"),
    ("bad choice", GOOD.replace("cols: 4}", "cols: 4, dataflow: wss}"), 4, "components.pe.dataflow",
     "not a valid choice", "ws, os, is"),
    ("link to a missing component", GOOD.replace("to: buf", "to: buff"), 8, "links[0].to",
     "does not exist", "buf"),
    ("unknown energy entry", GOOD + "energy: {mac.bf61: 1pJ}\n", 9, "energy.mac.bf61", "unknown key", "mac.bf16"),
    ("no energy for the array's dtype", GOOD.replace("cols: 4}", "cols: 4, dtype: int8}"), 4, "components.pe",
     "no 'mac.int8' entry", "energy: {mac.int8"),
    ("no clock anywhere", GOOD.replace("clock: 1GHz\n", ""), 3, "components.pe", "no clock", "clock: 1GHz"),
    ("duplicate key", GOOD.replace("name: tiny\n", "name: tiny\nname: tinier\n"), 2, "name", "appears twice",
     "each key once"),
    ("missing name", GOOD.replace("name: tiny\n", ""), None, "name", "missing required key 'name'",
     "non-empty string"),
    ("link declared as a component", GOOD.replace("type: dram", "type: link"), 6, "components.mem.type",
     "links are not components", "links:"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_names_file_line_path_and_valid_choice(case):
    _, text, line, path, fragment, valid = case
    found, message = problems(text)
    match = [p for p in found if p.path == path and fragment in str(p)]
    assert match, f"no problem at {path} with '{fragment}' in:\n{message}"
    p = match[0]
    assert p.file == "bad.yaml"
    if line is not None:
        assert p.line == line, message
        assert f"bad.yaml:{line}: {path}:" in message
    assert valid in str(p), str(p)


def test_yaml_syntax_error_names_the_line():
    found, message = problems(GOOD.replace("cols: 4}", "cols: 4"))
    assert "YAML syntax error" in message and found[0].line is not None and found[0].line >= 4


def test_all_problems_reported_together():
    text = GOOD.replace("rows: 4", "rowz: 4").replace("64KiB", "64KBB").replace("to: buf", "to: bufff")
    found, _ = problems(text)
    assert len(found) >= 4   # unknown key, missing rows, bad unit, dangling link
    assert [p.line for p in found] == sorted(p.line for p in found)


def test_unknown_file_and_shipped_name(tmp_path):
    with pytest.raises(LoomError, match="Did you mean 'npu'"):
        load_arch("nup")
    p = tmp_path / "a.yaml"
    p.write_text(GOOD)
    assert load_arch(p).name == "tiny"


def test_top_level_must_be_a_mapping():
    found, _ = problems("- just\n- a list\n")
    assert "mapping at the top level" in found[0].message
