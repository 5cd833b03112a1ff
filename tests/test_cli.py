"""The batch command line end to end: every subcommand through the real entry points.

The chain summarize -> fit -> predict -> report runs once per session as subprocesses
(``python -m clvmodels`` and the installed ``clvmodels`` script); its outputs are checked
against the Python API on the same data. The bad-input cases run concurrently in one fixture
(each a subprocess: the point is the exit code and the one-line stderr a scheduler sees).
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tolerances import assert_agrees_given_fits, assert_same_maximum

import clvmodels
from clvmodels.__main__ import main
from clvmodels.files import model_directory, tables
from clvmodels.files.atomic import atomic_file

MODULE = [sys.executable, "-m", "clvmodels"]
SCRIPT = Path(sys.executable).with_name("clvmodels")
CALIBRATION_END = "1997-09-30"
WEEKLY_RATE = 1.10 ** (7 / 365.25) - 1  # --discount-rate 0.1 a year, in weeks

# Reading a float back from CSV may differ from the written one by an ulp; predictions with the
# same models are smooth in their inputs (elasticities of the order of a purchase count, below
# 100 on CDNOW), so that moves nothing beyond 1e-12 relative.
CSV_RTOL = 1e-12
# Fits of the same data by another route (the RFM file the CLI wrote, read back; the API's
# in-memory pipeline, with rows in another order and values an ulp apart) stop at the same
# maximum up to the optimiser's stopping rules, not at the same point: they are compared in
# log-likelihood and standard errors (tests/_tolerances.py), and what they predict to the
# delta-method consequence of that.

def cli(*args, cwd=None, command=None):
    """Run the command line in a subprocess and return the completed process."""
    return subprocess.run([*(command or MODULE), *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def assert_one_line_error(code, stderr, expected_code, fragment):
    """The scheduler's view: the exit code, and the error as the one last line of stderr
    (after any progress lines), without a traceback."""
    assert code == expected_code, (code, stderr)
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("clvmodels: error: ")]
    assert errors == lines[-1:], stderr
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in stderr


@pytest.fixture(scope="session")
def api_transactions():
    return clvmodels.load_cdnow_transactions()[["customer_id", "date", "amount"]]


@pytest.fixture(scope="session")
def workdir(tmp_path_factory, api_transactions):
    directory = tmp_path_factory.mktemp("cli")
    api_transactions.to_csv(directory / "transactions.csv", index=False)
    return directory


@pytest.fixture(scope="session")
def chain(workdir, bad_input_processes):
    """summarize -> fit -> predict -> report, each as its own process, once per session
    (while the bad-input subprocesses run)."""
    d = workdir
    results = {
        "summarize": cli("summarize", d / "transactions.csv", "-o", d / "rfm.csv",
                         "--observation-end", CALIBRATION_END, "--time-unit", "weeks"),
        "fit": cli("fit", d / "rfm.csv", "--model", "bgnbd", "--spend", "gamma-gamma",
                   "-o", d / "model"),
        "predict": cli("predict", d / "model", d / "rfm.csv", "--horizon", 52,
                       "--discount-rate", 0.1, "--margin", 0.3, "-o", d / "scores.csv"),
        "report": cli("report", d / "model", d / "rfm.csv", "--horizon", 52,
                      "--discount-rate", 0.1, "--margin", 0.3,
                      "--transactions", d / "transactions.csv", "--holdout", "1998-06-30",
                      "-o", d / "report.html", "--quiet"),
    }
    for name, result in results.items():
        assert result.returncode == 0, (name, result.stderr)
    return d, results


@pytest.fixture(scope="session")
def api_rfm(api_transactions):
    with pytest.warns(UserWarning, match="1959 transaction"):
        return clvmodels.rfm_summary(api_transactions, amount_col="amount",
                                     observation_end=CALIBRATION_END, time_unit="W")


@pytest.fixture(scope="session")
def api_models(api_rfm):
    return clvmodels.BetaGeoModel().fit(api_rfm), clvmodels.GammaGammaModel().fit(api_rfm)


def read_scores(path):
    frame = pd.read_csv(path) if str(path).endswith(".csv") else pd.read_parquet(path)
    return frame.set_index("customer_id").sort_index()


# ----------------------------------------------------------------------------- the chain
def test_summarize_matches_rfm_summary(chain, api_rfm):
    d, results = chain
    # What was summarised and what was left out (6,919 rows in the log, 1,959 after the end).
    assert ("2,357 customers from 4,960 transactions (1,959 after the observation end "
            "1997-09-30 left out), 1997-01-01 to 1997-09-30") in results["summarize"].stdout
    assert "1959 transaction(s) dated after observation_end" in results["summarize"].stderr
    assert "Summarizing the transactions up to 1997-09-30" in results["summarize"].stderr
    assert "6,919" not in results["summarize"].stderr
    rfm = tables.read_rfm(d / "rfm.csv")
    assert rfm.attrs["time_unit"] == "W"
    assert rfm.attrs["observation_end"] == "1997-09-30T00:00:00"  # JSON-safe, as rfm_summary's
    for name in ("n_transactions", "n_transactions_excluded", "n_customers_excluded"):
        assert rfm.attrs[name] == api_rfm.attrs[name]
    assert list(rfm.columns) == ["frequency", "recency", "T", "monetary_value"]
    rfm.index = rfm.index.astype(int)
    rfm = rfm.sort_index()
    assert (rfm["frequency"] == api_rfm["frequency"]).all()
    for column in ("recency", "T", "monetary_value"):
        np.testing.assert_allclose(rfm[column], api_rfm[column], rtol=CSV_RTOL)


@pytest.fixture(scope="session")
def file_models(chain):
    """The Python API's fits of the RFM file the CLI wrote."""
    d, _ = chain
    rfm = tables.read_rfm(d / "rfm.csv")
    return clvmodels.BetaGeoModel().fit(rfm), clvmodels.GammaGammaModel().fit(rfm)


