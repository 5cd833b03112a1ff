"""Kills, interrupts and races while the command line writes (issue 13, items 12 and 13).

Each fault is a real process of the command line with one function patched (``python -c``
runs the patch, then the entry point): killed with SIGKILL between the two renames of a model
directory swap or half-way through a scores file, or stopped with SIGTERM / SIGINT while it
writes. The next ordinary run must find the previous outputs (or recover them), and leave no
temporary or backup behind. Every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from clvmodels.__main__ import main
from clvmodels.files import atomic

MODULE = [sys.executable, "-m", "clvmodels"]
WAIT = 240  # seconds: the bound of every wait for a process (a hung run fails the test)


def _default_interrupts() -> None:
    # A process started with SIGINT ignored (a background job of a non-interactive shell:
    # how CI may run the tests) passes that on, and Python then keeps ignoring it, as it
    # should; the process under test starts as one run from a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def patched(patch: str, *args, **kwargs) -> subprocess.Popen:
    """The command line in a process that first runs ``patch``, with SIGINT's default
    disposition (see :func:`_default_interrupts`)."""
    code = (textwrap.dedent(patch) + "\nimport sys\nfrom clvmodels.__main__ import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_interrupts, **kwargs)


def finished(process: subprocess.Popen) -> tuple[int, str]:
    """Exit code and stderr of a process, killing it if it outlives the bound."""
    try:
        _, stderr = process.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return process.returncode, stderr


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*MODULE, *map(str, args)], capture_output=True, text=True,
                          timeout=WAIT)


def names(folder: Path) -> list[str]:
    """Every entry of a folder, hidden ones (temporaries, backups, locks) included."""
    return sorted(entry.name for entry in folder.iterdir())


# ----------------------------------------------------------------------------- item 12
KILL_BETWEEN_RENAMES = """
import os, signal
_rename = os.rename
def rename(source, target):
    # The second rename of a swap: the new folder (a temporary) into the model's place.
    if str(source).endswith(".tmp") and os.path.basename(str(target)) == "model":
        os.kill(os.getpid(), signal.SIGKILL)
    return _rename(source, target)
os.rename = rename
"""


def test_a_swap_killed_between_its_renames_is_rolled_back(cli_model, tmp_path):
    shutil.copytree(cli_model / "model", tmp_path / "model")
    before = {p.name: p.read_bytes() for p in (tmp_path / "model").iterdir()}
    code, _ = finished(patched(KILL_BETWEEN_RENAMES, "fit", cli_model / "rfm.csv", "--model",
                               "pnbd", "-o", tmp_path / "model", "-q"))
    assert code == -signal.SIGKILL
    assert "model" not in names(tmp_path)  # the old folder aside, the new one not in place
    assert any(name.endswith(".old") for name in names(tmp_path)), names(tmp_path)
    result = cli("predict", tmp_path / "model", cli_model / "rfm.csv", "--horizon", 52,
                 "-o", tmp_path / "scores.csv", "-q")
    assert result.returncode == 0, result.stderr
    assert names(tmp_path) == ["model", "scores.csv"]  # no .old, .tmp or lock left
    assert {p.name: p.read_bytes() for p in (tmp_path / "model").iterdir()} == before


# Each process loads the directory, says it is ready, waits for the others (a file appears)
# and then saves (or loads) it in a loop, so that all of them run at once.
RACE = """
import os, sys, time
from clvmodels.files.model_directory import ModelDirectory
source, target, role, go = sys.argv[1:5]
models = ModelDirectory.load(source)
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
for _ in range(100):
    models.save(target) if role == "writer" else ModelDirectory.load(target)
