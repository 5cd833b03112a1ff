"""The contractual models (sBG, BdW): published figures, the holdout years, and independent
routes to every formula (the retention recursion, the series of the residual lifetime,
quadrature over the churn probability, the BdW at c = 1, simulation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.integrate
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

from clvmodels import (
    BetaDiscreteWeibullModel,
    ShiftedBetaGeoModel,
    ValidationError,
    cohort_to_customers,
    load_cdnow_summary,
    load_retention_cohorts,
)
from clvmodels.estimation.contract import check_contracts
from clvmodels.estimation.fitdata import FitData
from clvmodels.models.beta_discrete_weibull import BETA_DISCRETE_WEIBULL, SHIFTED_BETA_GEO

# Fader & Hardie (2007), years 0-7.
PUBLISHED = {"high_end": {"alpha": 0.668, "beta": 3.806},
             "regular": {"alpha": 0.704, "beta": 1.182}}
CALIBRATION_YEARS = 7


@pytest.fixture(scope="module")
def cohorts() -> pd.DataFrame:
    return load_retention_cohorts()


def _calibration(cohorts: pd.DataFrame, name: str) -> pd.DataFrame:
    return cohort_to_customers(cohorts.loc[:CALIBRATION_YEARS, name], time_unit="Y")


@pytest.fixture(scope="module")
def fitted(cohorts) -> dict[str, ShiftedBetaGeoModel]:
    return {name: ShiftedBetaGeoModel().fit(_calibration(cohorts, name)) for name in PUBLISHED}


def _recursion_survival(alpha: float, beta: float, periods: int) -> np.ndarray:
    """S(0..periods) from the sBG's retention rates r(t) = (beta + t - 1) / (alpha + beta +
    t - 1) (Fader & Hardie 2007, eq. 6), multiplied up."""
    t = np.arange(1, periods + 1)
    return np.concatenate([[1.0], np.cumprod((beta + t - 1) / (alpha + beta + t - 1))])


# ----------------------------------------------------------------------------- published
@pytest.mark.parametrize("name", list(PUBLISHED))
def test_sbg_reproduces_the_published_estimates(fitted, name):
    """To the printed three decimals: the optimiser's tolerance (gradient ~1e-8 of a
    likelihood of ~1,600 nats) moves the estimates by far less than the 5e-4 of rounding."""
    estimate = fitted[name].params_
    for parameter, value in PUBLISHED[name].items():
        assert round(float(estimate[parameter]), 3) == value, (name, parameter, estimate)


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_projected_survival_against_the_holdout_years(fitted, cohorts, name):
    """The fit on years 0-7 projects years 8-12: by the model (to 1e-12 of the retention
    recursion with the same parameters: a product of 12 ratios, ~12 ulps) and against the
    survivors actually observed. The sBG's projection from the parameters printed in Fader &
    Hardie (2007) (computed here by the recursion) is off the holdout by at most 4.2% (the
    high-end cohort in year 12: 378 projected against 394); the fit must do as well, to the
    effect of the parameters' rounding (below 0.1% here): 4.5% of the actual survivors."""
    model = fitted[name]
    projected = model.survival(np.arange(13)).to_numpy()
    alpha, beta = model.params_
    np.testing.assert_allclose(projected, _recursion_survival(alpha, beta, 12), rtol=1e-12)
    published = _recursion_survival(PUBLISHED[name]["alpha"], PUBLISHED[name]["beta"], 12)
    np.testing.assert_allclose(projected, published, rtol=1e-3)
    actual = cohorts[name].to_numpy() / cohorts[name].iloc[0]
    holdout = slice(CALIBRATION_YEARS + 1, None)
    assert np.all(np.abs(projected[holdout] - actual[holdout]) <= 0.045 * actual[holdout])
    assert np.max(np.abs(published[holdout] - actual[holdout]) / actual[holdout]) < 0.042


def test_retention_and_churn_curves_follow_the_survival(fitted):
    """r(t) = S(t) / S(t - 1) and P(T = t) = S(t - 1) - S(t), each from its own route (the
    closed form alpha / (alpha + beta + t - 1) S(t - 1) for churn): 1e-12."""
    model = fitted["regular"]
    alpha, beta = model.params_
    t = np.arange(1, 30)
    survival = _recursion_survival(alpha, beta, 29)
    np.testing.assert_allclose(model.retention(t), (beta + t - 1) / (alpha + beta + t - 1),
                               rtol=1e-12)
    np.testing.assert_allclose(model.churn_probability(t), survival[:-1] - survival[1:],
                               rtol=1e-10)
    assert model.survival(t).index.name == "period"


