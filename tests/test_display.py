"""The notebook displays (``_repr_html_``) and progress bars (issue 18, item 3)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodels import (
    BetaGeoModel,
    DegenerateFitWarning,
    GammaGammaModel,
    ShiftedBetaGeoModel,
    backtest,
    customer_equity,
    load_cdnow_transactions,
)
from clvmodels.contract_value import contract_equity
from clvmodels.display import money, number, progress_bar, progress_setting, show_progress
from clvmodels.estimation.draws import summarise

SCRIPT = "<script>alert(1)</script>"


def cells(html: str) -> list[str]:
    """The text of every table cell and header of a display, in order."""
    return re.findall(r"<t[dh](?:\s[^>]*)?>(.*?)</t[dh]>", html)


# ----------------------------------------------------------------------------- models
def test_a_fitted_model_shows_its_parameters_fit_data_and_convergence(fitted_bgnbd):
    html = fitted_bgnbd._repr_html_()
    assert "BG/NBD (BetaGeoModel)" in html
    summary = fitted_bgnbd.summary()
    texts = cells(html)
    for name, row in summary.iterrows():
        # Each parameter's row: name, estimate, standard error, interval, as formatted.
        start = texts.index(name)
        assert texts[start + 1:start + 5] == [number(v) for v in row.to_numpy()]
    for label, value in [("log-likelihood", fitted_bgnbd.log_likelihood_),
                         ("customers", 2357), ("distinct rows", fitted_bgnbd.n_distinct_rows_),
                         ("time unit", "weeks"), ("optimiser method", "L-BFGS-B")]:
        assert texts[texts.index(label) + 1] == number(value)
    assert "std_error" in texts and "lower_95%" in texts
    # L-BFGS-B stops on the projected gradient (gtol 1e-10) of the mean objective.
    assert fitted_bgnbd.convergence_["gradient norm"] < 1e-8
    assert fitted_bgnbd.convergence_["iterations"] > 0
    assert "optimiser gradient norm" in texts
    assert fitted_bgnbd.fit_warnings_ == ()
    assert "warnings of the fit" not in html


def test_the_plain_repr_stays_one_line(fitted_bgnbd):
    assert "\n" not in repr(fitted_bgnbd) and len(repr(fitted_bgnbd)) < 120


def test_an_unfitted_model_shows_its_settings_and_says_it_is_not_fitted():
    html = BetaGeoModel(penalizer=0.25)._repr_html_()
    assert "not fitted" in html and "BG/NBD (BetaGeoModel)" in html
    texts = cells(html)
    assert texts[texts.index("penalizer") + 1] == "0.25"


def test_a_model_with_parameters_set_says_it_has_no_likelihood():
    model = BetaGeoModel().set_params_({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
                                       time_unit="W")
    html = model._repr_html_()
    texts = cells(html)
    assert "parameters set by hand" in html and "log-likelihood" not in texts
    assert texts[texts.index("alpha") + 1] == "4.414"
    assert texts[texts.index("time unit") + 1] == "weeks"


def test_a_contractual_model_uses_the_same_display():
    table = pd.DataFrame({"renewals": [0, 1, 2, 3, 4, 0, 1, 5],
                          "churned": [True, True, True, False, False, True, False, False]})
    model = ShiftedBetaGeoModel().fit(table)
    html = model._repr_html_()
    texts = cells(html)
    assert "sBG" in html
    for name, value in model.params_.items():
        assert texts[texts.index(name) + 1] == number(value)


def test_the_warnings_of_a_fit_are_kept_and_still_shown():
    # The ridge of tests/test_degenerate.py: a and b run off together.
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"frequency": np.full(50, 10**6), "recency": rng.uniform(50, 52, 50),
                         "T": 52.0})
    with pytest.warns(DegenerateFitWarning, match="the data hardly determine a ") as caught:
        model = BetaGeoModel().fit(data)
    assert caught[0].filename == __file__  # still pointed at the caller's line
    assert len(model.fit_warnings_) == 1
    assert model.fit_warnings_[0].startswith("DegenerateFitWarning: BetaGeoModel: degenerate")
    html = model._repr_html_()
    assert "warnings of the fit" in html and "the data hardly determine a" in html


def test_a_warning_filter_that_raises_still_raises():
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"frequency": np.full(50, 10**6), "recency": rng.uniform(50, 52, 50),
                         "T": 52.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)
        with pytest.raises(DegenerateFitWarning):
            BetaGeoModel().fit(data)


def test_customer_ids_in_warnings_are_escaped(cdnow):
    """A Gamma-Gamma fit names a customer with zero spend in its warning: the id is the
    user's data and must show as text."""
    table = cdnow.head(200).copy()
    table.index = table.index.astype(str)
    repeat = table.index[table["frequency"] > 0][0]
    table = table.rename(index={repeat: SCRIPT})
    table.loc[SCRIPT, "monetary_value"] = 0.0
    with pytest.warns(UserWarning, match="worth 0"):
        model = GammaGammaModel().fit(table)
    html = model._repr_html_()
    assert SCRIPT not in html and "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_model_with_covariates_shows_its_coefficients(cdnow):
    rng = np.random.default_rng(3)
    table = cdnow.assign(segment=rng.integers(0, 2, len(cdnow)).astype(float))
    model = BetaGeoModel(purchase_covariates=["segment"]).fit(table)
    html = model._repr_html_()
    assert "covariate coefficients" in html
    texts = cells(html)
    for name, value in model.params_.items():
        assert texts[texts.index(name) + 1] == number(value)
    assert any(name.endswith("segment") for name in model.params_.index)