"""


def test_concurrent_writers_are_serialised_and_readers_see_whole_directories(cli_model,
                                                                           tmp_path):
    """Four processes saving one model directory 100 times each while two read it: every save
    and every load succeeds, and nothing is left beside the directory."""
    target, go = tmp_path / "out" / "model", tmp_path / "go"
    shutil.copytree(cli_model / "model", target)
    processes = [subprocess.Popen([sys.executable, "-c", RACE, str(cli_model / "model"),
                                   str(target), role, str(go)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for role in ["writer"] * 4 + ["reader"] * 2]
    for process in processes:
        assert process.stdout.readline() == "ready\n", finished(process)
    go.touch()
    for process in processes:
        code, stderr = finished(process)
        assert code == 0, stderr
        assert stderr == ""
    assert names(target.parent) == ["model"]


def test_a_writer_that_cannot_get_the_lock_fails_with_exit_6(cli_model, tmp_path, monkeypatch,
                                                              capsys):
    shutil.copytree(cli_model / "model", tmp_path / "model")
    monkeypatch.setattr(atomic, "LOCK_TIMEOUT", 0.2)
    with atomic.locked(tmp_path / "model"):  # another writer, holding the lock
        code = main(["fit", str(cli_model / "rfm.csv"), "-o", str(tmp_path / "model"), "-q"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 6
    assert len(lines) == 1 and lines[0].startswith("clvmodels: error: ")
    assert f"{tmp_path / 'model'} is locked by another clvmodels process" in lines[0]
    assert names(tmp_path) == ["model"]


def test_a_lock_is_released_by_a_holder_that_dies(tmp_path):
    """A lock file left by a killed holder is no obstacle: the next writer takes it."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from clvmodels.files.atomic import locked
        with locked(sys.argv[1]):
            print("held", flush=True)
            time.sleep(120)
        """), str(tmp_path / "model")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait(timeout=WAIT)
    with atomic.locked(tmp_path / "model", timeout=5):
        pass
    assert names(tmp_path) == []


# ----------------------------------------------------------------------------- item 13
KILL_HALF_WAY = """
import os, signal
import pandas as pd
_to_csv = pd.DataFrame.to_csv
def to_csv(self, handle, *args, **kwargs):
    _to_csv(self.head(1000), handle, *args, **kwargs)
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)
pd.DataFrame.to_csv = to_csv
"""


def test_a_temporary_left_by_a_killed_run_is_removed_by_the_next(cli_model, tmp_path):
    predict = ["predict", cli_model / "model", cli_model / "rfm.csv", "--horizon", 52,
               "-o", tmp_path / "scores.csv", "-q"]
    code, _ = finished(patched(KILL_HALF_WAY, *predict))
    assert code == -signal.SIGKILL
    left = [name for name in names(tmp_path) if name.endswith(".tmp")]
    assert len(left) == 1 and (tmp_path / left[0]).stat().st_size > 0
    result = cli(*predict)
    assert result.returncode == 0, result.stderr
    assert names(tmp_path) == ["scores.csv"]


PAUSE_HALF_WAY = """
import os, pathlib, time
import pandas as pd
_to_csv = pd.DataFrame.to_csv
def to_csv(self, handle, *args, **kwargs):
    _to_csv(self.head(1000), handle, *args, **kwargs)
    handle.flush()
    pathlib.Path(os.environ["CLVMODELS_TEST_MARKER"]).touch()  # half-way: tell the test
    time.sleep(600)
pd.DataFrame.to_csv = to_csv
"""


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_write_exits_130_with_one_line_and_keeps_the_others(
        cli_model, tmp_path, signal_number):
    """A run stopped half-way through its scores: exit 130, ``clvmodels: error:
    interrupted``, its temporary removed; a run writing the same file meanwhile is neither
    disturbed nor undone (the paused run's temporary is not a stale one: its process lives)."""
    marker = tmp_path / "half-way"
    out = tmp_path / "out"
    predict = ["predict", cli_model / "model", cli_model / "rfm.csv", "-o",
               out / "scores.csv", "-q"]
    paused = patched(PAUSE_HALF_WAY, *predict, "--horizon", 26,
                     env={**os.environ, "CLVMODELS_TEST_MARKER": str(marker)})
    deadline = time.monotonic() + WAIT
    while not marker.exists() and paused.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), paused.communicate()[1]
    other = cli(*predict, "--horizon", 52)
    assert other.returncode == 0, other.stderr
    written = (out / "scores.csv").read_bytes()
    assert len([name for name in names(out) if name.endswith(".tmp")]) == 1  # the paused one's
    paused.send_signal(signal_number)
    code, stderr = finished(paused)
    assert code == 130, stderr
    assert stderr.strip().splitlines()[-1] == "clvmodels: error: interrupted"
    assert "Traceback" not in stderr
    assert names(out) == ["scores.csv"]
    assert (out / "scores.csv").read_bytes() == written