# ----------------------------------------------------------------------------- residual life
def _series(alpha, beta, n, d, periods=20_000):
    """The sum over k >= 1 of S(n + k) / S(n) (1 + d)^-k term by term, from the retention
    recursion (a product of ratios), to 20,000 terms (the tail is below
    (1 + d)^-20000 / d, under 1e-80 for d >= 0.01)."""
    k = np.arange(1, periods + 1)
    ratios = np.cumprod((beta + n + k - 1) / (alpha + beta + n + k - 1))
    return float(np.sum(ratios * (1 + d) ** -k.astype(float)))


@pytest.mark.parametrize(("alpha", "beta", "n", "d"), [
    (0.668, 3.806, 0, 0.1), (0.704, 1.182, 7, 0.1), (0.704, 1.182, 7, 0.01),
    (5.0, 0.3, 100, 0.05), (0.05, 40.0, 3, 0.2), (2.0, 2.0, 10_000, 0.01),
])
def test_sbg_residual_lifetime_closed_form_equals_the_series(alpha, beta, n, d):
    """Fader & Hardie's (2010) 2F1 closed form against the series summed term by term: SciPy's
    2F1 to ~1e-14 and a sum of up to 20,000 positive terms (~1e-13): 1e-10."""
    model = ShiftedBetaGeoModel().set_params_({"alpha": alpha, "beta": beta})
    table = pd.DataFrame({"renewals": [n], "churned": [False]})
    value = model.expected_residual_lifetime(table, d).iloc[0]
    assert value == pytest.approx(_series(alpha, beta, n, d), rel=1e-10)
    # The BdW computes the same quantity by its own series (c = 1).
    bdw = BetaDiscreteWeibullModel().set_params_({"alpha": alpha, "beta": beta, "c": 1.0})
    assert bdw.expected_residual_lifetime(table, d).iloc[0] == pytest.approx(value, rel=1e-10)


def test_residual_lifetime_is_zero_for_churned_customers_and_bounded_by_the_horizon():
    model = ShiftedBetaGeoModel().set_params_({"alpha": 0.7, "beta": 1.2})
    table = pd.DataFrame({"renewals": [3, 3, 0], "churned": [True, False, False]},
                         index=pd.Index(["a", "b", "c"], name="customer"))
    value = model.expected_residual_lifetime(table, 0.1)
    assert value.index.equals(table.index) and value["a"] == 0.0
    # Undiscounted over 5 periods: the sum of five survival ratios (recursion; 1e-12).
    five = model.expected_residual_lifetime(table, 0.0, horizon=5)
    survival = _recursion_survival(0.7, 1.2, 8)
    assert five["b"] == pytest.approx(survival[4:9].sum() / survival[3], rel=1e-12)
    with pytest.raises(ValueError, match="infinite horizon needs a positive discount_rate"):
        model.expected_residual_lifetime(table, 0.0)


# ----------------------------------------------------------------------------- BdW
@pytest.mark.parametrize(("alpha", "beta", "c"), [(0.668, 3.806, 1.0), (0.2, 1.4, 1.7),
                                                  (3.0, 0.5, 0.4), (1e-3, 50.0, 2.5)])
def test_bdw_survival_equals_quadrature_over_theta(alpha, beta, c):
    """S(t) = integral of (1 - theta)^(t^c) over theta ~ Beta(alpha, beta), by adaptive
    quadrature (QUADPACK, relative tolerance 1e-12) in u = theta^alpha, which takes the Beta
    density's singularity at 0 away (the integrand becomes (1 - theta)^(t^c + beta - 1) /
    (alpha B(alpha, beta))): 1e-8 relative."""
    t = np.array([1.0, 2.0, 5.0, 12.0, 50.0])
    model = BetaDiscreteWeibullModel().set_params_({"alpha": alpha, "beta": beta, "c": c})
    log_norm = np.log(alpha) + scipy.special.betaln(alpha, beta)

    def integrand(u: float, t_: float) -> float:
        return np.exp((t_ ** c + beta - 1) * np.log1p(-u ** (1 / alpha)) - log_norm)

    expected = [scipy.integrate.quad(integrand, 0, 1, args=(t_,), epsabs=0, epsrel=1e-12,
                                     limit=200)[0] for t_ in t]
    np.testing.assert_allclose(model.survival(t), expected, rtol=1e-8)


