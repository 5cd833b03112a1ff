"""Unreadable transaction files through the console script (issue 13, item 15): broken gzip
streams, bytes that are not text, a Parquet file with a broken footer, with the pandas and
the DuckDB engine, each end in exit code 4 and one line naming the file; ``--encoding`` (and
the config key ``encoding``) reads a log that is not UTF-8.

All cases run at once, each as its own ``python -m clvmodels summarize`` process.
"""

from __future__ import annotations

import gzip
import importlib.util
import subprocess
import sys
import zlib
from pathlib import Path

import pandas as pd
import pytest

import clvmodels

MODULE = [sys.executable, "-m", "clvmodels"]
ENGINES = ["pandas"] + (["duckdb"] if importlib.util.find_spec("duckdb") else [])
LOG = "customer_id,date,amount\n" + "".join(
    f"{i % 50},1997-{1 + i % 12:02d}-{1 + i % 28:02d},{i % 7 + 1}\n" for i in range(20_000))


def _corrupt_deflate(data: bytes) -> bytes:
    """``data`` gzip-compressed with one byte of the deflate stream flipped, so that zlib
    refuses it (``zlib.error``, not a truncated stream)."""
    compressed = bytearray(gzip.compress(data))
    for position in range(10, len(compressed)):  # the deflate stream starts after 10 bytes
        candidate = bytearray(compressed)
        candidate[position] ^= 0xFF
        try:
            gzip.decompress(bytes(candidate))
        except zlib.error:
            return bytes(candidate)
        except (EOFError, OSError):
            continue
    raise AssertionError("no single flipped byte breaks the deflate stream")


def _broken_footer(directory: Path) -> bytes:
    pytest.importorskip("pyarrow")
    pd.read_csv(directory / "good.csv").to_parquet(directory / "good.parquet")
    data = (directory / "good.parquet").read_bytes()
    return data[:-12] + b"\x00" * 8 + data[-4:]  # the footer's length and magic kept


FILES = {
    "corrupt gzip": ("corrupt.csv.gz", lambda d: _corrupt_deflate(LOG.encode())),
    "truncated gzip": ("truncated.csv.gz", lambda d: gzip.compress(LOG.encode())[:5_000]),
    "not gzip": ("plain.csv.gz", lambda d: LOG.encode()),
    "binary": ("binary.csv", lambda d: bytes(range(256)) * 40),
    "latin-1": ("latin1.csv", lambda d: LOG.replace("\n1,", "\nJosé,").encode("latin-1")),
    "broken Parquet footer": ("broken.parquet", _broken_footer),
}
FRAGMENT = {"pandas": "is not a readable", "duckdb": "is not a readable"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(exit code, stderr) of summarize on every broken file with every engine, and of the
    encoding cases, all run at once."""
    d = tmp_path_factory.mktemp("unreadable")
    (d / "good.csv").write_text(LOG)
    cases = {}
    for name, (file_name, content) in FILES.items():
        (d / file_name).write_bytes(content(d))
        for engine in ENGINES:
            cases[f"{name}, {engine}"] = [d / file_name, "--engine", engine]
    cases["latin-1 named"] = [d / "latin1.csv", "--encoding", "latin-1"]
    cases["unknown encoding"] = [d / "latin1.csv", "--encoding", "klingon"]
    if "duckdb" in ENGINES:
        cases["latin-1 with duckdb"] = [d / "latin1.csv", "--encoding", "latin-1", "--engine",
                                        "duckdb"]
    processes = {
        name: subprocess.Popen([*MODULE, "summarize", *map(str, args), "-o",
                                str(d / f"rfm{i}.csv"), "--time-unit", "D", "-q"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i, (name, args) in enumerate(cases.items())
    }
    results = {}
    for i, (name, process) in enumerate(processes.items()):
        try:
            _, stderr = process.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        results[name] = (process.returncode, stderr, d / f"rfm{i}.csv")
    return results


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clvmodels: error: "), stderr
    return lines[0]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", list(FILES))
def test_an_unreadable_file_is_exit_4_with_one_line(runs, case, engine):
    code, stderr, output = runs[f"{case}, {engine}"]
    assert code == 4, stderr
    line = one_line(stderr)
    assert f"transactions file {Path(str(output)).parent / FILES[case][0]}" in line
    assert FRAGMENT[engine] in line
    assert not output.exists()


def test_the_encoding_is_named_when_the_bytes_are_not_utf8(runs):
    _, stderr, _ = runs["latin-1, pandas"]
    assert "(not utf-8 text: name its encoding, e.g. --encoding latin-1)" in one_line(stderr)


def test_encoding_reads_a_latin1_log(runs):
    code, stderr, output = runs["latin-1 named"]
    assert code == 0, stderr
    rfm = pd.read_csv(output, dtype={"customer_id": str}).set_index("customer_id")
    assert "José" in rfm.index and "1" not in rfm.index  # every 1 became José
    reference = pd.read_csv(Path(str(output)).parent / "good.csv", dtype={"customer_id": str})
    # Repeat purchases are counted in distinct days (the time unit's periods).
    days = reference.loc[reference["customer_id"] == "1", "date"].nunique()
    assert rfm.loc["José", "frequency"] == days - 1


def test_encoding_is_checked(runs):
    code, stderr, _ = runs["unknown encoding"]
    assert code == 2 and "unknown encoding 'klingon'" in one_line(stderr)
    if "duckdb" in ENGINES:
        code, stderr, _ = runs["latin-1 with duckdb"]
        assert code == 2
        assert "--encoding: the duckdb engine reads UTF-8 files only" in one_line(stderr)


def test_run_config_takes_the_encoding(tmp_path):
    """``[data] encoding`` reads a log that is not UTF-8 through the whole pipeline."""
    log = clvmodels.load_cdnow_transactions()[["customer_id", "date", "amount"]]
    log["customer_id"] = "Kunde-ü" + log["customer_id"].astype(str)
    log.to_csv(tmp_path / "t.csv", index=False, encoding="latin-1")
    config = tmp_path / "job.toml"
    config.write_text('[data]\ntransactions = "t.csv"\nencoding = "latin-1"\n'
                      'observation_end = "1997-09-30"\n[predict]\nhorizon = 52\n')
    result = subprocess.run([*MODULE, "run", str(config), "-q"], capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    scores = pd.read_csv(tmp_path / "scores.csv", encoding="utf-8")
    assert scores["customer_id"].str.startswith("Kunde-ü").all() and len(scores) == 2357
    assert 'id="figure-tracking"' in (tmp_path / "report.html").read_text(encoding="utf-8")