def test_a_bayesian_model_shows_the_posterior_summary_with_r_hat():
    pytest.importorskip("pymc")
    from clvmodels import BayesianBetaGeoModel, load_cdnow_summary

    unfitted = BayesianBetaGeoModel()._repr_html_()
    assert "not fitted" in unfitted and "priors" in unfitted
    # The cheapest posterior with two chains (the Laplace approximation): R-hat is defined.
    model = BayesianBetaGeoModel().fit(load_cdnow_summary(), method="map", draws=100, chains=2,
                                       random_seed=1)
    html = model._repr_html_()
    texts = cells(html)
    for column in ("mean", "sd", "r_hat", "ess_bulk", "ess_tail"):
        assert column in texts
    assert any(text.startswith("hdi_") for text in texts)
    header = texts[:texts.index("r_hat") + 1]
    r_hat = header.index("r_hat") - header.index("parameter")
    row = texts.index("alpha")
    # Independent draws of one Gaussian in both chains: R-hat near 1.
    assert abs(float(texts[row + r_hat]) - 1.0) < 0.05
    assert texts[texts.index("draws x chains") + 1] == "100 x 2"
    assert texts[texts.index("sampler") + 1] == "laplace"
    assert "Bayesian BG/NBD" in html
    assert "\n" not in repr(model)


# ----------------------------------------------------------------------------- results
def test_customer_equity_shows_its_headline_and_deciles(fitted_bgnbd, fitted_gg, cdnow):
    equity = customer_equity(fitted_bgnbd, fitted_gg, cdnow, horizon=52, discount_rate=0.002,
                             margin=0.3)
    html = equity._repr_html_()
    texts = cells(html)
    assert texts[texts.index("total") + 1] == money(equity.total)
    assert texts[texts.index("customers") + 1] == "2,357"
    assert texts[texts.index("horizon") + 1] == "next 52 weeks"
    assert texts[texts.index("discount rate") + 1] == "0.2% per week"
    assert texts[texts.index("measures") + 1] == "profit at a 30% margin"
    assert "by CLV decile" in html
    for decile, row in equity.segments.iterrows():
        start = texts.index(str(decile), texts.index("decile"))
        assert texts[start + 2] == money(row["equity"])
    short = repr(equity)
    assert "\n" not in short and len(short) < 150 and f"{equity.total:,.0f}" in short