def test_bdw_at_c_equal_one_is_the_sbg():
    """Likelihood per row and every prediction: the BdW's differences of survivals against
    the sBG's closed forms, to rounding (1e-12 relative; up to 1e-10 for n = 10,000, whose
    log-survival of ~-10 nats leaves its rounding in a step of ~1e-4)."""
    n = np.array([0, 1, 2, 7, 12, 100, 10_000] * 2, dtype=float)
    churned = np.repeat([1.0, 0.0], 7)
    data = FitData({"n": n, "churned": churned}, np.ones(len(n)))
    for alpha, beta in [(0.668, 3.806), (0.704, 1.182), (1e-3, 50.0), (30.0, 0.2)]:
        np.testing.assert_allclose(
            BETA_DISCRETE_WEIBULL.log_likelihood((alpha, beta, 1.0), data),
            SHIFTED_BETA_GEO.log_likelihood((alpha, beta), data), rtol=1e-10)
        sbg = ShiftedBetaGeoModel().set_params_({"alpha": alpha, "beta": beta})
        bdw = BetaDiscreteWeibullModel().set_params_({"alpha": alpha, "beta": beta, "c": 1.0})
        t = np.arange(1, 40)
        for name in ("survival", "retention", "churn_probability"):
            np.testing.assert_allclose(getattr(bdw, name)(t), getattr(sbg, name)(t),
                                       rtol=1e-12, err_msg=name)


def test_bdw_nests_the_sbg_in_the_fit(cohorts):
    """On the same data the BdW's maximum is at least the sBG's (it nests it at c = 1): the
    two optimisers' tolerances (~1e-6 nats) apart at most."""
    table = _calibration(cohorts, "high_end")
    sbg = ShiftedBetaGeoModel().fit(table)
    bdw = BetaDiscreteWeibullModel().fit(table)
    assert bdw.log_likelihood_ >= sbg.log_likelihood_ - 1e-6


@pytest.mark.parametrize("model_class", [ShiftedBetaGeoModel, BetaDiscreteWeibullModel])
def test_simulation_recovers_the_parameters(model_class):
    """20,000 customers observed for 1 to 15 renewal dates, fitted back: each parameter within
    4 standard errors of the truth (a false alarm has probability ~6e-5 for a Gaussian
    estimate; the seed is fixed)."""
    truth = {"alpha": 0.8, "beta": 2.5} | ({"c": 0.7} if model_class.family.name == "bdw"
                                           else {})
    rng = np.random.default_rng(3)
    simulated = model_class().set_params_(truth, time_unit="M").simulate(
        20_000, rng.integers(1, 16, 20_000), random_state=rng)
    assert simulated.attrs["time_unit"] == "M"
    model = model_class().fit(simulated)
    error = (model.params_ - pd.Series(truth)).abs()
    assert np.all(error <= 4 * model.summary()["std_error"]), (model.params_, error)


def test_simulated_survival_matches_the_formula():
    """The share of simulated customers who survive t periods against S(t): 100,000 draws,
    binomial standard error <= 0.0016, so 5 standard errors (0.008)."""
    model = BetaDiscreteWeibullModel().set_params_({"alpha": 0.5, "beta": 1.5, "c": 1.6})
    simulated = model.simulate(100_000, 10, random_state=5)
    lifetime = np.where(simulated["churned"], simulated["renewals"] + 1, np.inf)
    t = np.arange(1, 11)
    empirical = (lifetime[:, None] > t).mean(axis=0)
    np.testing.assert_allclose(empirical, model.survival(t), atol=0.008)


# ----------------------------------------------------------------------------- properties
positive = st.floats(1e-6, 1e6)


@pytest.mark.parametrize("model_class", [ShiftedBetaGeoModel, BetaDiscreteWeibullModel])
@settings(max_examples=40, deadline=None)
@given(alpha=positive, beta=positive, c=positive)
def test_curves_are_probabilities_and_survival_does_not_rise(model_class, alpha, beta, c):
    """At any parameters in [1e-6, 1e6] and up to 10,000 periods: S in [0, 1] and
    non-increasing, retention and churn probabilities in [0, 1], the residual lifetime finite,
    >= 0 and at most the horizon's sum of discount factors (1 / d); the likelihood finite
    (to rounding: 1e-12 above 1 or below 0)."""
    params = {"alpha": alpha, "beta": beta} | ({"c": c} if model_class.family.name == "bdw"
                                               else {})
    model = model_class().set_params_(params)
    t = np.array([0, 1, 2, 3, 10, 100, 1_000, 10_000], dtype=float)
    survival = model.survival(t).to_numpy()
    assert np.all(np.isfinite(survival)) and np.all((survival >= 0) & (survival <= 1))
    assert np.all(np.diff(survival) <= 1e-12)
    for curve in (model.retention(t[1:]), model.churn_probability(t[1:])):
        values = curve.to_numpy()
        assert np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1 + 1e-12))
    table = pd.DataFrame({"renewals": [0, 5, 10_000, 3], "churned": [False, False, False,
                                                                     True]})
    residual = model.expected_residual_lifetime(table, 0.05).to_numpy()
    assert np.all(np.isfinite(residual)) and np.all(residual >= 0)
    assert np.all(residual <= (1 / 0.05) * (1 + 1e-12))
    fit_data = FitData({"n": t, "churned": np.ones(len(t))}, np.ones(len(t)))
    assert np.all(np.isfinite(model.family.log_likelihood(tuple(params.values()), fit_data)))