def test_sigterm_handler_is_restored_after_main(cli_model, capsys):
    """In-process, main() handles SIGTERM only while it runs."""
    before = signal.getsignal(signal.SIGTERM)
    assert main(["--version"]) == 0
    assert signal.getsignal(signal.SIGTERM) is before
    capsys.readouterr()


def test_interrupts_are_held_back_while_a_commit_renames(tmp_path):
    """A SIGINT arriving during the renames of a commit is delivered after them: the outputs
    are then all new (the interrupt still ends the program)."""
    staging = atomic.Staging()
    with staging.files(tmp_path / "a.csv", tmp_path / "b.csv") as (a, b):
        a.write_text("a")
        b.write_text("b")
    replace = os.replace
    seen = []

    def interrupting_replace(source, target):
        if not seen:
            seen.append(target)
            threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT)).start()
            time.sleep(0.2)  # the signal arrives while the renames go on
        replace(source, target)

    os.replace = interrupting_replace
    # Python's own SIGINT handler, even where this process inherited SIGINT ignored (see
    # _default_interrupts).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            staging.commit()
            time.sleep(1)  # a held-back signal is delivered as soon as the renames are done
    finally:
        os.replace = replace
        signal.signal(signal.SIGINT, previous)
    assert (tmp_path / "a.csv").read_text() == "a" and (tmp_path / "b.csv").read_text() == "b"
    assert names(tmp_path) == ["a.csv", "b.csv"]


# ----------------------------------------------------------------------------- item 14
RUN_CONFIG = """
[data]
transactions = "{transactions}"
observation_end = "1997-09-30"
engine = "{engine}"

[predict]
horizon = 52

[output]
directory = "out"
"""


def test_a_failed_run_leaves_every_previous_output(cli_model, tmp_path):
    """The report cannot be written (a folder is in its place): exit 6, and the RFM table,
    model directory and scores staged before it replace nothing."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("rfm.csv", "rfm.csv.json"):
        shutil.copy(cli_model / name, out / name)
    shutil.copytree(cli_model / "model", out / "model")
    (out / "scores.csv").write_text("customer_id,clv\n1,2.0\n")  # the previous run's
    (out / "report.html").mkdir()
    (out / "report.html" / "keep").write_text("")
    before = {path.relative_to(out): path.read_bytes() for path in out.rglob("*")
              if path.is_file()}
    config = tmp_path / "job.toml"
    config.write_text(RUN_CONFIG.format(transactions=cli_model / "transactions.csv",
                                        engine="pandas"))
    result = cli("run", config, "-q")
    assert result.returncode == 6, result.stderr
    after = {path.relative_to(out): path.read_bytes() for path in out.rglob("*")
             if path.is_file()}
    assert after == before
    assert names(out) == ["model", "report.html", "rfm.csv", "rfm.csv.json", "scores.csv"]
    assert result.stderr.strip().splitlines() == [
        f"clvmodels: error: cannot write {out / 'report.html'}: it is a directory"]


NO_PANDAS_CSV = """
import pandas as pd
def read_csv(*args, **kwargs):
    raise RuntimeError("the log was read with pandas")
pd.read_csv = read_csv
"""


def test_run_reads_the_log_for_the_report_with_its_engine(cli_model, tmp_path):
    """With engine = "duckdb" no step reads the log with pandas (the report's plots too)."""
    pytest.importorskip("duckdb")
    config = tmp_path / "job.toml"
    config.write_text(RUN_CONFIG.format(transactions=cli_model / "transactions.csv",
                                        engine="duckdb"))
    code, stderr = finished(patched(NO_PANDAS_CSV, "run", config, "-q"))
    assert code == 0, stderr
    out = tmp_path / "out"
    assert names(out) == ["model", "report.html", "rfm.csv", "rfm.csv.json", "scores.csv"]
    assert 'id="figure-tracking"' in (out / "report.html").read_text()