def test_fit_writes_model_directory_matching_api(chain, file_models, api_models):
    d, results = chain
    manifest = json.loads((d / "model" / "manifest.json").read_text())
    assert manifest["format"] == "clvmodels.model-directory"
    assert manifest["time_unit"] == "W" and manifest["bayesian"] is False
    assert manifest["package_version"] == clvmodels.__version__
    assert manifest["transaction_model"]["class"] == "BetaGeoModel"
    assert manifest["data"]["observation_end"].startswith(CALIBRATION_END)
    models = model_directory.ModelDirectory.load(d / "model")
    loaded = (models.transaction_model, models.spend_model)
    for model, same_input, pipeline in zip(loaded, file_models, api_models, strict=True):
        bound = assert_same_maximum(model, same_input)
        # The covariance moves with the point it is taken at: in units of se_i * se_j, by about
        # the distance moved in standard errors times the likelihood's third derivative in
        # those units (~n**-0.5): below the bound itself.
        scale = np.sqrt(np.outer(*[np.diag(same_input.covariance_)] * 2))
        change = np.abs(model.covariance_.to_numpy() - same_input.covariance_.to_numpy())
        assert np.all(change <= bound * scale), change / scale
        assert_same_maximum(model, pipeline)
    # The parameter table is printed: the published BG/NBD estimates.
    assert "0.2426" in results["fit"].stdout and "4.414" in results["fit"].stdout


def test_predict_scores_match_api(chain, file_models, api_rfm, api_models):
    d, results = chain
    scores = read_scores(d / "scores.csv")
    assert list(scores.columns) == [
        "probability_alive", "expected_purchases", "discounted_expected_purchases",
        "expected_spend", "clv", "segment",
    ]
    # The API on the same RFM file with the same models: the same numbers.
    rfm = tables.read_rfm(d / "rfm.csv")
    transaction_model, spend_model = file_models
    equity = clvmodels.customer_equity(transaction_model, spend_model, rfm, horizon=52,
                                       discount_rate=WEEKLY_RATE, margin=0.3)
    expected = pd.DataFrame({
        "probability_alive": transaction_model.probability_alive(rfm),
        "expected_purchases": transaction_model.expected_purchases(rfm, 52),
        "discounted_expected_purchases": equity.clv["expected_purchases"],
        "expected_spend": spend_model.expected_spend(rfm),
        "clv": equity.clv["clv"],
        "segment": equity.clv["segment"],
    })
    expected.index = expected.index.astype(int)
    pd.testing.assert_frame_equal(scores, expected.sort_index(), check_exact=False,
                                  rtol=CSV_RTOL, check_names=False)
    # The headline says what the equity is: profit at the margin given (--margin 0.3).
    assert (f"Customer equity (profit at a 30% margin), next 52 weeks, 10%/year discount: "
            f"${equity.total:,.0f} (${equity.total / len(rfm):,.2f} per customer, 2,357 "
            "customers)") in results["predict"].stdout
    # The decile table: money with its sign, one precision per column.
    printed = _table_rows(results["predict"].stdout)
    for decile, row in equity.segments.iterrows():
        assert printed[str(decile)] == [f"{int(row['customers']):,}", f"${row['equity']:,.0f}",
                                        f"{row['share_of_equity']:.1%}",
                                        f"${row['mean_clv']:,.2f}",
                                        f"{row['mean_probability_alive']:.2f}"]
    # And the API's in-memory pipeline from the transaction log.
    def clv(transaction_model, spend_model):
        return clvmodels.customer_equity(transaction_model, spend_model, api_rfm, horizon=52,
                                         discount_rate=WEEKLY_RATE, margin=0.3).clv["clv"]

    models = model_directory.ModelDirectory.load(d / "model")
    assert_agrees_given_fits(scores["clv"].reindex(api_rfm.index), clv(*api_models), clv,
                             [(models.transaction_model, api_models[0]),
                              (models.spend_model, api_models[1])], rtol=CSV_RTOL)


