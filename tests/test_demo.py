"""The README's first command: the console entry point runs the demo end to end."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clvmodels.__main__ import main


def test_demo_prints_published_parameters_and_equity(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "2,357 customers" in out and "1,959 later transactions left out" in out
    assert "r         0.243" in out and "alpha     4.414" in out
    assert "Customer equity, next 52 weeks" in out


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "clvmodels", "demo", "--horizon", "26"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "next 26 weeks" in result.stdout


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as excinfo:
        main(["nonsense"])
    assert excinfo.value.code == 2
