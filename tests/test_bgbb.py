"""The BG/BB (Fader, Hardie & Shang 2010) on the donations data: the published fit, lifetimes'
implementation, brute-force integrals over p and theta, simulation, and the discrete-time
rules (whole periods, the table's columns)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from _tolerances import Maximum, assert_same_maximum, gradient_stop_gap
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from clvmodels import BetaGeoBetaBinomModel, ValidationError, load_donations
from clvmodels.models.beta_geo_beta_binom import (
    discounted_survival_hyp2f1,
    discounted_survival_sum,
    expected_survived_periods,
)

PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    return load_donations()


@pytest.fixture(scope="module")
def fitted(donations) -> BetaGeoBetaBinomModel:
    return BetaGeoBetaBinomModel().fit(donations, weights=donations["weights"])


def test_matches_fader_hardie_shang_2010(fitted):
    # Parameters at the published rounding (half a unit of the third decimal); the
    # log-likelihood at its printed two decimals: the optimiser stops within ~1e-9 of the
    # maximum's value, far inside the printed rounding of 0.005.
    for name, value in PUBLISHED.items():
        assert fitted.params_[name] == pytest.approx(value, abs=5e-4), name
    assert fitted.log_likelihood_ == pytest.approx(-33225.58, abs=5e-3)
    assert fitted.n_customers_ == 11104
    assert fitted.time_unit_ == "Y"


def test_probability_alive_and_expectation_by_quadrature(fitted):
    """P(alive) and the conditional expected transactions as integrals over p ~ Beta(alpha,
    beta) and theta ~ Beta(gamma, delta): every term of the likelihood is a product of a
    p-integral and a theta-integral, each computed by QUADPACK with the beta density's
    endpoint singularities as weights (relative error ~1e-13); 1e-9 covers the sums of a few
    such terms."""
    alpha, beta, gamma, delta = fitted.params_.to_numpy()

    def moment(first, second, a, b):  # E[u^first (1 - u)^second], u ~ Beta(a, b)
        def mass(i, j):
            return integrate.quad(lambda u: u**i * (1 - u) ** j, 0, 1, weight="alg",
                                  wvar=(a - 1, b - 1), epsabs=0, epsrel=1e-13, limit=200)[0]
        return mass(first, second) / mass(0, 0)

    table = pd.DataFrame({"frequency": [0, 2, 3, 6], "recency": [0, 4, 6, 6],
                          "periods": [6, 6, 6, 6]})
    table.attrs["time_unit"] = "Y"
    alive, expected = [], []
    for x, t_x, n in table.to_numpy():
        stay = moment(x, n - x, alpha, beta) * moment(0, n, gamma, delta)
        gone = sum(moment(x, k - x, alpha, beta) * moment(1, k, gamma, delta)
                   for k in range(t_x, n))
        alive.append(stay / (stay + gone))
        # Alive, a transaction with probability p in each of the next 5 periods survived.
        future = moment(x + 1, n - x, alpha, beta) * sum(moment(0, n + k, gamma, delta)
                                                         for k in range(1, 6))
        expected.append(future / (stay + gone))
    np.testing.assert_allclose(fitted.probability_alive(table), alive, rtol=1e-9)
    np.testing.assert_allclose(fitted.expected_purchases(table, 5), expected, rtol=1e-9)


def test_simulation_matches_the_unconditional_predictions(fitted):
    """The repeat transactions of 200,000 simulated donors over 6 periods: their mean and the
    share with none within 4 standard errors of E[X(6)] (eq. 7) and P(X(6) = 0) (eq. 8);
    a false alarm has probability ~6e-5 per figure."""
    n = 200_000
    simulated = fitted.simulate(n, 6, random_state=7)
    assert list(simulated.columns) == ["frequency", "recency", "periods"]
    x = simulated["frequency"].to_numpy()
    assert np.all((x <= simulated["recency"]) & (simulated["recency"] <= 6))
    mean = fitted.expected_purchases_new_customer(6)
    assert abs(x.mean() - mean) <= 4 * x.std() / np.sqrt(n)
    none = fitted.probability_of_purchases_new_customer(0, 6)
    assert abs((x == 0).mean() - none) <= 4 * np.sqrt(none * (1 - none) / n)


def test_pattern_counts_sum_to_the_unconditional_distribution(fitted, donations):
    # P(X(6) = x) over x = 0..6 is a distribution (eq. 8), and its mean is E[X(6)] (eq. 7):
    # two routes (a sum over the dropout period, a closed form), agreeing to rounding.
    pmf = np.array([fitted.probability_of_purchases_new_customer(x, 6) for x in range(7)])
    assert pmf.sum() == pytest.approx(1.0, rel=1e-13)
    assert pmf @ np.arange(7) == pytest.approx(fitted.expected_purchases_new_customer(6),
                                               rel=1e-13)


@pytest.mark.parametrize(("gamma", "delta"), [(0.657, 2.783), (1.0, 3.0), (1 + 3e-5, 0.5),
                                               (1 - 2e-3, 40.0), (5.0, 1e-3), (0.3, 1e4)])
@pytest.mark.parametrize("t", [1, 7, 300, 5_000])
def test_expected_survived_periods_closed_form_and_sum(gamma, delta, t):
    """Eq. 7's closed form (its Taylor series at gamma = 1) against the sum of the survival
    probabilities term by term, each product of t ratios rounded ~t * 1e-16 relative. Beyond
    1,000 periods the closed form is a difference of rising factorials (log-gamma values up
    to ~(delta + t) log(delta + t), each rounded to its last bit) divided by gamma - 1: up to
    ~(delta + t) log(delta + t) / |gamma - 1| roundings (near gamma = 1 the series' digamma
    differences lose as much, with |gamma - 1| at its floor 1e-4)."""
    survival = np.cumprod((delta + np.arange(t)) / (gamma + delta + np.arange(t)))
    tolerance = 1e-12 + t * 1e-15
    if t > 1_000:
        tolerance += (4 * 2.0**-53 * (1 + delta + t) * np.log(2 + delta + t)
                      / max(abs(gamma - 1), 1e-4))
    assert expected_survived_periods(gamma, delta, t) == pytest.approx(survival.sum(),
                                                                       rel=tolerance)


@pytest.mark.parametrize(("gamma", "delta"), [(0.657, 2.783), (2.0, 0.01), (0.01, 50.0),
                                               (30.0, 300.0)])
@pytest.mark.parametrize("rate", [0.1, 0.01, 0.002])
@pytest.mark.parametrize("horizon", [np.inf, 600.0])
def test_discounted_sum_series_against_hypergeometric_closed_form(gamma, delta, rate,
                                                                  horizon):
    """DERT's two routes: eq. 14's 2F1 (less the periods after a finite horizon) and the
    series summed term by term to below 1e-17 of its value; both are accurate to ~1e-13
    relative here (the sum: some thousand roundings of 1e-16), so 1e-10 is ample."""
    q = 1 / (1 + rate)
    assert discounted_survival_hyp2f1(gamma, delta, horizon, q) == pytest.approx(
        discounted_survival_sum(gamma, delta, horizon, q), rel=1e-10)


def test_dert_is_the_sum_of_discounted_period_expectations(fitted, donations):
    # DERT (eq. 14) from the model against the differences of E[X(n, n + k)] (eq. 13), each
    # period's expectation discounted by (1 + d)^-k, over 600 periods (the rest below 1e-24).
    rate = 0.1
    dert = fitted.discounted_expected_purchases(donations, horizon=np.inf, discount_rate=rate)
    cumulative = np.array([fitted.expected_purchases(donations, k).to_numpy()
                           for k in range(0, 601)])
    by_period = np.diff(cumulative, axis=0)
    discounted = (by_period / (1 + rate) ** np.arange(1, 601)[:, None]).sum(axis=0)
    np.testing.assert_allclose(dert, discounted, rtol=1e-10)


def test_agrees_with_lifetimes(fitted, donations):
    """lifetimes' BetaGeoBetaBinomFitter: its maximum (BFGS on the weighted mean negative
    log-likelihood in log-parameters, stopping at gradient tol = 1e-7) is ours, within the
    gap that stopping rule leaves (tests/_tolerances.py); at the same parameters every
    prediction agrees to 1e-9 relative (both are closed forms in double precision; their
    sums of betaln differences lose ~1e-13)."""
    lifetimes = pytest.importorskip("lifetimes")
    theirs = lifetimes.BetaGeoBetaBinomFitter().fit(
        donations["frequency"], donations["recency"], donations["periods"],
        weights=donations["weights"])
    ours = BetaGeoBetaBinomModel().set_params_(theirs.params_.to_dict(), time_unit="Y")
    stopped = Maximum(ours.params_.to_numpy(),
                      ours.log_likelihood(donations, weights=donations["weights"]),
                      gradient_stop_gap(fitted, 1e-7))
    assert_same_maximum(stopped, fitted)
    f, r, n = donations["frequency"], donations["recency"], donations["periods"]
    np.testing.assert_allclose(ours.probability_alive(donations),
                               theirs.conditional_probability_alive(0, f, r, n), rtol=1e-9)
    # Eq. 11, alive in period n + 1: P(alive at n) times survival of one more opportunity.
    gamma, delta = ours.params_["gamma"], ours.params_["delta"]
    np.testing.assert_allclose(
        ours.probability_alive(donations) * (delta + n) / (gamma + delta + n),
        theirs.conditional_probability_alive(1, f, r, n), rtol=1e-9)
    for k in (1, 5, 30):
        np.testing.assert_allclose(
            ours.expected_purchases(donations, k),
            theirs.conditional_expected_number_of_purchases_up_to_time(k, f, r, n), rtol=1e-9)
    counts = theirs.expected_number_of_transactions_in_first_n_periods(6)["model"]
    ours_counts = [ours.probability_of_purchases_new_customer(x, 6) * 11104 for x in range(7)]
    np.testing.assert_allclose(ours_counts, counts.to_numpy(), rtol=1e-9)


# ----------------------------------------------------------------------------- discrete time
def test_non_integer_horizons_are_refused(fitted, donations):
    with pytest.raises(ValidationError, match=r"t: .*whole periods; got 2\.5"):
        fitted.expected_purchases(donations, 2.5)
    with pytest.raises(ValidationError, match=r"t: .*whole periods"):
        fitted.probability_of_purchases(donations, 1, 0.5)
    with pytest.raises(ValidationError, match=r"horizon: .*whole periods; got 3\.2"):
        fitted.discounted_expected_purchases(donations, horizon=3.2, discount_rate=0.1)
    with pytest.raises(ValidationError, match=r"whole periods; got 1\.5"):
        fitted.discounted_expected_purchases(donations, horizon=1.5)
    with pytest.raises(ValidationError, match=r"t: .*whole periods"):
        fitted.expected_purchases_new_customer(0.25)


def test_continuous_time_tables_are_refused(fitted):
    rfm = pd.DataFrame({"frequency": [1], "recency": [2.5], "T": [4.0]})
    with pytest.raises(ValidationError, match="missing column 'periods'.*'T'.*discrete_rfm"):
        fitted.probability_alive(rfm)
    with pytest.raises(ValidationError, match="missing column 'periods'"):
        BetaGeoBetaBinomModel().fit(rfm)


@pytest.mark.parametrize(("column", "values", "expected"), [
    ("recency", {"recency": [2.5]}, "whole numbers"),
    ("periods", {"periods": [6.5]}, "whole numbers"),
    ("recency", {"frequency": [4], "recency": [3]}, "recency >= frequency"),
    ("recency", {"recency": [7]}, "recency <= periods"),
])
def test_invalid_discrete_tables_name_the_column_and_customer(fitted, column, values,
                                                              expected):
    table = pd.DataFrame({"frequency": [2], "recency": [3], "periods": [6]},
                         index=pd.Index(["donor-9"], name="customer_id"))
    for name, value in values.items():
        table[name] = value
    with pytest.raises(ValidationError, match=rf"column '{column}'.*donor-9.*{expected}"):
        fitted.probability_alive(table)


def test_tables_in_another_unit_are_refused(fitted, donations):
    monthly = donations.copy()
    monthly.attrs["time_unit"] = "M"
    with pytest.raises(ValidationError, match="time units differ"):
        fitted.probability_alive(monthly)


# ----------------------------------------------------------------------------- properties
_PARAM = st.floats(min_value=-6, max_value=6).map(lambda e: 10.0**e)


@st.composite
def _histories(draw):
    n = draw(st.integers(1, 10_000))
    t_x = draw(st.integers(0, n))
    x = draw(st.integers(min(t_x, 1), t_x)) if t_x else 0
    return x, t_x, n


@settings(max_examples=40, deadline=None)
@given(params=st.tuples(_PARAM, _PARAM, _PARAM, _PARAM), history=_histories(),
       horizon=st.integers(0, 10_000))
def test_predictions_are_probabilities_and_monotone(params, history, horizon):
    model = BetaGeoBetaBinomModel().set_params_(dict(zip(PUBLISHED, params, strict=True)))
    x, t_x, n = history
    table = pd.DataFrame({"frequency": [x], "recency": [t_x], "periods": [n]})
    alive = model.probability_alive(table).iloc[0]
    assert 0.0 <= alive <= 1.0
    expected = [model.expected_purchases(table, t).iloc[0] for t in (horizon, horizon + 1)]
    assert np.all(np.isfinite(expected)) and 0.0 <= expected[0] <= horizon
    # Non-decreasing in the horizon, up to the rounding of the closed form (~1e-12 relative).
    assert expected[1] >= expected[0] * (1 - 1e-9)
    none = model.probability_of_purchases(table, 0, min(horizon, 50)).iloc[0]
    assert 0.0 <= none <= 1.0 + 1e-12


@pytest.mark.parametrize("params", list(itertools.product([1e-6, 1e6], repeat=4)))
def test_finite_at_extremes(params):
    model = BetaGeoBetaBinomModel().set_params_(dict(zip(PUBLISHED, params, strict=True)))
    table = pd.DataFrame({"frequency": [0, 1, 5_000, 10_000], "recency": [0, 10_000, 9_000,
                                                                           10_000],
                          "periods": [10_000] * 4})
    alive = model.probability_alive(table)
    assert np.all((alive >= 0) & (alive <= 1))
    for values in (model.expected_purchases(table, 10_000),
                   model.discounted_expected_purchases(table, horizon=np.inf,
                                                       discount_rate=0.01),
                   model.probability_of_purchases(table, 1, 20)):
        assert np.all(np.isfinite(values) & (values >= 0)), values
    assert np.isfinite(model.log_likelihood(table))


def test_discounted_survival_falls_back_on_the_sum_where_2f1_fails():
    # 2F1(1, 2001.01; 2003.01; 1/1.002) is NaN in SciPy and beyond the bounded mpmath route:
    # the periods after a horizon of 2,000 are then summed term by term.
    from clvmodels.models.beta_geo_beta_binom import discounted_survival

    q = 1 / 1.002
    assert np.isnan(discounted_survival_hyp2f1(2.0, 0.01, 2_000.0, q))
    assert discounted_survival(2.0, 0.01, 2_000.0, 0.002) == pytest.approx(
        discounted_survival_sum(2.0, 0.01, 2_000.0, q), rel=1e-13)


def test_period_transactions_plot_in_discrete_time(fitted, donations):
    """The calibration histogram of repeat transactions (lifetimes' plot_period_transactions):
    observed donors by number of repeat donations, and the expected ones from eq. 8 at each
    donor's 6 opportunities, the same sum as :meth:`probability_of_purchases_new_customer`
    (to the rounding of 11,104 equal terms, ~1e-12)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clvmodels.evaluate import period_transactions
    from clvmodels.plotting import plot_period_transactions

    donors = donations.loc[donations.index.repeat(donations["weights"])]
    donors.index = pd.RangeIndex(len(donors), name="customer_id")
    table = period_transactions(fitted, donors, max_frequency=6)
    by_frequency = donations.groupby("frequency")["weights"].sum()
    np.testing.assert_array_equal(table["observed"], by_frequency.to_numpy())
    expected = [11_104 * fitted.probability_of_purchases_new_customer(x, 6) for x in range(6)]
    np.testing.assert_allclose(table["expected"].iloc[:6], expected, rtol=1e-12)
    ax = plot_period_transactions(fitted, donors, max_frequency=6)
    assert len(ax.containers) == 2
    assert "opportunities" in ax.get_xlabel() and "years" in ax.get_xlabel()
    plt.close(ax.figure)


def test_clv_pairs_the_bgbb_with_gamma_gamma(fitted, donations):
    """CLV through clv.py: the margin times the Gamma-Gamma expected spend times the BG/BB's
    discounted expected transactions (the sum over whole periods), customer by customer
    (the same products: 1e-12), over 5 years and the whole lifetime."""
    from clvmodels import GammaGammaModel, customer_lifetime_value

    table = donations.copy()
    table["monetary_value"] = np.where(table["frequency"] > 0,
                                       25.0 + 5.0 * table["recency"], 0.0)
    spend = GammaGammaModel().set_params_({"p": 6.0, "q": 4.0, "gamma": 15.0})
    for horizon in (5, np.inf):
        clv = customer_lifetime_value(fitted, spend, table, horizon=horizon,
                                      discount_rate=0.1, margin=0.3)
        purchases = fitted.discounted_expected_purchases(table, horizon=horizon,
                                                         discount_rate=0.1)
        np.testing.assert_allclose(clv["clv"], 0.3 * spend.expected_spend(table) * purchases,
                                   rtol=1e-12)
    with pytest.raises(ValidationError, match="whole periods"):
        customer_lifetime_value(fitted, spend, table, horizon=2.5, discount_rate=0.1)