def test_contract_equity_shows_its_headline_and_cohorts_escaped():
    table = pd.DataFrame({"renewals": [0, 1, 2, 3, 4, 0, 1, 5] * 20,
                          "churned": [True, True, True, False, False, True, False, False] * 20,
                          "cohort": [SCRIPT, "2020"] * 80})
    model = ShiftedBetaGeoModel().fit(table)
    equity = contract_equity(model, table, payment=100.0, discount_rate=0.1, margin=0.5)
    html = equity._repr_html_()
    texts = cells(html)
    assert texts[texts.index("total") + 1] == money(equity.total)
    assert texts[texts.index("discount rate") + 1] == "10% per period"
    assert texts[texts.index("measures") + 1] == "profit at a 50% margin"
    assert texts[texts.index("value of a new customer") + 1] == money(
        equity.new_customer_value, 2)
    assert "<script" not in html and "&lt;script&gt;" in html
    # The plain repr no longer prints the whole per-customer table.
    short = repr(equity)
    assert "\n" not in short and len(short) < 150


def test_a_backtest_shows_its_metrics_beside_the_baselines():
    result = backtest(load_cdnow_transactions(), calibration_end="1997-09-30",
                      observation_end="1998-06-30", model="bgnbd")
    html = result._repr_html_()
    texts = cells(html)
    assert "Backtest of BG/NBD (BetaGeoModel)" in html
    row = texts.index("BetaGeoModel")
    header = texts[:row]
    mae = header.index("mae") - header.index("forecast")
    assert texts[row + mae] == number(result.metrics["mae"])
    for name in result.baselines.index:
        assert name in texts
    assert texts[texts.index("chi-square p_value") + 1] == number(
        result.chi_square["p_value"])


# ----------------------------------------------------------------------------- progress
def test_progress_is_off_when_nobody_watches(capfd):
    assert not show_progress()  # pytest's stderr is no terminal, and no kernel runs
    with progress_bar("quiet step", 3) as advance:
        for _ in range(3):
            advance()
    summarise(lambda rows: np.ones((4, rows.stop - rows.start)), 100, 4, level=0.9,
              block_values=40)
    assert capfd.readouterr().err == ""


def test_progress_shows_when_forced(capsys):
    with progress_bar("forced step", 3, progress=True) as advance:
        for _ in range(3):
            advance()
    assert "forced step" in capsys.readouterr().err
    with progress_setting(True):
        summary = summarise(lambda rows: np.ones((4, rows.stop - rows.start)), 100, 4,
                            level=0.9, block_values=40)
    assert "100 distinct rows x 4 draws" in capsys.readouterr().err
    assert np.all(summary.mean == 1.0)
    with progress_setting(True), progress_bar("outer", 1) as advance:
        # rich draws one live display at a time: a bar inside another is skipped.
        with progress_bar("inner", 1) as inner:
            inner()
        advance()
    err = capsys.readouterr().err
    assert "outer" in err and "inner" not in err


def test_the_command_line_draws_no_library_progress(monkeypatch):
    """The commands draw their own progress on a terminal (rich shows one live display at a
    time): inside them the library's bars are off, even where someone watches."""
    import typer

    from clvmodels.cli.app import main

    monkeypatch.setattr("clvmodels.display.interactive", lambda: True)
    assert show_progress()
    seen = []

    class Command:
        def main(self, **options):
            seen.append(show_progress())
            return 0

    monkeypatch.setattr(typer.main, "get_command", lambda application: Command())
    assert main([]) == 0 and seen == [False]


def test_the_exact_2f1_fallback_shows_progress_when_forced(monkeypatch, capsys):
    """SciPy's 2F1 made to fail everywhere: 150 arguments go to mpmath (about 1 ms each),
    with a bar when forced, none by default here; the values are SciPy's true ones."""
    import scipy.special

    from clvmodels import _numerics

    a, b, c = np.full(150, 0.5), np.full(150, 1.5), np.full(150, 2.5)
    z = np.linspace(0.0, 0.9, 150)
    expected = np.log(scipy.special.hyp2f1(a, b, c, z))
    monkeypatch.setattr(_numerics.scipy.special, "hyp2f1",
                        lambda *arguments: np.full(np.shape(arguments[0]), np.nan))
    quiet = _numerics.log_hyp2f1_forms((0.0, a, b, c, z))
    assert capsys.readouterr().err == ""
    with progress_setting(True):
        forced = _numerics.log_hyp2f1_forms((0.0, a, b, c, z))
    assert "exact 2F1 (mpmath) for 150 arguments" in capsys.readouterr().err
    # mpmath to double precision, SciPy's series to a few ulps: 1e-13 relative is ample.
    np.testing.assert_allclose(quiet, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(forced, quiet)
