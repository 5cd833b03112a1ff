"""The contractual models on the command line, end to end through the real entry points:
fit -> predict -> report on a subscription log (``python -m clvmodels`` and the console
script), a contract table with the BdW, and the one-line errors for input of the wrong kind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels.contract_value import contract_lifetime_value
from clvmodels.files import model_directory
from clvmodels.report import CONTRACT_SECTIONS

MODULE = [sys.executable, "-m", "clvmodels"]
SCRIPT = [str(Path(sys.executable).with_name("clvmodels"))]
OBSERVATION_END = "2022-06-30"
MONTHLY_RATE = 1.10 ** ((365.25 / 12) / 365.25) - 1  # --discount-rate 0.1 a year, in months
# A float read back from CSV may differ from the written one by an ulp; the values are smooth
# in the parameters (the same fit, read back from its JSON file exactly), so 1e-12 relative.
CSV_RTOL = 1e-12


def cli(*args, cwd, command=MODULE):
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def assert_one_line_error(result, expected_code, fragment):
    assert result.returncode == expected_code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("clvmodels: error: ")]
    assert errors == lines[-1:], result.stderr
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in result.stderr


def _subscription_log() -> pd.DataFrame:
    """600 monthly subscriptions simulated from an sBG, started over 200 days, observed to
    2022-06-30 (ends after it are the still active)."""
    truth = clvmodels.ShiftedBetaGeoModel().set_params_({"alpha": 0.9, "beta": 3.0},
                                                         time_unit="M")
    rng = np.random.default_rng(0)
    simulated = truth.simulate(600, 40, random_state=1)
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 200, 600), unit="D")
    end = [s + pd.DateOffset(months=int(n) + 1) if gone else pd.NaT
           for s, n, gone in zip(start, simulated["renewals"], simulated["churned"],
                                 strict=True)]
    end = [e.strftime("%Y-%m-%d") if pd.notna(e) and e <= pd.Timestamp(OBSERVATION_END)
           else "" for e in end]
    return pd.DataFrame({"account": [f"A{i:04d}" for i in range(600)],
                         "started": start.strftime("%Y-%m-%d"), "ended": end})


LOG_OPTIONS = ("--customer-col", "account", "--start-col", "started", "--end-col", "ended",
               "--observation-end", OBSERVATION_END)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("contract_cli")
    _subscription_log().to_csv(directory / "subscriptions.csv", index=False)
    clvmodels.load_cdnow_summary().to_csv(directory / "rfm.csv")
    cohorts = clvmodels.load_retention_cohorts()
    clvmodels.cohort_to_customers(cohorts.loc[:7, "high_end"]).to_csv(
        directory / "contracts.csv")
    return directory


@pytest.fixture(scope="module")
def chain(workdir):
    fit = cli("fit", "--model", "sbg", "subscriptions.csv", *LOG_OPTIONS, "-o", "sbg",
              cwd=workdir)
    predict = cli("predict", "sbg", "subscriptions.csv", "-o", "scores.csv", "--horizon",
                  "inf", "--discount-rate", "0.1", "--payment", "20", "--margin", "0.5",
                  cwd=workdir, command=SCRIPT)
    report = cli("report", "sbg", "subscriptions.csv", "-o", "report.html", "--horizon",
                 "inf", "--discount-rate", "0.1", "--payment", "20", cwd=workdir)
    return fit, predict, report


def test_fit_predict_report_on_a_subscription_log(chain, workdir):
    fit, predict, report = chain
    for step in chain:
        assert step.returncode == 0, step.stderr
    assert "ShiftedBetaGeoModel parameters" in fit.stdout
    manifest = json.loads((workdir / "sbg" / "manifest.json").read_text())
    assert manifest["transaction_model"]["name"] == "sbg" and manifest["spend_model"] is None
    assert manifest["time_unit"] == "M"
    assert manifest["data"]["subscriptions"]["start_col"] == "started"
    # The same log through the API, the same model: the CLI's values to CSV rounding.
    models = model_directory.ModelDirectory.load(workdir / "sbg")
    table = clvmodels.contract_summary(_subscription_log(), "account", "started", "ended",
                                       OBSERVATION_END)
    expected = contract_lifetime_value(models.transaction_model, table, payment=20.0,
                                       margin=0.5, discount_rate=MONTHLY_RATE)
    scores = pd.read_csv(workdir / "scores.csv", index_col="account")
    assert scores.index.equals(table.index)
    np.testing.assert_allclose(scores["clv"], expected["clv"], rtol=CSV_RTOL)
    assert (scores.loc[scores["churned"], "clv"] == 0).all()
    assert "Residual value of the" in predict.stdout and "a new customer is worth" in (
        predict.stdout)
    page = (workdir / "report.html").read_text()
    for section in CONTRACT_SECTIONS:
        assert f'<section id="{section}">' in page, section
    assert 'id="figure-survival"' in page and "Residual value by cohort" in page


def test_bdw_on_a_contract_table(workdir):
    fit = cli("fit", "--model", "bdw", "contracts.csv", "--period", "Y", "-o", "bdw",
              cwd=workdir)
    assert fit.returncode == 0, fit.stderr
    table = clvmodels.cohort_to_customers(
        clvmodels.load_retention_cohorts().loc[:7, "high_end"], time_unit="Y")
    api = clvmodels.BetaDiscreteWeibullModel().fit(table)
    loaded = model_directory.ModelDirectory.load(workdir / "bdw").transaction_model
    np.testing.assert_array_equal(loaded.params_.to_numpy(), api.params_.to_numpy())


ERRORS = {
    "rfm table to sbg": (("fit", "--model", "sbg", "rfm.csv", "-o", "x1"), 4,
                         "This is an RFM table of repeat purchases"),
    "subscription log to bgnbd": (("fit", "--model", "bgnbd", "subscriptions.csv",
                                   "--time-unit", "M", "-o", "x2"), 4,
                                  "fit it with a contractual model: --model sbg"),
    "log options with bgnbd": (("fit", "--model", "bgnbd", "rfm.csv", "--start-col", "s",
                                "-o", "x3"), 2, "is for the contractual models"),
    "incomplete log options": (("fit", "--model", "sbg", "subscriptions.csv", "--start-col",
                                "started", "-o", "x4"), 2, "needs --start-col, --end-col"),
    "log without its options": (("fit", "--model", "sbg", "subscriptions.csv", "-o", "x5"),
                                4, "for a subscription log, name its columns"),
    "end before start": (("fit", "--model", "sbg", "bad.csv", *LOG_OPTIONS, "-o", "x6"), 4,
                         "customer 'A0003', row 3): the end ('ended') is before the start"),
}


@pytest.fixture(scope="module")
def error_results(workdir):
    log = _subscription_log()
    log.loc[3, "ended"] = "2019-01-01"
    log.to_csv(workdir / "bad.csv", index=False)
    processes = {name: subprocess.Popen([*MODULE, *args], cwd=workdir, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for name, (args, _, _) in ERRORS.items()}
    return {name: subprocess.CompletedProcess(process.args, process.wait(timeout=300),
                                              *process.communicate())
            for name, process in processes.items()}


@pytest.mark.parametrize("case", list(ERRORS))
def test_input_of_the_wrong_kind_gives_one_line_errors(error_results, case):
    _, code, fragment = ERRORS[case]
    assert_one_line_error(error_results[case], code, fragment)


def test_the_manifest_schema_knows_every_subscription_setting():
    """check_manifest validates exactly the settings fit records (a field added to one and not
    the other would be refused on load, or pass unchecked)."""
    from dataclasses import fields

    from clvmodels.cli.contract import SubscriptionSettings
    from clvmodels.files.manifest import SUBSCRIPTION_FIELDS

    assert tuple(field.name for field in fields(SubscriptionSettings)) == SUBSCRIPTION_FIELDS
