"""Every plot rendered with the Agg backend, its content checked against an independent
computation (pandas on the data, lifetimes for model quantities)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

from clvmodels import (  # noqa: E402
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    customer_equity,
    load_cdnow_transactions,
)
from clvmodels import plotting as P  # noqa: E402
from clvmodels.validation import ValidationError  # noqa: E402

lifetimes = pytest.importorskip("lifetimes")

CALIBRATION_END = "1997-09-30"
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
RTOL = 1e-9  # agreement of our closed forms with lifetimes'


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def transactions():
    return load_cdnow_transactions()


@pytest.fixture(scope="module")
def table(cdnow_holdout_table):
    return cdnow_holdout_table


@pytest.fixture(scope="module")
def bgnbd():
    return BetaGeoModel().set_params_(PUBLISHED_BGNBD, time_unit="W")


@pytest.fixture(scope="module")
def pnbd(table):
    return ParetoNBDModel().fit(table)


@pytest.fixture(scope="module")
def equity(bgnbd, table):
    spend = GammaGammaModel().fit(table)
    return customer_equity(bgnbd, spend, table, horizon=52, discount_rate=0.002)


@pytest.fixture(scope="module")
def fitter():
    model = lifetimes.BetaGeoFitter()
    model.params_ = pd.Series(PUBLISHED_BGNBD)
    return model


def _bar_heights(ax):
    return np.array([patch.get_height() for patch in ax.patches])


# ----------------------------------------------------------------------------- histogram
def test_period_transactions(bgnbd, table, fitter):
    ax = P.plot_period_transactions(bgnbd, table)
    heights = _bar_heights(ax)
    assert len(heights) == 16  # observed and expected for 0..6 and 7+
    observed = table["frequency"].clip(upper=7).value_counts().sort_index().to_numpy()
    np.testing.assert_array_equal(heights[:8], observed)
    expected = np.zeros(8)
    for T, customers in table["T"].value_counts().items():
        expected[:7] += customers * np.array(
            [fitter.probability_of_n_purchases_up_to_time(T, n) for n in range(7)])
    expected[7] = len(table) - expected[:7].sum()
    np.testing.assert_allclose(heights[8:], expected, rtol=RTOL)
    assert [t.get_text() for t in ax.get_xticklabels()] == [*"0123456", "7+"]
    assert "weeks" in ax.get_xlabel() and ax.get_ylabel() == "Customers"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["observed",
                                                                   "expected (BG/NBD)"]


def test_given_axes_is_used_and_returned(bgnbd, table):
    fig, axes = plt.subplots(1, 2)
    assert P.plot_period_transactions(bgnbd, table, ax=axes[1]) is axes[1]
    assert not axes[0].patches and len(fig.axes) == 2


# ----------------------------------------------------------------------------- holdout
def test_calibration_vs_holdout(pnbd, table):
    ax = P.plot_calibration_vs_holdout(pnbd, table)
    observed, predicted = ax.get_lines()
    group = table["frequency"].clip(upper=7)
    # Means of the same counts per group, summed in another order (~2,357 ulps at most).
    np.testing.assert_allclose(observed.get_ydata(),
                               table.groupby(group)["frequency_holdout"].mean(), rtol=1e-12)
    fitter = lifetimes.ParetoNBDFitter()
    fitter.params_ = pnbd.params_.copy()
    theirs = fitter.conditional_expected_number_of_purchases_up_to_time(
        39.0, table["frequency"], table["recency"], table["T"])
    np.testing.assert_allclose(predicted.get_ydata(),
                               pd.Series(np.asarray(theirs), index=table.index)
                               .groupby(group).mean(), rtol=RTOL)
    np.testing.assert_array_equal(observed.get_xdata(), np.arange(8))
    assert ax.get_xticklabels()[0].get_text() == f"0\n({(group == 0).sum():,})"
    assert "39 weeks" in ax.get_ylabel()


def test_calibration_vs_holdout_needs_a_holdout_table(bgnbd, table):
    with pytest.raises(ValidationError, match="frequency_holdout"):
        P.plot_calibration_vs_holdout(bgnbd, table.drop(columns="frequency_holdout"))


# ----------------------------------------------------------------------------- tracking
@pytest.mark.parametrize("cumulative", [True, False])
def test_tracking(bgnbd, transactions, cumulative):
    ax = P.plot_tracking(bgnbd, transactions, calibration_end=CALIBRATION_END,
                         cumulative=cumulative)
    observed, expected, calibration_line = ax.get_lines()
    assert len(observed.get_xdata()) == 78
    days = transactions[["customer_id", "date"]].drop_duplicates()
    first = days.groupby("customer_id")["date"].transform("min")
    week = (days.loc[days["date"] > first, "date"] - pd.Timestamp("1997-01-01")).dt.days // 7
    weekly = week.value_counts().reindex(range(78), fill_value=0).to_numpy()
    np.testing.assert_array_equal(observed.get_ydata(),
                                  np.cumsum(weekly) if cumulative else weekly)
    assert len(expected.get_ydata()) == 78 and np.all(np.isfinite(expected.get_ydata()))
    assert np.all(np.diff(expected.get_ydata()) > 0) == cumulative  # weekly counts decline
    assert pd.Timestamp(calibration_line.get_xdata()[0]) == pd.Timestamp(CALIBRATION_END)
    assert ax.get_ylabel() == ("Cumulative repeat transactions" if cumulative
                               else "Repeat transactions per week")
    assert "calibration end" in [t.get_text() for t in ax.texts]


# ----------------------------------------------------------------------------- matrix
@pytest.mark.parametrize("kind", ["expected_purchases", "probability_alive"])
def test_frequency_recency_matrix(bgnbd, fitter, kind):
    ax = P.plot_frequency_recency_matrix(bgnbd, T=39.0, kind=kind, t=10.0, max_frequency=99)
    (image,) = [child for child in ax.get_children() if isinstance(child, AxesImage)]
    matrix = image.get_array()
    assert matrix.shape == (100, 100)
    centres = (np.arange(100) + 0.5) * 39.0 / 100
    rows = [0, 1, 17, 99]
    for row in rows:
        recency = centres if row else np.zeros(100)
        if kind == "expected_purchases":
            theirs = fitter.conditional_expected_number_of_purchases_up_to_time(
                10.0, row, recency, 39.0)
        else:
            theirs = fitter.conditional_probability_alive(row, recency, 39.0)
        np.testing.assert_allclose(matrix[row], theirs, rtol=RTOL)
    colorbar_label = ax.figure.axes[-1].get_ylabel()
    assert colorbar_label == ("Expected purchases in the next 10 weeks"
                              if kind == "expected_purchases" else "Probability alive")
    assert ax.get_xlabel() == "Recency: age at last purchase (weeks)"
    assert ax.get_ylabel() == "Frequency: repeat purchases"


def test_frequency_recency_matrix_defaults_and_errors(pnbd):
    ax = P.plot_frequency_recency_matrix(pnbd, T=39.0)
    (image,) = [child for child in ax.get_children() if isinstance(child, AxesImage)]
    assert image.get_array().shape == (40, 100)  # frequency 0..39 (T rounded), 100 recencies
    with pytest.raises(ValueError, match="kind must be one of"):
        P.plot_frequency_recency_matrix(pnbd, T=39.0, kind="clv")
    with pytest.raises(ValueError, match="max_recency"):
        P.plot_frequency_recency_matrix(pnbd, T=39.0, max_recency=50.0)
    with pytest.raises(ValueError, match="T must be a positive"):
        P.plot_frequency_recency_matrix(pnbd, T=0.0)


# ----------------------------------------------------------------------------- value
def test_clv_distribution(equity):
    ax = P.plot_clv_distribution(equity, currency="$")
    clv = equity.clv["clv"]
    assert _bar_heights(ax).sum() == (clv > 0).sum()  # every positive CLV in some bin
    assert ax.get_xscale() == "log"
    mean_line, median_line = ax.get_lines()[:2]
    # The mean of 2,357 values in another order: (n - 1) * 2**-53 = 2.6e-13 at most.
    assert mean_line.get_xdata()[0] == pytest.approx(clv.mean(), rel=1e-12)
    assert median_line.get_xdata()[0] == pytest.approx(clv.median(), rel=1e-12)
    assert ax.get_xlabel().startswith("CLV per customer ($)")
    assert ax.get_ylabel() == "Customers"


def test_clv_distribution_inputs(equity):
    clv = equity.clv["clv"]
    for value in (clv, clv.to_frame(), clv.rename("mean").to_frame()):
        ax = P.plot_clv_distribution(value)
        assert _bar_heights(ax).sum() == (clv > 0).sum()
    narrow = pd.Series([10.0, 11.0, 12.0, 20.0])  # within two decades: linear axis
    ax = P.plot_clv_distribution(narrow, bins=4)
    assert ax.get_xscale() == "linear" and _bar_heights(ax).sum() == 4
    with pytest.raises(ValidationError, match="'clv' or 'mean'"):
        P.plot_clv_distribution(pd.DataFrame({"value": [1.0]}))
    with pytest.raises(ValidationError, match="finite"):
        P.plot_clv_distribution(pd.Series([1.0, np.nan]))
    with pytest.raises(TypeError, match="CustomerEquity"):
        P.plot_clv_distribution([1.0, 2.0])


def test_equity_concentration(equity):
    ax = P.plot_equity_concentration(equity)
    curve = ax.get_lines()[0]
    x, y = curve.get_xdata(), curve.get_ydata()
    # A cumulative sum of 2,357 positive values over their total (here and at 20% below):
    # (n - 1) * 2**-53 = 2.6e-13 relative at most.
    assert (x[0], y[0]) == (0, 0) and x[-1] == 100 and y[-1] == pytest.approx(100, rel=1e-12)
    clv = equity.clv["clv"].sort_values(ascending=False)
    top = int(len(clv) * 0.2)
    np.testing.assert_allclose(np.interp(100 * top / len(clv), x, y),
                               100 * clv.iloc[:top].sum() / clv.sum(), rtol=1e-12)
    assert ax.get_xlabel() == "Share of customers, most valuable first (%)"
    assert ax.get_ylabel() == "Share of customer equity (%)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    share = 100 * clv.iloc[:top].sum() / clv.sum()  # the top 20%: `top` whole customers here
    assert f"top 20% of customers hold {share:.0f}%" in labels
    with pytest.raises(ValidationError, match="positive total"):
        P.plot_equity_concentration(pd.Series([0.0, 0.0]))


# ----------------------------------------------------------------------------- Bayesian only
def test_predictive_plots_take_maximum_likelihood_models(bgnbd, table):
    """At a point estimate the predictive check shows the purchase process's spread alone
    (400 histograms drawn at the estimate), and the holdout intervals are those of the count
    distribution at the estimate."""
    ax = P.plot_posterior_predictive_check(bgnbd, table)
    assert "400 draws" in ax.get_title()
    lower, upper = (segment[:, 1] for segment in np.transpose(
        ax.containers[1].lines[2][0].get_segments(), (1, 0, 2)))
    assert np.all(upper > lower)  # a spread, though no parameter uncertainty
    ax = P.plot_holdout_intervals(bgnbd, table)
    coverage = bgnbd.predictive_purchases(table, 39.0)
    inside = table["frequency_holdout"].between(coverage["lower"], coverage["upper"]).mean()
    assert any(f"inside ({inside:.1%})" in text.get_text()
               for text in ax.get_legend().get_texts())


def _fill_between_count(ax):
    return sum(isinstance(c, PolyCollection) for c in ax.collections)


@pytest.fixture(scope="module")
def bayesian(map_bgnbd):
    return map_bgnbd


def test_posterior_predictive_check(bayesian, table):
    from clvmodels.evaluate import period_transactions

    ax = P.plot_posterior_predictive_check(bayesian, table, level=0.9)
    heights = _bar_heights(ax)
    np.testing.assert_array_equal(heights,
                                  table["frequency"].clip(upper=7).value_counts().sort_index())
    mean = ax.get_lines()[0].get_ydata()
    assert len(mean) == 8
    # The mean of 200 simulated histograms against the exact expected histogram: each cell's
    # variance is at most its expectation (sampling) plus the parameters' share; 5 SE.
    expected = period_transactions(bayesian, table, level=0.9)
    parameter_sd = (expected["upper"] - expected["lower"]) / 3.29
    se = np.sqrt((expected["expected"] + parameter_sd**2) / 200)
    assert np.all(np.abs(mean - expected["expected"]) < 5 * se)
    assert ax.get_ylabel() == "Customers" and "weeks" in ax.get_xlabel()
    assert "90% interval" in ax.get_legend().get_texts()[-1].get_text()


def test_holdout_intervals(bayesian, table):
    ax = P.plot_holdout_intervals(bayesian, table, level=0.9)
    assert _fill_between_count(ax) == 1
    points = [c for c in ax.collections if not isinstance(c, PolyCollection)]
    assert sum(len(c.get_offsets()) for c in points) == len(table)
    interval = bayesian.predictive_purchases(table, 39.0, level=0.9)
    actual = table["frequency_holdout"]
    coverage = ((actual >= interval["lower"]) & (actual <= interval["upper"])).mean()
    assert f"inside ({coverage:.1%})" in ax.get_legend().get_texts()[2].get_text()
    assert "39 weeks" in ax.get_ylabel()


def test_mle_plots_take_bayesian_models(bayesian, table, transactions):
    ax = P.plot_period_transactions(bayesian, table)
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(_bar_heights(ax)) == 16 and bars[1].errorbar is not None
    ax = P.plot_tracking(bayesian, transactions, calibration_end=CALIBRATION_END)
    assert _fill_between_count(ax) == 1
    ax = P.plot_calibration_vs_holdout(bayesian, table)
    assert len(ax.get_lines()) == 2
    ax = P.plot_frequency_recency_matrix(bayesian, T=39.0, t=39.0, max_frequency=9, n_recency=10)
    (image,) = [child for child in ax.get_children() if isinstance(child, AxesImage)]
    # Row 3 against the mean over the draws of the MLE formulas at each draw.
    draws = bayesian.parameter_draws(max_draws=None, random_seed=0)
    grid = pd.DataFrame({"frequency": 3, "recency": (np.arange(10) + 0.5) * 3.9, "T": 39.0})
    per_draw = [BetaGeoModel().set_params_(params.to_dict()).expected_purchases(grid, 39.0)
                for _, params in draws.iterrows()]
    # The same formulas at the same 200 draws, averaged in another order (<= 200 ulps).
    np.testing.assert_allclose(image.get_array()[3], np.mean(per_draw, axis=0), rtol=1e-12)
