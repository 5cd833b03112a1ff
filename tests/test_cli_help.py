"""The command line's help and usage errors, as a user sees them from the installed script.

Every case is one subprocess; they are started at once and read by the tests.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clvmodels import cli

SCRIPT = Path(sys.executable).with_name("clvmodels")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "clvmodels"]
USAGE = {
    "summarize": "Usage: clvmodels summarize [OPTIONS] TRANSACTIONS",
    "fit": "Usage: clvmodels fit [OPTIONS] RFM",
    "predict": "Usage: clvmodels predict [OPTIONS] MODEL RFM",
    "report": "Usage: clvmodels report [OPTIONS] MODEL RFM",
    "run": "Usage: clvmodels run [OPTIONS] CONFIG",
    "demo": "Usage: clvmodels demo [OPTIONS]",
}
BAD_CHOICES = {
    "--model": (["fit", "rfm.csv", "-o", "m", "--model", "bgnbdx"],
                "Invalid value for '--model' / '-m': 'bgnbdx' is not one of 'bgnbd', 'mbgnbd', "
                "'pnbd', 'pnbd-cor', 'ggomnbd', 'bgbb', 'sbg', 'bdw' (did you mean 'bgnbd'?)"),
    "--spend": (["fit", "rfm.csv", "-o", "m", "--spend", "gamma"],
                "Invalid value for '--spend': 'gamma' is not one of 'gamma-gamma', 'none' "
                "(did you mean 'gamma-gamma'?)"),
    "--method": (["fit", "rfm.csv", "-o", "m", "--method", "hmc"],
                 "Invalid value for '--method': 'hmc' is not one of 'nuts', 'map'"),
    "--engine": (["summarize", "t.csv", "-o", "r.csv", "--engine", "spark"],
                 "Invalid value for '--engine': 'spark' is not one of 'pandas', 'duckdb'"),
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Every case's (exit code, stdout, stderr), run concurrently in an empty folder."""
    cwd = tmp_path_factory.mktemp("help")
    cases = {"--help": ["--help"], **{name: [name, "--help"] for name in USAGE},
             **{option: args for option, (args, _) in BAD_CHOICES.items()}}
    processes = {name: subprocess.Popen([*COMMAND, *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, cwd=cwd,
                                        env={**os.environ, "COLUMNS": "80"})
                 for name, args in cases.items()}
    results = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        results[name] = (process.returncode, stdout, stderr)
    return results


def _summary(function) -> str:
    """The first paragraph of a command's docstring, on one line."""
    return " ".join(inspect.cleandoc(function.__doc__).split("\n\n")[0].split())


def test_command_summaries_are_not_cut_short(outputs):
    code, stdout, _ = outputs["--help"]
    assert code == 0
    commands = stdout[stdout.index("Commands:"):stdout.index("Exit codes")]
    assert "..." not in commands
    flat = " ".join(commands.split())
    for name in USAGE:
        assert f"{name} {_summary(getattr(cli, name))}" in flat, name


@pytest.mark.parametrize("command", sorted(USAGE))
def test_usage_lines_name_arguments_without_braces(outputs, command):
    code, stdout, _ = outputs[command]
    assert code == 0
    assert stdout.splitlines()[0] == USAGE[command]
    assert not re.search(r"[{}]", stdout.split("\n\n")[0])


def test_demo_help_states_its_default_once(outputs):
    _, stdout, _ = outputs["demo"]
    line = next(line for line in stdout.splitlines() if "--horizon" in line)
    assert " ".join(line.split()) == "--horizon <float> Weeks to value. [default: 52]"


@pytest.mark.parametrize("option", sorted(BAD_CHOICES))
def test_bad_choices_are_named_plainly(outputs, option):
    code, stdout, stderr = outputs[option]
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Value error" not in stderr
    command = BAD_CHOICES[option][0][0]
    assert lines[0] == (f"clvmodels: error: {BAD_CHOICES[option][1]} "
                        f"(see clvmodels {command} --help)")