def _table_rows(stdout: str) -> dict[str, list[str]]:
    """The body rows of the tables rich printed, by their first cell."""
    rows = {}
    for line in stdout.splitlines():
        if "│" in line:
            cells = [cell.strip() for cell in line.split("│")]
            rows[cells[0]] = cells[1:]
    return rows


def test_report_is_written(chain):
    d, results = chain
    text = (d / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and "Holdout: 1997-09-30 to 1998-06-30" in text
    assert results["report"].stdout == "" and results["report"].stderr == ""  # --quiet


def test_installed_script_and_parquet(chain, tmp_path):
    """The console script writes Parquet, which keeps the RFM metadata and the id type."""
    if not SCRIPT.exists():
        pytest.skip(f"the clvmodels console script is not installed beside {sys.executable}")
    pytest.importorskip("pyarrow")
    d, _ = chain
    rfm_path, scores_path = tmp_path / "rfm.parquet", tmp_path / "scores.parquet"
    transactions = pd.read_csv(d / "transactions.csv", parse_dates=["date"])
    transactions.to_parquet(tmp_path / "transactions.parquet")
    for args in (
        ["summarize", tmp_path / "transactions.parquet", "-o", rfm_path,
         "--observation-end", CALIBRATION_END, "-q"],
        ["predict", d / "model", rfm_path, "--horizon", 52, "--discount-rate", 0.1,
         "--margin", 0.3, "-o", scores_path, "-q"],
    ):
        result = cli(*args, command=[str(SCRIPT)])
        assert result.returncode == 0, result.stderr
        assert result.stdout == "" and result.stderr == ""
    rfm = tables.read_rfm(rfm_path)
    assert rfm.index.dtype == np.int64 and rfm.attrs["time_unit"] == "W"
    parquet_scores = read_scores(scores_path)
    csv_scores = read_scores(d / "scores.csv")
    np.testing.assert_allclose(parquet_scores["clv"], csv_scores["clv"], rtol=CSV_RTOL)


def test_run_config_reproduces_the_chain(chain, tmp_path):
    d, _ = chain
    config = tmp_path / "job.toml"
    config.write_text(f"""
[data]
transactions = "{d / 'transactions.csv'}"
observation_end = "{CALIBRATION_END}"
time_unit = "W"

[predict]
horizon = 52
discount_rate = 0.1
margin = 0.3

[output]
directory = "out"
scores = "scores.csv"
""")
    result = cli("run", config, "--quiet")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["model", "report.html", "rfm.csv",
                                                     "rfm.csv.json", "scores.csv"]
    pd.testing.assert_frame_equal(read_scores(out / "scores.csv"), read_scores(d / "scores.csv"))
    text = (out / "report.html").read_text()
    assert 'id="figure-tracking"' in text  # the log extends past the observation end
    assert 'id="figure-calibration-vs-holdout"' not in text  # but no holdout was asked for


# ----------------------------------------------------------------------------- bad input
def _bad_inputs(d: Path) -> dict[str, tuple[list, int, str]]:
    """name -> (arguments, exit code, fragment of the one-line message).

    The files are written by :func:`bad_input_processes` and :func:`_write_bad_files`.
    """
    predict = ["predict", d / "model", d / "rfm.csv", "--horizon", 52]
    return {
        "missing file": (["summarize", d / "nope.csv", "-o", d / "x.csv"], 3,
                         "transactions file not found"),
        "missing column": (["summarize", d / "transactions.csv", "-o", d / "x.csv",
                            "--customer-col", "customer"], 4,
                           "missing column(s) 'customer' (did you mean 'customer_id'?)"),
        "bad dates": (["summarize", d / "bad_dates.csv", "-o", d / "x.csv"], 4,
                      "column 'date': 1 row(s) invalid (e.g. customer '2', value '1997-13-45')"),
        "negative amounts": (["summarize", d / "negative.csv", "-o", d / "x.csv"], 4,
                             "column 'amount': 1 row(s) invalid"),
        "unknown model name": (["fit", d / "rfm.csv", "--model", "bgbnd", "-o", d / "m"], 2,
                               "'bgbnd' is not one of 'bgnbd', 'mbgnbd', 'pnbd', 'pnbd-cor', "
                               "'ggomnbd', 'bgbb'"),
        "bad observation end": (["summarize", d / "transactions.csv", "-o", d / "x.csv",
                                 "--observation-end", "1997-02-30"], 2,
                                "--observation-end: '1997-02-30' is not a date"),
        "unknown time unit": (["summarize", d / "transactions.csv", "-o", d / "x.csv",
                               "--time-unit", "fortnight"], 2, "unknown time unit 'fortnight'"),
        "bad output type": ([*predict, "-o", d / "scores.xlsx"], 2, "unsupported file type"),
        "missing horizon": (["predict", d / "model", d / "rfm.csv", "-o", d / "s.csv"], 2,
                            "Missing option '--horizon'"),
        "negative horizon": ([*predict[:-2], "--horizon", -1, "-o", d / "s.csv"], 2,
                             "--horizon: must be > 0"),
        "missing model directory": (["predict", d / "no_model", d / "rfm.csv", "--horizon", 52,
                                     "-o", d / "s.csv"], 3, "model directory not found"),
        "tampered model": (["predict", d / "tampered_model", d / "rfm.csv", "--horizon", 52,
                            "-o", d / "s.csv"], 4, "does not match the checksum"),
        "time unit mismatch": (["predict", d / "model", d / "rfm_days.csv", "--horizon", 52,
                                "-o", d / "s.csv"], 4,
                               "the models were fitted in time unit 'W'"),
        "no spend column": (["fit", d / "rfm_no_spend.csv", "-o", d / "m"], 4,
                            "lacks column(s) ['monetary_value'] (summarize with --amount-col"),
        "unknown config key": (["run", d / "unknown_key.toml"], 2,
                               "unknown key(s) ['customer'] in [data]"),
        "missing config": (["run", d / "nope.toml"], 3, "config file not found"),
        "unwritable output": ([*predict, "-o", d / "not_a_dir" / "s.csv"], 6,
                              "cannot write"),
        "holdout without log": (["report", d / "model", d / "rfm.csv", "--horizon", 52,
                                 "--holdout", "1998-06-30", "-o", d / "r.html"], 2,
                                "--holdout: needs --transactions"),
        "holdout before observation end": (
            ["report", d / "model", d / "rfm.csv", "--horizon", 52, "--holdout", "1997-06-30",
             "--transactions", d / "transactions.csv", "-o", d / "r.html"], 2,
            "--holdout: 1997-06-30 is not after the RFM's observation end 1997-09-30"),
        "RFM without time unit": (["fit", d / "rfm_plain.csv", "-o", d / "m"], 4,
                                  "does not say its time unit (it was not written by "
                                  "clvmodels summarize); pass --time-unit"),
        "negative penalizer": (["fit", d / "rfm.csv", "--penalizer", -0.1, "-o", d / "m"], 2,
                               "--penalizer: must be >= 0"),
        "parquet without pyarrow": (["summarize", d / "transactions.parquet", "-o",
                                     d / "x.csv"], 7, 'pip install "clvmodels[fast]"'),
        "parquet output without pyarrow": ([*predict, "-o", d / "s.parquet"], 7,
                                           'Parquet files need pyarrow; install it with pip '
                                           'install "clvmodels[fast]" or use CSV'),
    }


# The kinds the issue names run as subprocesses (the real entry point: no traceback, exit
# code); the others call main() in-process, the same code without the interpreter start-up.
SUBPROCESS_CASES = ("missing file", "missing column", "bad dates", "negative amounts",
                    "unknown model name")
CASES = (*SUBPROCESS_CASES, "bad observation end", "unknown time unit", "bad output type",
         "missing horizon", "negative horizon", "missing model directory", "tampered model",
         "time unit mismatch", "no spend column", "unknown config key", "missing config",
         "unwritable output", "holdout without log", "holdout before observation end",
         "RFM without time unit", "negative penalizer", "parquet without pyarrow",
         "parquet output without pyarrow")


def _write_bad_files(d: Path) -> None:
    """The inputs of the in-process cases (some derived from the chain's outputs)."""
    rfm_days = tables.read_rfm(d / "rfm.csv")
    rfm_days.attrs["metadata"] = {**rfm_days.attrs["metadata"], "time_unit": "D"}
    tables.write_table(rfm_days, d / "rfm_days.csv", metadata=rfm_days.attrs["metadata"])
    no_spend = tables.read_rfm(d / "rfm.csv").drop(columns="monetary_value")
    tables.write_table(no_spend, d / "rfm_no_spend.csv",
                       metadata=tables.read_rfm(d / "rfm.csv").attrs["metadata"])
    tampered = d / "tampered_model"
    shutil.copytree(d / "model", tampered, dirs_exist_ok=True)
    path = tampered / "transaction_model.json"
    path.write_text(path.read_text().replace('"r": 0.24', '"r": 0.34'))
    (d / "unknown_key.toml").write_text('[data]\ntransactions = "x.csv"\ncustomer = "id"\n'
                                        '[predict]\nhorizon = 52\n')
    (d / "not_a_dir").write_text("")
    tables.read_rfm(d / "rfm.csv").to_csv(d / "rfm_plain.csv")  # no metadata line
    (d / "transactions.parquet").write_text("")  # never read: pyarrow is missing


@pytest.fixture(scope="session")
def bad_input_processes(workdir):
    """The subprocess cases, started at once (they need no output of the chain)."""
    d = workdir
    log = pd.read_csv(d / "transactions.csv")
    bad_dates = log.copy()
    bad_dates.loc[5, "date"] = "1997-13-45"
    bad_dates.to_csv(d / "bad_dates.csv", index=False)
    negative = log.copy()
    negative.loc[7, "amount"] = -12.5
    negative.to_csv(d / "negative.csv", index=False)
    cases = _bad_inputs(d)
    return {
        name: subprocess.Popen([*MODULE, *map(str, cases[name][0])], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        for name in SUBPROCESS_CASES
    }


@pytest.fixture(scope="session")
def bad_inputs(chain, bad_input_processes):
    d, _ = chain
    _write_bad_files(d)
    results = {name: process.communicate(timeout=300) + (process.returncode,)
               for name, process in bad_input_processes.items()}
    return _bad_inputs(d), results


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_exit_code_and_one_line(bad_inputs, case, capsys, monkeypatch):
    cases, results = bad_inputs
    args, expected_code, fragment = cases[case]
    if case in results:
        _, stderr, code = results[case]
    else:
        if case.startswith("parquet"):
            monkeypatch.setitem(sys.modules, "pyarrow", None)
            monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
        code = main(list(map(str, args)))
        stderr = capsys.readouterr().err
    assert_one_line_error(code, stderr, expected_code, fragment)


def test_every_bad_input_case_is_tested(bad_inputs):
    cases, _ = bad_inputs
    assert sorted(cases) == sorted(CASES)


def test_debug_environment_variable_raises_the_error(chain, monkeypatch):
    d, _ = chain
    monkeypatch.setenv("CLVMODELS_DEBUG", "1")
    with pytest.raises(clvmodels.errors.InputFileError, match="transactions file not found"):
        main(["summarize", str(d / "nope.csv"), "-o", str(d / "x.csv")])


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"clvmodels {clvmodels.__version__}\n"


def test_help_lists_commands_and_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("summarize", "fit", "predict", "report", "run", "demo"):
        assert command in out
    assert "4 invalid input data" in " ".join(out.split())


# ----------------------------------------------------------------------------- atomic writes
def test_atomic_file_keeps_previous_content_on_failure(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("previous,good\n")
    with pytest.raises(RuntimeError), atomic_file(path) as temporary:
        temporary.write_text("half a fi")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "previous,good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]  # no temporary left


def test_failed_scores_write_leaves_previous_scores(chain, monkeypatch, tmp_path, capsys):
    """Disk full half-way through the CSV: exit 6, and the last good scores stay."""
    d, _ = chain
    target = tmp_path / "scores.csv"
    shutil.copy(d / "scores.csv", target)
    before = target.read_bytes()
    original = pd.DataFrame.to_csv

    def disk_full(self, handle, *args, **kwargs):
        original(self.head(100), handle, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    code = main(["predict", str(d / "model"), str(d / "rfm.csv"), "--horizon", "26", "-o",
                 str(target), "-q"])
    assert code == 6
    assert "No space left on device" in capsys.readouterr().err
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_failed_model_write_leaves_previous_model_directory(chain, monkeypatch, tmp_path):
    d, _ = chain
    target = tmp_path / "model"
    shutil.copytree(d / "model", target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def fail(self, path):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(clvmodels.GammaGammaModel, "save", fail)
    assert main(["fit", str(d / "rfm.csv"), "--model", "pnbd", "-o", str(target), "-q"]) == 6
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_fit_refuses_to_replace_an_unrelated_folder(chain, tmp_path, capsys):
    d, _ = chain
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    assert main(["fit", str(d / "rfm.csv"), "-o", str(tmp_path), "-q"]) == 6
    assert "refusing to replace" in capsys.readouterr().err
    assert keep.read_text() == "mine"


def test_refit_replaces_a_model_directory(chain, tmp_path):
    d, _ = chain
    target = tmp_path / "model"
    shutil.copytree(d / "model", target)
    assert main(["fit", str(d / "rfm.csv"), "--model", "pnbd", "-o", str(target), "-q"]) == 0
    models = model_directory.ModelDirectory.load(target)
    assert type(models.transaction_model).__name__ == "ParetoNBDModel"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_csv_ids_keep_their_text(tmp_path):
    """Customer ids such as 00123 survive summarize -> predict unchanged."""
    log = clvmodels.load_cdnow_transactions()[["customer_id", "date", "amount"]]
    log["customer_id"] = log["customer_id"].map("{:05d}".format)
    log.to_csv(tmp_path / "t.csv", index=False)
    assert main(["summarize", str(tmp_path / "t.csv"), "-o", str(tmp_path / "rfm.csv"),
                 "--observation-end", CALIBRATION_END, "-q"]) == 0
    rfm = tables.read_rfm(tmp_path / "rfm.csv")
    assert rfm.index[0] == "00001" and len(rfm) == 2357


# ----------------------------------------------------------------------------- Bayesian
@pytest.fixture(scope="session")
def bayes_chain(chain):
    """fit --bayesian through the real entry point (MAP with a Laplace posterior: seconds,
    not minutes), then predict and report in-process (sparing two PyMC imports)."""
    pytest.importorskip("pymc", reason="the Bayesian extra is not installed")
    d, _ = chain
    fit = cli("fit", d / "rfm.csv", "--bayesian", "--method", "map", "--draws", 100,
              "--chains", 2, "--seed", 7, "-o", d / "bayes_model")
    assert fit.returncode == 0, fit.stderr
    value = ["--horizon", "52", "--discount-rate", "0.1", "--margin", "0.3", "--level", "0.8"]
    out = {}
    for name, args in (
        ("predict", ["predict", d / "bayes_model", d / "rfm.csv", *value,
                     "-o", d / "bayes_scores.csv"]),
        ("report", ["report", d / "bayes_model", d / "rfm.csv", *value, "--transactions",
                    d / "transactions.csv", "--holdout", "1998-06-30", "-o", d / "bayes.html"]),
    ):
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(list(map(str, args)))
        assert code == 0, stderr.getvalue()
        out[name] = stdout.getvalue()
    return d, out


def test_bayesian_model_directory_round_trips(bayes_chain, tmp_path):
    d, _ = bayes_chain
    manifest = json.loads((d / "bayes_model" / "manifest.json").read_text())
    assert manifest["bayesian"] is True
    assert {k: v for k, v in manifest["fit"].items() if k != "warnings"} == {
        "model": "bgnbd", "spend": "gamma-gamma", "bayesian": True, "method": "map",
        "draws": 100, "chains": 2, "seed": 7}
    assert [manifest[r]["file"] for r in ("transaction_model", "spend_model")] == [
        "transaction_model.nc", "spend_model.nc"]
    models = model_directory.ModelDirectory.load(d / "bayes_model")
    assert type(models.transaction_model).__name__ == "BayesianBetaGeoModel"
    draws = models.transaction_model.parameter_draws()
    assert draws.shape == (200, 4)
    # Saved again and read back: the very same draws.
    models.save(tmp_path / "again")
    again = model_directory.ModelDirectory.load(tmp_path / "again")
    pd.testing.assert_frame_equal(again.transaction_model.parameter_draws(), draws)
    assert again.manifest["bayesian"] and again.time_unit == "W"
    # With 2,357 customers and weak priors the posterior mean lies within a posterior standard
    # deviation of the maximum-likelihood estimate: the Laplace Gaussian sits at the mode of the
    # log-parameters (measured 0.02-0.18 sd from the MLE), and a mean of these 200 draws
    # carries 1/sqrt(200) = 0.07 sd of Monte Carlo error: 1 sd is that plus 11 of them.
    mle = model_directory.ModelDirectory.load(d / "model").transaction_model.params_
    assert ((draws.mean() - mle).abs() < draws.std()).all(), (draws.mean(), mle, draws.std())


def test_bayesian_scores_carry_intervals_matching_api(bayes_chain, api_rfm):
    d, printed = bayes_chain
    scores = read_scores(d / "bayes_scores.csv")
    names = ["probability_alive", "expected_purchases", "discounted_expected_purchases",
             "expected_spend", "clv"]
    assert list(scores.columns) == [
        f"{name}{suffix}" for name in names for suffix in ("", "_lower", "_upper")
    ] + ["segment"]
    for name in names:
        assert (scores[f"{name}_lower"] <= scores[name]).all()
        assert (scores[name] <= scores[f"{name}_upper"]).all()
    models = model_directory.ModelDirectory.load(d / "bayes_model")
    equity = clvmodels.customer_equity(models.transaction_model, models.spend_model, api_rfm,
                                       horizon=52, discount_rate=WEEKLY_RATE, margin=0.3,
                                       level=0.8)
    # Same posterior draws from the same files: the same numbers up to the CSV round trip
    # (and the RFM inputs an ulp apart).
    for column, suffix in (("clv", ""), ("lower", "_lower"), ("upper", "_upper")):
        np.testing.assert_allclose(scores[f"clv{suffix}"], equity.clv[column], rtol=CSV_RTOL)
    low, high = equity.total_interval
    assert f"80% interval ${low:,.0f} to ${high:,.0f}" in printed["predict"]


def test_bayesian_report_shows_the_equity_interval(bayes_chain):
    d, _ = bayes_chain
    text = (d / "bayes.html").read_text()
    headline = text[text.index('<section id="headline">'):text.index('<section id="segments">')]
    assert "80% interval $" in headline
    for figure in ("posterior-predictive", "holdout-intervals", "tracking"):
        assert f'id="figure-{figure}"' in text
    assert "interval coverage" in text
    # ArviZ's column names and the fit settings in words (MAP: 2 chains x 100 draws, seed 7).
    parameters = text[text.index('<section id="parameters">'):text.index('<section id="sett')]
    assert "<h3>Bayesian BG/NBD: purchase counts</h3>" in parameters
    for header in ("posterior mean", "posterior sd", "94% HDI, lower bound",
                   "94% HDI, upper bound", "R-hat"):
        assert f"<th>{header}</th>" in parameters, header
    assert "hdi_3%" not in parameters and "r_hat" not in parameters
    assert "Bayesian, MAP with a Laplace approximation: 2 x 100 draws, seed 7" in text


def test_rfm_from_elsewhere_fits_with_time_unit(chain, tmp_path, capsys):
    """An RFM table without metadata (customer id first) is read with --time-unit."""
    d, _ = chain
    plain = tmp_path / "rfm.csv"
    tables.read_rfm(d / "rfm.csv").to_csv(plain)
    assert not plain.read_text().startswith("#")
    assert main(["fit", str(plain), "--time-unit", "weeks", "-o", str(tmp_path / "m"), "-q"]) == 0
    fitted = model_directory.ModelDirectory.load(tmp_path / "m")
    assert fitted.time_unit == "W"
    # Fitted from a table read back from another CSV (values an ulp apart): the same maximum.
    assert_same_maximum(fitted.transaction_model,
                        model_directory.ModelDirectory.load(d / "model").transaction_model)
    # predict reads such a table in the models' unit.
    assert main(["predict", str(tmp_path / "m"), str(plain), "--horizon", "52", "-o",
                 str(tmp_path / "s.csv"), "-q"]) == 0
    if importlib.util.find_spec("pyarrow") is not None:  # pandas' Parquet keeps its index
        foreign = tables.read_rfm(d / "rfm.csv")
        foreign.attrs = {}  # a table from elsewhere
        foreign.to_parquet(tmp_path / "rfm.parquet")
        assert main(["predict", str(tmp_path / "m"), str(tmp_path / "rfm.parquet"),
                     "--horizon", "52", "-o", str(tmp_path / "s.parquet"), "-q"]) == 0
        from_parquet = read_scores(tmp_path / "s.parquet")
        from_parquet.index = from_parquet.index.astype(int)  # text ids, as in the CSV input
        pd.testing.assert_frame_equal(from_parquet.sort_index(), read_scores(tmp_path / "s.csv"))


def test_gzip_csv_round_trip_and_output_permissions(chain, tmp_path):
    d, _ = chain
    log = pd.read_csv(d / "transactions.csv")
    log.to_csv(tmp_path / "t.csv.gz", index=False)
    assert main(["summarize", str(tmp_path / "t.csv.gz"), "-o", str(tmp_path / "rfm.csv.gz"),
                 "--observation-end", CALIBRATION_END, "-q"]) == 0
    assert (tmp_path / "rfm.csv.gz").read_bytes()[:2] == b"\x1f\x8b"  # gzip magic
    pd.testing.assert_frame_equal(tables.read_rfm(tmp_path / "rfm.csv.gz"),
                                  tables.read_rfm(d / "rfm.csv"), check_like=True)
    # Outputs get the usual permissions (the temporary files are private until renamed).
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "rfm.csv.gz").stat().st_mode & 0o777 == 0o666 & ~umask


def test_duckdb_engine_summarizes_like_pandas(chain, tmp_path):
    """--engine duckdb reads the file out of core and gives the same table."""
    pytest.importorskip("duckdb")
    d, _ = chain
    assert main(["summarize", str(d / "transactions.csv"), "--engine", "duckdb",
                 "--observation-end", CALIBRATION_END, "-o", str(tmp_path / "rfm.csv"),
                 "-q"]) == 0
    duck = tables.read_rfm(tmp_path / "rfm.csv")
    duck.index = duck.index.astype(int)  # DuckDB types the ids itself
    reference = tables.read_rfm(d / "rfm.csv")
    reference.index = reference.index.astype(int)
    duck = duck.loc[reference.index]
    assert (duck["frequency"] == reference["frequency"]).all()
    # Each engine adds a customer's amounts in its own order (at most 56 here): 2 * 55 * 2**-53
    # = 1.2e-14 apart, plus an ulp each way for the CSV round trip.
    for column in ("recency", "T", "monetary_value"):
        np.testing.assert_allclose(duck[column], reference[column], rtol=1e-13)
    described = duck.attrs["metadata"]["transactions"]
    assert described["engine"] == "duckdb"
    # Out of core, the rows are counted too: those used and those after the observation end.
    assert (duck.attrs["n_transactions"], duck.attrs["n_transactions_excluded"]) == (4960, 1959)
    assert described["n_rows"] == 6919
    assert described["first_date"].startswith("1997-01-01")  # from the ages, exactly


# ----------------------------------------------------------------------------- dates and ids
# The dates: read month first, 01/02 -> 10/03 is 274 days; day first, 37.
AMBIGUOUS_LOG = "customer_id,date,amount\n1,01/02/2006,5\n1,10/03/2006,6\n2,11/03/2006,1\n"
DAY_FIRST_LOG = "customer_id,date,amount\n1,01/02/2006,5\n1,10/03/2006,6\n2,13/03/2006,1\n"


@pytest.fixture(scope="module")
def date_runs(tmp_path_factory):
    """summarize on day/month-ambiguous logs, each case a process of the real entry point,
    all started at once: name -> (exit code, stderr, RFM table written or None)."""
    d = tmp_path_factory.mktemp("dates")
    (d / "ambiguous.csv").write_text(AMBIGUOUS_LOG)
    (d / "day_first.csv").write_text(DAY_FIRST_LOG)
    (d / "iso.csv").write_text(AMBIGUOUS_LOG.replace("01/02/2006", "2006-02-01")
                               .replace("10/03/2006", "2006-03-10")
                               .replace("11/03/2006", "2006-03-11"))
    days = ["--time-unit", "D", "-q"]
    duckdb = ["--engine", "duckdb"]
    cases = {
        "ambiguous": [d / "ambiguous.csv"],
        "day first by format": [d / "ambiguous.csv", "--date-format", "%d/%m/%Y"],
        "day first by the data": [d / "day_first.csv"],
        "ambiguous end": [d / "iso.csv", "--observation-end", "10/03/2006"],
        "duckdb ambiguous": [d / "ambiguous.csv", *duckdb],
        "duckdb month first by format": [d / "ambiguous.csv", *duckdb, "--date-format",
                                         "%m/%d/%Y"],
    }
    if importlib.util.find_spec("duckdb") is None:
        cases = {name: args for name, args in cases.items() if "duckdb" not in name}
    processes = {
        name: subprocess.Popen(
            [*MODULE, "summarize", *map(str, args), "-o", str(d / f"{i}.csv"), *days],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i, (name, args) in enumerate(cases.items())
    }
    results = {}
    for i, (name, process) in enumerate(processes.items()):
        _, stderr = process.communicate(timeout=300)
        output = d / f"{i}.csv"
        results[name] = (process.returncode, stderr,
                         tables.read_rfm(output) if output.exists() else None)
    return results


def test_summarize_refuses_ambiguous_dates_naming_the_option(date_runs):
    code, stderr, _ = date_runs["ambiguous"]
    assert_one_line_error(
        code, stderr, 4,
        "column 'date': 3 row(s) with an ambiguous day/month order (e.g. customer '1', value "
        "'01/02/2006': 2006-01-02 month first or 2006-02-01 day first); every date parses with "
        "the day first and with the month first; pass --date-format '%m/%d/%Y' (month first) "
        "or --date-format '%d/%m/%Y' (day first)")
    assert "date_format" not in stderr


@pytest.mark.parametrize("case", ["day first by format", "day first by the data"])
def test_summarize_reads_the_order_the_format_or_the_data_give(date_runs, case):
    code, stderr, rfm = date_runs[case]
    assert code == 0, stderr
    assert rfm.loc["1", "recency"] == 37.0  # 1 February to 10 March
    assert rfm.attrs["metadata"]["transactions"]["first_date"].startswith("2006-02-01")


def test_summarize_refuses_an_ambiguous_observation_end(date_runs):
    code, stderr, _ = date_runs["ambiguous end"]
    assert_one_line_error(
        code, stderr, 2,
        "--observation-end: '10/03/2006' has an ambiguous day/month order: it reads 2006-10-03 "
        "month first or 2006-03-10 day first; pass it as an ISO date (YYYY-MM-DD), or pass "
        "--date-format '%m/%d/%Y' (month first) or --date-format '%d/%m/%Y' (day first)")


def test_duckdb_engine_reads_dates_only_in_the_given_layout(date_runs):
    """DuckDB's CSV sniffer used to read the ambiguous log day first, even with a format."""
    if "duckdb ambiguous" not in date_runs:
        pytest.skip("duckdb is not installed")
    code, stderr, _ = date_runs["duckdb ambiguous"]
    assert_one_line_error(code, stderr, 4, "expected dates DuckDB can parse (pass --date-format "
                          "for other layouts)")
    code, stderr, rfm = date_runs["duckdb month first by format"]
    assert code == 0, stderr
    assert rfm.loc["1", "recency"] == 274.0  # 2 January to 3 October


def test_run_config_refuses_an_ambiguous_holdout_end(tmp_path, capsys):
    (tmp_path / "job.toml").write_text(
        '[data]\ntransactions = "t.csv"\n[predict]\nhorizon = 52\n'
        '[report]\nholdout_end = "06/05/1998"\n')
    code = main(["run", str(tmp_path / "job.toml")])
    assert_one_line_error(code, capsys.readouterr().err, 2,
                          "holdout_end: '06/05/1998' has an ambiguous day/month order")


def test_csv_ids_written_from_mixed_types_are_one_customer(tmp_path):
    """A log written from a column mixing 1 and "1" has the text 1 for both, and the CSV ids
    are read as text, so the customer is not split (in Python the mix is refused)."""
    log = pd.DataFrame({"customer_id": pd.array([1, "1", 2], dtype=object),
                        "date": ["2006-02-01", "2006-03-10", "2006-03-11"]})
    with pytest.raises(clvmodels.ValidationError, match="customer ids of more than one type"):
        clvmodels.rfm_summary(log)
    log.to_csv(tmp_path / "t.csv", index=False)
    result = cli("summarize", tmp_path / "t.csv", "--no-amount", "--time-unit", "D",
                 "-o", tmp_path / "rfm.csv", "-q")
    assert result.returncode == 0, result.stderr
    rfm = tables.read_rfm(tmp_path / "rfm.csv")
    assert rfm.index.tolist() == ["1", "2"] and rfm.loc["1", "recency"] == 37.0
