"""Shared fixtures: the shipped NPU and a helper to write YAML files into a temporary folder."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for the test oracles (systolic_rtl)


@pytest.fixture(scope="session")
def npu():
    from loomsim.arch import load_arch
    return load_arch("npu")


@pytest.fixture
def write_yaml(tmp_path):
    def write(text: str, name: str = "arch.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p
    return write
