"""`loom dram` and `loom bench dram` as a user runs them, and the trace reader's errors."""
import json
import re
import subprocess
import sys

import pytest

from loomsim.errors import LoomError
from loomsim.simulator.dram.trace import read_trace
from test_cli import LOOM, loom


def test_dram_run_on_a_pattern_prints_throughput_hits_latency_energy_and_writes_json(tmp_path):
    r = loom("dram", "run", "--device", "HBM2", "--pattern", "seq", "--requests", "20000", "--json", "r.json",
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for fragment in ("transactions/cycle", "GB/s", "row hits", "read latency  mean", "p99", "ACT", "RD",
                     "REF", "energy (idd)", "million commands/s", "simplifications"):
        assert fragment in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["schema"] == "loom.dramrun/1" and data["requests"] == 20000 and data["commands"]["RD"] == 20000
    r = loom("dram", "run", "--device", "HBM2", "--pattern", "seq", "--requests", "10", "--json", "r.json",
             cwd=tmp_path)
    assert r.returncode == 2 and "--force" in r.stderr


def test_dram_run_on_a_trace_file(tmp_path):
    lines = [f"{hex(64 * i)} {'WRITE' if i % 4 == 0 else 'READ'} {2 * i}" for i in range(500)]
    (tmp_path / "t.trace").write_text("\n".join(lines) + "\n")
    r = loom("dram", "run", "--device", "DDR4", "--trace", "t.trace", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"requests\s+500 \(375 reads, 125 writes\)", r.stdout)


@pytest.mark.parametrize("line,message", [
    ("0x40 READ", "expected three fields, found 2"),
    ("0x40 FETCH 7", "unknown operation 'FETCH'. Expected READ or WRITE"),
    ("0xZZ READ 7", "cannot read address '0xZZ' as a hexadecimal number"),
    ("0x40 READ soon", "arrival 'soon' is not a whole number of cycles"),
    ("0x40 READ 1", "arrival 1 is earlier than the previous line's 5"),
])
def test_a_malformed_trace_line_is_an_error_with_its_line_number(tmp_path, line, message):
    f = tmp_path / "t.trace"
    f.write_text(f"0x0 READ 0\n0x40 WRITE 5\n{line}\n0x80 READ 9\n")
    with pytest.raises(LoomError) as exc:
        for _ in read_trace(f, chunk=2):
            pass
    assert f"{f}:3: {message}" in str(exc.value)


def test_cli_errors_are_one_paragraph(tmp_path):
    (tmp_path / "bad.trace").write_text("0x0 READ 0\nnonsense\n")
    r = loom("dram", "run", "--device", "HBM2", "--trace", "bad.trace", cwd=tmp_path)
    assert r.returncode == 2 and "bad.trace:2:" in r.stderr and "Traceback" not in r.stderr
    r = loom("dram", "run", "--device", "HMB2", "--pattern", "seq", cwd=tmp_path)
    assert r.returncode == 2 and "Did you mean 'HBM2'" in r.stderr
    r = loom("dram", "run", "--device", "HBM2", "--pattern", "zigzag", cwd=tmp_path)
    assert r.returncode == 2 and "valid: seq, random, stride:BYTES" in r.stderr


def test_dram_presets_and_show(tmp_path):
    r = loom("dram", "presets", cwd=tmp_path)
    assert r.returncode == 0 and "HBM2-PIM" in r.stdout and "dual_row_buffer" in r.stdout
    r = loom("dram", "show", "HBM2", cwd=tmp_path)
    assert r.returncode == 0 and "tRCDRD: 14" in r.stdout and "ACT to RD, same bank: tRCDRD" in r.stdout


@pytest.mark.bench
def test_bench_dram_reports_rates_and_the_ratio_to_the_reference(tmp_path):
    r = loom("bench", "dram", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    print("\n" + r.stdout)
    for stat in ("commands_per_second", "simulated_cycles_per_second", "speedup_vs_reference"):
        assert stat in r.stdout


@pytest.mark.bench
def test_bench_dram_overlap_reports_submissions_per_second_as_overlap_grows(tmp_path):
    r = loom("bench", "dram_overlap", "--quick", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    print("\n" + r.stdout)
    for case in ("streams n=10 ", "streams n=1000 ", "pim n=1000 "):
        assert case in r.stdout
    assert "submissions_per_second" in r.stdout and "lookahead_commands_per_command" in r.stdout


@pytest.mark.slow
def test_a_50_million_line_trace_streams_in_under_1_gb(tmp_path):
    """Peak resident memory of `loom dram run` on a 50M-line trace, measured by /usr/bin/time -v."""
    trace = tmp_path / "big.trace"
    import numpy as np
    with open(trace, "w") as f:
        for start in range(0, 50_000_000, 1_000_000):
            i = np.arange(start, start + 1_000_000)
            f.write("".join(f"{a:#x} READ {t}\n" for a, t in zip((i * 64).tolist(), (i // 2).tolist())))
    cmd = [LOOM or sys.executable, *([] if LOOM else ["-m", "loomsim.cli"]),
           "dram", "run", "--device", "HBM2", "--trace", str(trace)]
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stderr[-2000:]
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    print(f"\n  50M-line trace: peak RSS {rss_kb / 1024:.0f} MiB; {r.stdout.splitlines()[2]}")
    assert "50,000,000" in r.stdout
    assert rss_kb < 1024 * 1024
