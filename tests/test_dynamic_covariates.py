"""Time-varying covariates of the Pareto/NBD (Bachmann, Meierer & Naef 2021): the likelihood
against the models without covariates and with static ones, its gradient, predictions,
recovery of a seasonal effect from simulated customers, the apparel data (CLVTools'
apparelDynCov) and every bad input."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from _apparel import REFERENCE_DATA
from _tolerances import assert_same_maximum
from scipy import integrate
from test_covariates import apparel  # noqa: F401 (the apparel fixture)

from clvmodels import ParetoNBDModel, ValidationError, rfm_summary
from clvmodels.estimation.covariate_fit import Coordinates
from clvmodels.estimation.covariates import CovariateDesign
from clvmodels.estimation.dynamic_covariates import covariate_periods
from clvmodels.estimation.fitdata import FitData
from clvmodels.models.pareto_nbd_dynamic import DynamicObjective

END = pd.Timestamp("2024-12-29")  # a Sunday: weekly periods start on Sundays
WEEK = pd.Timedelta(days=7)
FAMILY = ParetoNBDModel.family


def season(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """A calendar season shared by every customer: 3 weeks in 8 are high season."""
    weeks = np.asarray((dates - pd.Timestamp("2000-01-02")) // WEEK, dtype=np.int64)
    return (weeks % 8 < 3).astype(float)


def simulate(truth: dict, n: int, seed: int, horizon: int = 20, t_range=(10.0, 30.0)):
    """Customers of a Pareto/NBD whose rates are piecewise constant per week: purchase rate
    ``lambda exp(g_p' z(t))``, dropout rate ``mu exp(g_d' z(t))``, z = (season(t), segment).

    Per customer: lambda ~ Gamma(r, alpha), mu ~ Gamma(s, beta); the lifetime is where the
    effective dropout time mu B(t) reaches an Exp(1) draw (B piecewise linear, inverted on
    its piece); on each piece of the lifetime within (0, T] the purchases are Poisson with
    mean lambda a_k times its length, at uniform times within it. Returns the RFM table (with
    the attrs rfm_summary records), the weekly covariate table to the end of ``horizon``
    weeks after the calibration end, and the transaction log.
    """
    rng = np.random.default_rng(seed)
    T = rng.uniform(*t_range, n)
    segment = (rng.random(n) < 0.5).astype(float)
    rates = rng.gamma(truth["r"], 1 / truth["alpha"], n)
    dropouts = rng.gamma(truth["s"], 1 / truth["beta"], n)
    covariates, transactions, rfm = [], [], []
    for i in range(n):
        first = END - T[i] * WEEK
        sunday = first.normalize() - pd.Timedelta(days=(first.day_of_week + 1) % 7)
        periods = pd.date_range(sunday, END + horizon * WEEK, freq="7D")
        z = season(periods)
        covariates.append(pd.DataFrame({"customer": i, "date": periods, "season": z,
                                        "segment": segment[i]}))
        start = (periods - first) / WEEK  # the periods on the customer's axis
        begin = np.maximum(start, 0.0)
        length = np.clip(np.minimum(start + 1, T[i]) - begin, 0.0, None)
        a = np.exp(truth["purchase.season"] * z + truth["purchase.segment"] * segment[i])
        b = np.exp(truth["dropout.season"] * z + truth["dropout.segment"] * segment[i])
        cumulative = np.concatenate([[0.0], np.cumsum(b * length)])
        threshold = rng.exponential() / dropouts[i]
        k = np.searchsorted(cumulative, threshold) - 1
        lifetime = (begin[k] + (threshold - cumulative[k]) / b[k] if k < len(length)
                    else np.inf)
        active = np.clip(np.minimum(begin + length, lifetime) - begin, 0.0, None)
        counts = rng.poisson(rates[i] * a * active)
        times = np.sort(np.concatenate([np.zeros(0)] + [
            begin[j] + active[j] * rng.random(c) for j, c in enumerate(counts) if c]))
        transactions.append(pd.DataFrame({"customer": i,
                                          "date": first + np.r_[0.0, times] * WEEK}))
        rfm.append((len(times), times[-1] if len(times) else 0.0, T[i]))
    table = pd.DataFrame(rfm, columns=["frequency", "recency", "T"],
                         index=pd.Index(np.arange(n), name="customer"))
    table.attrs.update(time_unit="W", observation_end=END.isoformat())
    return table, pd.concat(covariates, ignore_index=True), pd.concat(transactions,
                                                                      ignore_index=True)


TRUTH = {"r": 0.9, "alpha": 6.0, "s": 0.8, "beta": 20.0,
         "purchase.season": 0.7, "purchase.segment": -0.5,
         "dropout.season": 0.6, "dropout.segment": 0.4}
BOTH = {"purchase_covariates": ["season", "segment"],
        "dropout_covariates": ["season", "segment"]}
NAMES = {"customer_col": "customer", "date_col": "date"}


@pytest.fixture(scope="module")
def simulated():
    return simulate(TRUTH, 300, seed=5)


def objective_of(rfm, covariates, transactions, columns=BOTH):
    model = ParetoNBDModel(**columns)
    spec = model.covariate_spec()
    periods = covariate_periods(rfm, covariates, spec.source_columns(), "customer", "date",
                                "test", purchase_columns=list(spec.processes["purchase"]),
                                transactions=transactions)
    rows = periods.calibration_rows
    design = CovariateDesign.fit(spec, rows, np.ones(len(rows), dtype=bool),
                                 periods.calibration.length)
    coordinates = Coordinates.of(FAMILY, design, np.ones(4))
    return coordinates, DynamicObjective(coordinates, periods.calibration,
                                         design.standardised(design.matrix(rows)), 0.0)


# ------------------------------------------------------------------------------ likelihood
def test_zero_coefficients_give_the_likelihood_without_covariates(simulated):
    rfm, covariates, transactions = simulated
    coordinates, objective = objective_of(rfm, covariates, transactions)
    base = np.array([0.7, 5.0, 0.9, 12.0])
    phi = np.concatenate([np.log(base), np.zeros(coordinates.n_free)])
    plain = FitData({name: rfm[column].to_numpy(float) for name, column in
                     (("x", "frequency"), ("t_x", "recency"), ("T", "T"))}, np.ones(len(rfm)))
    # The same function evaluated two ways: the closed form (2F1) without covariates, a sum
    # over weekly pieces of the quadrature here; each row's value agrees to ~1e-13 relative
    # of its terms (the quadrature's accuracy, tests/test_pareto_nbd_numerics.py), so the
    # totals of rows of one sign to 1e-12.
    assert objective.log_likelihood(phi, False)[0] == pytest.approx(
        FAMILY.total_log_likelihood(base, plain), rel=1e-12)


def test_gradient_matches_finite_differences(simulated):
    rfm, covariates, transactions = simulated
    coordinates, objective = objective_of(rfm, covariates, transactions)
    rng = np.random.default_rng(2)
    phi = np.concatenate([np.log([0.8, 6.0, 0.7, 15.0]) + rng.normal(0, 0.2, 4),
                          rng.normal(0, 0.3, coordinates.n_free)])
    gradient = objective.log_likelihood(phi)[1]
    h = 1e-5
    numeric = np.array([(objective.log_likelihood(phi + step, False)[0]
                         - objective.log_likelihood(phi - step, False)[0]) / (2 * h)
                        for step in np.eye(len(phi)) * h])
    # Central differences: truncation ~h^2 |LL'''| (~1e-10 relative here) and rounding
    # ~1e-16 |LL| / h (|LL| ~ 1e3: 1e-8), plus the quadrature's ~1e-13 relative noise in
    # each row / h; 1e-6 relative to the largest component covers them.
    assert np.allclose(gradient, numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max())


@pytest.fixture(scope="module")
def constant_fits(simulated):
    """A constant covariate (segment) fitted from the long table and from the RFM table."""
    rfm, covariates, _ = simulated
    static = {"purchase_covariates": ["segment"], "dropout_covariates": ["segment"]}
    dynamic = ParetoNBDModel(**static).fit(rfm, time_varying_covariates=covariates, **NAMES)
    table = rfm.join(covariates.groupby("customer")["segment"].first())
    return dynamic, ParetoNBDModel(**static).fit(table), table


@pytest.fixture(scope="module")
def seasonal_dropout(simulated):
    rfm, covariates, _ = simulated
    return ParetoNBDModel(dropout_covariates=["season"]).fit(
        rfm, time_varying_covariates=covariates, **NAMES)


def test_constant_covariates_give_the_static_fit(constant_fits):
    dynamic, fixed, _ = constant_fits
    assert list(dynamic.params_.index) == list(fixed.params_.index)
    # One likelihood, two routes (closed form vs quadrature per piece, each row to ~1e-13):
    # both maxima within the optimisers' stopping gaps, parameters in standard errors.
    assert_same_maximum(dynamic, fixed)


# ------------------------------------------------------------------------------ predictions
def test_predictions_with_constant_covariates_are_the_static_ones(simulated, constant_fits):
    rfm, covariates, _ = simulated
    dynamic, fixed, table = constant_fits
    dynamic = copy.deepcopy(dynamic)
    dynamic.params_ = fixed.params_.copy()  # the same parameters, to compare the formulas
    predictor = dynamic.with_time_varying_covariates(covariates)
    # P(alive) is exp(alive term - LL): the two LLs agree to ~1e-13 of their terms (|LL| of
    # a customer below ~100), so 1e-10 relative; the future is a closed form both ways.
    assert np.allclose(predictor.probability_alive(rfm), fixed.probability_alive(table),
                       rtol=1e-10, atol=0)
    assert np.allclose(predictor.expected_purchases(rfm, 15.5),
                       fixed.expected_purchases(table, 15.5), rtol=1e-10, atol=0)


def test_expected_purchases_integrate_the_future_covariates(simulated):
    rfm, covariates, transactions = simulated
    model = ParetoNBDModel(**BOTH)
    model.fit(rfm, time_varying_covariates=covariates, transactions=transactions, **NAMES)
    params = model.params_
    t, discount = 12.3, 0.02
    predictor = model.with_time_varying_covariates(covariates)
    expected = predictor.expected_purchases(rfm, t)
    discounted = predictor.discounted_expected_purchases(rfm, horizon=t, discount_rate=discount)
    alive = predictor.probability_alive(rfm)
    r, alpha, s, beta = (params[name] for name in ("r", "alpha", "s", "beta"))
    for customer in rfm.index[:4]:
        x, _, T = rfm.loc[customer]
        rows = covariates[covariates.customer == customer]
        start = T - ((END - rows.date) / WEEK).to_numpy()
        z = rows[["season", "segment"]].to_numpy()
        a = np.exp(z @ params[["purchase.season", "purchase.segment"]].to_numpy())
        b = np.exp(z @ params[["dropout.season", "dropout.segment"]].to_numpy())

        def effective(rate, time, start=start):  # integral_0^time of the step function
            inside = np.clip(np.minimum(start + 1, time) - np.maximum(start, 0), 0, None)
            return float(rate @ inside)

        def integrand(w, rate=0.0, a=a, b=b, start=start, T=T):
            k = np.searchsorted(start, w, side="right") - 1
            return (a[k] * ((beta + effective(b, T)) / (beta + effective(b, w))) ** s
                    * (1 + rate) ** -(w - T))

        breaks = [p for p in start if T < p < T + t]
        factor = alive[customer] * (r + x) / (alpha + effective(a, T))
        for rate, found in ((0.0, expected), (discount, discounted)):
            value, _ = integrate.quad(integrand, T, T + t, args=(rate,), points=breaks,
                                      limit=200, epsabs=0, epsrel=1e-12)
            # quad to 1e-12 relative; the closed form per piece to rounding, the
            # Gauss-Legendre rule of the discounted one to ~1e-11.
            assert found[customer] == pytest.approx(factor * value, rel=1e-9)


def test_static_predictions_of_a_dynamic_fit_are_refused(simulated, seasonal_dropout,
                                                         tmp_path):
    rfm, covariates, _ = simulated
    model = seasonal_dropout
    with pytest.raises(ValidationError, match="with_time_varying_covariates"):
        model.probability_alive(rfm.assign(season=0.0))
    # A saved fit keeps its names; the table is given again.
    model.save(tmp_path / "model.json")
    loaded = ParetoNBDModel.load(tmp_path / "model.json")
    assert loaded.time_varying_covariates_ == {"customer_col": "customer", "date_col": "date"}
    pd.testing.assert_series_equal(
        loaded.with_time_varying_covariates(covariates).expected_purchases(rfm, 5.0),
        model.with_time_varying_covariates(covariates).expected_purchases(rfm, 5.0))
    with pytest.raises(ValidationError, match="with_time_varying_covariates"):
        loaded.probability_alive(rfm.assign(season=0.0))


# ------------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def small():
    return simulate(TRUTH, 6, seed=9, horizon=4)


def fit_small(rfm, covariates, transactions=None, **columns):
    columns = columns or {"dropout_covariates": ["season"]}
    return ParetoNBDModel(**columns).fit(rfm, time_varying_covariates=covariates,
                                         transactions=transactions, **NAMES)


def test_a_gap_is_refused(small):
    rfm, covariates, _ = small
    rows = covariates.index[covariates.customer == 2]
    gap = covariates.drop(rows[3])
    missing = covariates.loc[rows[3], "date"].date()
    with pytest.raises(ValidationError, match=f"customer 2 has a gap.*starting {missing}"):
        fit_small(rfm, gap)


def test_a_customer_without_periods_is_refused(small):
    rfm, covariates, _ = small
    with pytest.raises(ValidationError, match="1 customer.*customer 4"):
        fit_small(rfm, covariates[covariates.customer != 4])


def test_periods_starting_after_the_first_purchase_are_refused(small):
    rfm, covariates, _ = small
    first = covariates.index[covariates.customer == 1][0]
    with pytest.raises(ValidationError, match="customer 1: the first covariate period starts "
                                              ".*after the customer's first purchase"):
        fit_small(rfm, covariates.drop(first))


def test_periods_not_covering_the_calibration_end_are_refused(small):
    rfm, covariates, _ = small
    late = (covariates.customer == 3) & (covariates.date >= END - WEEK)
    with pytest.raises(ValidationError, match="customer 3: .*end at 2024-12-22, before the "
                                              "calibration end, 2024-12-29"):
        fit_small(rfm, covariates[~late])


def test_periods_not_covering_the_horizon_are_refused(simulated, seasonal_dropout):
    rfm, covariates, _ = simulated
    predictor = seasonal_dropout.with_time_varying_covariates(covariates)
    # The last period starts 20 weeks after the calibration end and lasts a week.
    assert np.all(np.isfinite(predictor.expected_purchases(rfm, 21.0)))
    covered = (END + 21 * WEEK).date()
    with pytest.raises(ValidationError, match=rf"customer 0: .*end at {covered}, before the "
                                              r"end of the horizon \(21.5 weeks after it\)"):
        predictor.expected_purchases(rfm, 21.5)


def test_duplicated_periods_are_refused(small):
    rfm, covariates, _ = small
    twice = pd.concat([covariates, covariates.iloc[[10]]])
    with pytest.raises(ValidationError, match="customer 0 has more than one row for the period "
                                              f"starting {covariates.date.iloc[10].date()}"):
        fit_small(rfm, twice)


def test_missing_values_are_refused(small):
    rfm, covariates, _ = small
    holes = covariates.copy()
    holes.loc[holes.index[20], "season"] = np.nan
    who, when = holes.customer.iloc[20], holes.date.iloc[20].date()
    with pytest.raises(ValidationError, match=f"column 'season' has 1 missing value.*customer "
                                              f"{who}, period {when}"):
        fit_small(rfm, holes)


def test_misplaced_dates_are_refused(small):
    rfm, covariates, _ = small
    shifted = covariates.copy()
    shifted.loc[shifted.index[5], "date"] += pd.Timedelta(days=2)
    with pytest.raises(ValidationError, match="one week apart"):
        fit_small(rfm, shifted)


def test_a_changing_purchase_covariate_needs_the_transactions(small):
    rfm, covariates, transactions = small
    with pytest.raises(ValidationError, match="'season' .*changes during the calibration of "
                                              "customer 0.*transactions="):
        fit_small(rfm, covariates, purchase_covariates=["season"])
    # Customer 1's first purchase, then one of their repeat purchases, left out of the log.
    first, repeat = transactions.index[transactions.customer == 1][:2]
    with pytest.raises(ValidationError, match="transactions: customer 1: the first purchase"):
        fit_small(rfm, covariates, transactions.drop(first), purchase_covariates=["season"])
    with pytest.raises(ValidationError, match="transactions: customer 1 has 12 repeat .*RFM "
                                              "table says frequency 13"):
        fit_small(rfm, covariates, transactions.drop(repeat), purchase_covariates=["season"])


def test_tables_without_a_fixed_unit_or_observation_end_are_refused(small):
    rfm, covariates, _ = small
    monthly = rfm.copy()
    monthly.attrs = {**rfm.attrs, "time_unit": "M"}
    with pytest.raises(ValidationError, match="fixed length"):
        fit_small(monthly, covariates)
    bare = rfm.copy()
    bare.attrs = {}
    with pytest.raises(ValidationError, match="observation_end"):
        fit_small(bare, covariates)


# ------------------------------------------------------------------------------ slow checks
@pytest.mark.slow
def test_simulation_recovery_of_a_seasonal_effect():
    rfm, covariates, transactions = simulate(TRUTH, 3000, seed=11, horizon=0,
                                             t_range=(20.0, 40.0))
    fitted = ParetoNBDModel(**BOTH).fit(rfm, time_varying_covariates=covariates,
                                        transactions=transactions, **NAMES)
    error = (fitted.params_ - pd.Series(TRUTH)) / fitted.summary()["std_error"]
    # Consistent estimates with their standard errors: every parameter within 4 se (for 8
    # approximately normal errors, all within 4 se with probability 0.9995).
    assert np.all(np.abs(error) < 4), error


@pytest.fixture(scope="module")
def apparel_periods():
    path = REFERENCE_DATA / "apparel_dynamic_covariates.csv"
    if not path.exists():
        pytest.skip(f"the apparel reference data (CLVTools, GPL: not shipped) are not in "
                    f"{REFERENCE_DATA}; set CLVMODELS_REFERENCE_DATA to their folder")
    return pd.read_csv(path, parse_dates=["Cov.Date"])


@pytest.fixture(scope="module")
def apparel_log(apparel_periods):
    """The apparel transactions and their RFM summary to 2006-12-31 in weeks (with the attrs
    that place the covariate periods: joining the static covariates drops them)."""
    transactions = pd.read_csv(REFERENCE_DATA / "apparel_transactions.csv",
                               parse_dates=["Date"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # later transactions are left out, as intended
        rfm = rfm_summary(transactions, "Id", "Date", observation_end="2006-12-31",
                          time_unit="W")
    return transactions, rfm


@pytest.mark.slow
def test_apparel_constant_covariates_give_clvtools_static_fit(apparel, apparel_periods,  # noqa: F811
                                                              apparel_log):
    # Gender and Channel are constant per customer in apparelDynCov: the static fit's
    # published figures (CLVTools) from the long table.
    both = {"purchase_covariates": ["Gender", "Channel"],
            "dropout_covariates": ["Gender", "Channel"]}
    fitted = ParetoNBDModel(**both).fit(apparel_log[1], time_varying_covariates=apparel_periods,
                                        customer_col="Id", date_col="Cov.Date")
    assert fitted.log_likelihood_ == pytest.approx(-5821.0627, abs=1e-3)
    assert_same_maximum(fitted, ParetoNBDModel(**both).fit(apparel))


@pytest.mark.slow
def test_apparel_high_season_fit(apparel, apparel_periods, apparel_log):  # noqa: F811
    transactions, rfm = apparel_log
    columns = {"purchase_covariates": ["High.Season", "Gender", "Channel"],
               "dropout_covariates": ["Gender", "Channel"]}
    fitted = ParetoNBDModel(**columns).fit(
        rfm, time_varying_covariates=apparel_periods, customer_col="Id", date_col="Cov.Date",
        transactions=transactions, transaction_date_col="Date")
    static = ParetoNBDModel(**{k: v[-2:] for k, v in columns.items()}).fit(apparel)
    # One more parameter, nested: the likelihood cannot be lower; high season buys more.
    assert fitted.log_likelihood_ > static.log_likelihood_
    row = fitted.summary().loc["purchase.High.Season"]
    assert row["lower_95%"] > 0
    predictor = fitted.with_time_varying_covariates(apparel_periods)
    assert np.all(predictor.expected_purchases(rfm, 52) > 0)
