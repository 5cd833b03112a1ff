"""The BG/BB through the command line: summarize --period, fit --model bgbb, predict, and
the one-line errors when a table does not fit the model (subprocesses, as tests/test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import CSV_RTOL, SCRIPT, assert_one_line_error, cli
from test_discrete_rfm import _donations_log

from clvmodels import BetaGeoBetaBinomModel, GammaGammaModel, discrete_rfm_summary


@pytest.fixture(scope="module")
def donations_run(tmp_path_factory) -> Path:
    """The donations as a transaction log (a made-up amount per donation), summarized in
    years, fitted and scored by the console script."""
    d = tmp_path_factory.mktemp("bgbb-cli")
    log = _donations_log()
    log["amount"] = 10.0 + 5.0 * (log.index % 4)
    log.to_csv(d / "log.csv", index=False)
    command = [SCRIPT] if SCRIPT.exists() else None
    steps = [
        ("summarize", d / "log.csv", "-o", d / "rfm.csv", "--period", "Y",
         "--observation-end", "2001-12-31"),
        ("fit", d / "rfm.csv", "-o", d / "model", "--model", "bgbb"),
        ("predict", d / "model", d / "rfm.csv", "-o", d / "scores.csv", "--horizon", "5",
         "--discount-rate", "0.1"),
    ]
    for args in steps:
        result = cli(*args, command=command)
        assert result.returncode == 0, (args, result.stderr)
    return d


def test_summarize_fit_and_predict(donations_run):
    d = donations_run
    rfm = pd.read_csv(d / "rfm.csv", index_col=0)
    assert list(rfm.columns) == ["frequency", "recency", "periods", "monetary_value"]
    expected = discrete_rfm_summary(pd.read_csv(d / "log.csv"), amount_col="amount",
                                    observation_end="2001-12-31")
    expected = expected.loc[rfm.index]  # the CLI sorts the ids as text
    np.testing.assert_array_equal(rfm.to_numpy(), expected.to_numpy())
    model = BetaGeoBetaBinomModel.load(d / "model" / "transaction_model.json")
    # The published estimates (Fader, Hardie & Shang 2010) at their printed rounding.
    np.testing.assert_allclose(model.params_, [1.204, 0.750, 0.657, 2.783], atol=5e-4)
    assert model.time_unit_ == "Y"
    scores = pd.read_csv(d / "scores.csv", index_col=0)
    # The scores are the API's at the loaded models (CSV round trip: CSV_RTOL).
    expected.attrs["time_unit"] = "Y"
    np.testing.assert_allclose(scores["probability_alive"],
                               model.probability_alive(expected), rtol=CSV_RTOL)
    np.testing.assert_allclose(scores["expected_purchases"],
                               model.expected_purchases(expected, 5), rtol=CSV_RTOL)
    np.testing.assert_allclose(
        scores["discounted_expected_purchases"],
        model.discounted_expected_purchases(expected, horizon=5, discount_rate=0.1),
        rtol=CSV_RTOL)
    spend = GammaGammaModel.load(d / "model" / "spend_model.json")
    np.testing.assert_allclose(
        scores["clv"], scores["discounted_expected_purchases"]
        * spend.expected_spend(expected), rtol=1e-12)


def test_tables_that_do_not_fit_the_model_are_refused(donations_run, tmp_path):
    d = donations_run
    continuous = cli("summarize", d / "log.csv", "-o", tmp_path / "rfm.csv",
                     "--observation-end", "2001-12-31", "--time-unit", "Y")
    assert continuous.returncode == 0, continuous.stderr
    cases = [
        (("fit", tmp_path / "rfm.csv", "-o", tmp_path / "m1", "--model", "bgbb"), 4,
         "lacks column(s) ['periods'] (the bgbb model is in discrete time"),
        (("fit", d / "rfm.csv", "-o", tmp_path / "m2", "--model", "bgnbd"), 4,
         "lacks column(s) ['T'] (a discrete-time summary"),
        (("predict", d / "model", tmp_path / "rfm.csv", "-o", tmp_path / "s.csv",
          "--horizon", "5"), 4, "lacks column(s) ['periods']"),
        (("predict", d / "model", d / "rfm.csv", "-o", tmp_path / "s.csv", "--horizon", "2.5"),
         4, "whole periods; got 2.5"),
        (("summarize", d / "log.csv", "-o", tmp_path / "x.csv", "--period", "h"), 2,
         "unsupported period 'h'"),
        (("summarize", d / "log.csv", "-o", tmp_path / "x.csv", "--period", "Y", "--engine",
          "duckdb"), 2, "runs on the pandas engine"),
    ]
    for args, code, fragment in cases:
        result = cli(*args)
        assert_one_line_error(result.returncode, result.stderr, code, fragment)


def test_report_shows_a_discrete_time_model(donations_run, tmp_path):
    d = donations_run
    result = cli("report", d / "model", d / "rfm.csv", "-o", tmp_path / "report.html",
                 "--horizon", "5", "--transactions", d / "log.csv")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report.html").read_text()
    assert "opportunities (years)" in page  # the top customers' periods, not an age T
    assert "BG/BB model is in discrete time" in page  # no continuous-time tracking plot


def test_run_config_with_period_reproduces_the_chain(donations_run, tmp_path):
    d = donations_run
    config = tmp_path / "job.toml"
    sections = {
        "data": {"transactions": str(d / "log.csv"), "observation_end": "2001-12-31",
                 "period": "Y"},
        "model": {"model": "bgbb"},
        "predict": {"horizon": 5, "discount_rate": 0.1},
        "output": {"directory": "out"},
    }
    config.write_text("".join(
        f"[{name}]\n" + "".join(f"{key} = {value!r}\n".replace("'", '"')
                                for key, value in keys.items())
        for name, keys in sections.items()))
    result = cli("run", config, "--quiet")
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "scores.csv"),
                                  pd.read_csv(d / "scores.csv"))
