"""The `loom` command, run as a user runs it: a subprocess, from a folder outside the repository."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LOOM = shutil.which("loom", path=str(Path(sys.executable).parent)) or shutil.which("loom")


def loom(*args, cwd):
    cmd = [LOOM, *args] if LOOM else [sys.executable, "-m", "loomsim.cli", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_run_prints_cycles_energy_and_traffic(tmp_path):
    r = loom("run", "--arch", "npu", "--workload", "gemm M=64 N=1024 K=512", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^cycles\s+[\d,]+ at 700 MHz$", out, re.M)
    for fragment in ("energy", "mxu", "systolic_array", "MAC utilisation", "memory level", "hbm", "vmem",
                     "simplifications"):
        assert fragment in out


def test_run_writes_json_and_html_and_report_rebuilds_it(tmp_path):
    r = loom("run", "--workload", "gemm M=32 N=256 K=128", "--json", "r.json", "--html", "r.html", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["schema"] == "loom.simresult/1" and data["arch_name"] == "npu"
    assert (tmp_path / "r.html").stat().st_size > 100_000
    r = loom("report", "r.json", "-o", "again.html", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "again.html").exists()


def test_outputs_are_never_overwritten_without_force(tmp_path):
    (tmp_path / "mine.html").write_text("my notes")
    r = loom("run", "--html", "mine.html", cwd=tmp_path)
    assert r.returncode == 2 and "--force" in r.stderr
    assert (tmp_path / "mine.html").read_text() == "my notes"
    r = loom("run", "--workload", "gemm M=8 N=8 K=8", "--html", "mine.html", "--force", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "mine.html").read_text() != "my notes"


def test_arch_check_list_describe(tmp_path):
    r = loom("arch", "check", "npu", cwd=tmp_path)
    assert r.returncode == 0 and "OK" in r.stdout and "read_energy: 1228.8pJ" in r.stdout
    r = loom("arch", "list", cwd=tmp_path)
    assert r.returncode == 0 and "systolic_array" in r.stdout and "npu" in r.stdout
    r = loom("arch", "describe", "systolic_array", cwd=tmp_path)
    assert r.returncode == 0 and "dataflow" in r.stdout and "required" in r.stdout


def test_bad_architecture_file_is_one_paragraph_not_a_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: b\nclock: 1GHz\ncomponents:\n  pe: {type: systolic_array, rowz: 4}\n")
    r = loom("arch", "check", "bad.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert "bad.yaml:4: components.pe.rowz: unknown key 'rowz'" in r.stderr and "Did you mean 'rows'" in r.stderr
    assert "Traceback" not in r.stderr
    r = loom("run", "--arch", "bad.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,fragment", [
    (["run", "--workload", "gemm M=8"], "needs N=..., K=..."),
    (["run", "--arch", "npuu"], "Did you mean 'npu'"),
    (["run", "--objective", "speed"], "invalid choice"),
    (["report", "missing.json"], "cannot read result file"),
    (["arch", "describe", "sramm"], "Did you mean 'sram'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_non_zero_with_a_message(tmp_path, args, fragment):
    r = loom(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stdout
    assert fragment in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [[], ["run"], ["report"], ["bench"], ["validate"], ["workload"], ["workload", "list"], ["workload", "show"], ["arch"], ["arch", "check"], ["arch", "list"],
                                  ["arch", "describe"]])
def test_every_command_has_help(tmp_path, args):
    r = loom(*args, "--help", cwd=tmp_path)
    assert r.returncode == 0 and "usage: loom" in r.stdout


def test_map_fuse_prints_what_stays_on_chip(tmp_path):
    r = loom("map", "--workload", "attention variant=1pass heads=1 queries=8 keys=512", "--fuse", "--budget", "2000",
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^group\s+16 Einsums .* shared loops: m1:1x2$", r.stdout, re.M)
    assert re.search(r"^  on chip  BQK .*; peak .* budget$", r.stdout, re.M)
    assert "to DRAM  AV (output)" in r.stdout


@pytest.mark.slow
def test_main_job_quick_prints_the_comparison_and_never_overwrites_the_report(tmp_path):
    r = loom("run", "--quick", "--systems", "neupims,npu_only", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "neupims" in r.stdout and "npu_only" in r.stdout and "tokens/s" in r.stdout.replace("tok/s", "tokens/s")
    assert (tmp_path / "report.html").exists()
    again = loom("run", "--quick", "--systems", "npu_only", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "report-2.html").exists() and "report-2.html" in again.stdout
