"""Unit strings: exact parsing, clear errors, formatting back, and drift-free clock arithmetic."""
import pytest

from loomsim.arch import units
from loomsim.arch.units import Cycles, UnitError


@pytest.mark.parametrize("text,value", [("1GHz", 10**9), ("940MHz", 940_000_000), ("1.6GHz", 1_600_000_000),
                                        ("700 MHz", 700_000_000), ("32kHz", 32_000)])
def test_frequency(text, value):
    assert units.parse_frequency(text) == value


@pytest.mark.parametrize("text,value", [("512KiB", 524288), ("24MiB", 24 * 2**20), ("64B", 64), ("4096b", 512),
                                        ("1.5KiB", 1536), ("8GB", 8 * 10**9), ("1Kb", 125)])
def test_size(text, value):
    assert units.parse_size(text) == value


@pytest.mark.parametrize("text,value", [("32GB/s", 32e9), ("1.6TB/s", 1.6e12), ("400GiB/s", 400 * 2**30),
                                        ("16Gb/s", 2e9)])
def test_bandwidth(text, value):
    assert units.parse_bandwidth(text) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("text,value", [("14ns", 14000), ("1.5ns", 1500), ("500ps", 500), ("2us", 2_000_000),
                                        ("14cycles", Cycles(14)), ("3cycle", Cycles(3))])
def test_time(text, value):
    assert units.parse_time(text) == value


@pytest.mark.parametrize("text,value", [("0.46pJ", 0.46), ("17fJ", 0.017), ("1.2nJ", 1200.0)])
def test_energy(text, value):
    assert units.parse_energy(text) == pytest.approx(value)


@pytest.mark.parametrize("text,value", [("3.9pJ/bit", 3.9), ("31.2pJ/B", 3.9), ("1pJ/b", 1.0)])
def test_energy_per_bit(text, value):
    assert units.parse_energy_per_bit(text) == pytest.approx(value)


@pytest.mark.parametrize("fn,text,fragment", [
    (units.parse_frequency, "1GH", "unknown frequency unit"),
    (units.parse_frequency, "0GHz", "positive"),
    (units.parse_frequency, "0.5Hz", "whole number of hertz"),
    (units.parse_size, "0.3B", "whole number of bytes"),
    (units.parse_size, "12", "unknown size unit"),
    (units.parse_size, 128, "unknown size unit"),
    (units.parse_bandwidth, "32GB", "'/s'"),
    (units.parse_time, "1.5ps", "whole number of picoseconds"),
    (units.parse_time, "14 lightyears", "unknown time unit"),
    (units.parse_energy, "1pW", "unknown energy unit"),
    (units.parse_energy_per_bit, "1pJ", "'/bit'"),
    (units.parse_size, True, "must be a string"),
])
def test_errors_say_what_is_expected(fn, text, fragment):
    with pytest.raises(UnitError) as err:
        fn(text)
    assert fragment in str(err.value)
    assert err.value.expected


@pytest.mark.parametrize("value,fmt,parse", [
    (940_000_000, units.format_frequency, units.parse_frequency),
    (16 * 2**20, units.format_size, units.parse_size),
    (8 * 10**9, units.format_size, units.parse_size),
    (1000, units.format_size, units.parse_size),
    (358e9, units.format_bandwidth, units.parse_bandwidth),
    (1500, units.format_time, units.parse_time),
    (Cycles(7), units.format_time, units.parse_time),
    (0.46, units.format_energy, units.parse_energy),
])
def test_format_round_trips(value, fmt, parse):
    assert parse(fmt(value)) == value


def test_clock_edges_do_not_drift():
    f = 940_000_000                     # period 1063.829... ps, not a whole picosecond
    k, t = units.next_edge_ps(0, f)
    assert (k, t) == (0, 0)
    # edge one million lies at ceil(1e6 * 1e12 / 940e6) ps, exactly, however it is reached
    assert units.edge_time_ps(10**6, f) == -(-10**18 // f)
    k, t = units.next_edge_ps(units.edge_time_ps(10**6, f) - 1, f)
    assert k == 10**6
    assert units.cycles_to_ps(940, f) == 1_000_000


@pytest.mark.parametrize("f", [940_000_000, 700_000_000, 10**9, 1_600_000_000, 3])
def test_next_edge_is_the_first_edge_at_or_after(f):
    for k in list(range(0, 50)) + [10**6 + 7, 10**9 + 3]:
        t = units.edge_time_ps(k, f)
        assert units.next_edge_ps(t, f) == (k, t)              # exactly on an edge: that edge
        if t > 0 and units.edge_time_ps(k - 1, f) < t - 1:
            assert units.next_edge_ps(t - 1, f) == (k, t)      # just before it: still that edge
        assert units.next_edge_ps(t + 1, f)[0] == k + 1        # just after: the next one