# ----------------------------------------------------------------------------- inputs
def test_cohort_to_customers_counts_every_customer_once(cohorts):
    table = cohort_to_customers(cohorts["regular"], time_unit="Y")
    assert len(table) == 1000 and table.attrs["time_unit"] == "Y"
    active = table[~table["churned"]]
    assert len(active) == 173 and active["renewals"].eq(12).all()
    assert (table["churned"] & (table["renewals"] == 0)).sum() == 1000 - 631
    weighted = cohort_to_customers(cohorts["regular"], expand=False)
    assert weighted["weights"].sum() == 1000
    # The weighted rows and the customers give the same fit (the same distinct rows).
    a = ShiftedBetaGeoModel().fit(table)
    b = ShiftedBetaGeoModel().fit(weighted, weights=weighted["weights"])
    np.testing.assert_array_equal(a.params_.to_numpy(), b.params_.to_numpy())


@pytest.mark.parametrize(("survivors", "message"), [
    ([1000, 1200, 900], "period 1 has 1200 customers, more than the 1000 of period 0"),
    ([1000, 800.5], "period 1 has 800.5; expected a whole number"),
    ([1000, -1], "period 1 has -1; expected a whole number of customers >= 0"),
    ([1000], "at least two"),
    ([0, 0], "no customers at period 0"),
])
def test_cohort_tables_that_are_not_survival_counts_are_refused(survivors, message):
    with pytest.raises(ValidationError, match=message):
        cohort_to_customers(survivors)


def test_contract_tables_are_checked():
    model = ShiftedBetaGeoModel()
    with pytest.raises(ValidationError, match="This is an RFM table of repeat purchases"):
        model.fit(load_cdnow_summary())
    bad = pd.DataFrame({"renewals": [1, 2.5], "churned": [True, False]},
                       index=pd.Index(["a", "b"], name="customer"))
    with pytest.raises(ValidationError, match=r"'renewals'.*customer 'b', value 2.5.*whole"):
        model.fit(bad)
    bad = pd.DataFrame({"renewals": [1, 2], "churned": ["yes", "no"]})
    with pytest.raises(ValidationError, match=r"'churned'.*customer 0, value 'yes'"):
        model.fit(bad)
    text = pd.DataFrame({"renewals": [1, 2, 0], "churned": ["True", " false", "1"]})
    renewals, churned = check_contracts(text)
    assert churned.tolist() == [True, False, True] and renewals.tolist() == [1.0, 2.0, 0.0]


def test_a_series_that_cannot_converge_says_so():
    """At d = 1e-7 per period the tail bound z^K / d needs ~4e8 terms: refused, not cut
    short silently."""
    model = BetaDiscreteWeibullModel().set_params_({"alpha": 1e-6, "beta": 1e6, "c": 1e-6})
    table = pd.DataFrame({"renewals": [1], "churned": [False]})
    with pytest.raises(ValueError, match="too small for the residual lifetime's series"):
        model.expected_residual_lifetime(table, 1e-7)


@pytest.mark.parametrize(("alpha", "beta", "n", "d"), [(0.668, 3.806, 7, 0.1),
                                                       (0.704, 1.182, 0, 0.05)])
def test_retention_elasticity_is_the_derivative_of_the_residual_lifetime(alpha, beta, n, d):
    """Retention rates times (1 + e) are the DERL series at z (1 + e), i.e. at the discount
    rate (1 + d) / (1 + e) - 1: the elasticity against a central difference of log DERL (by
    the 2F1 closed form) in x = log(1 + e), step h = 1e-5. Its truncation error is h^2 / 6
    times the third derivative, the third cumulant of the renewal count k under the weights
    t_k e^(kx) (1.4e3 and 7.1e3 here: spreads of 9 and 14 renewals), so at most ~1.2e-7
    absolute, ~1.1e-8 relative to elasticities of 9 and 11; rounding ~1e-14 / h = 1e-9:
    1e-7 relative."""
    model = ShiftedBetaGeoModel().set_params_({"alpha": alpha, "beta": beta})
    table = pd.DataFrame({"renewals": [n, n], "churned": [False, True]})
    elasticity = model.retention_elasticity(table, d)
    step = 1e-5

    def log_derl(e: float) -> float:
        rate = (1 + d) / (1 + e) - 1
        return float(np.log(model.expected_residual_lifetime(table, rate).iloc[0]))

    numeric = (log_derl(np.expm1(step)) - log_derl(np.expm1(-step))) / (2 * step)
    assert elasticity.iloc[0] == pytest.approx(numeric, rel=1e-7)
    assert elasticity.iloc[1] == 0.0
