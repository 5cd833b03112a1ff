"""clvmodels.compat.lifetimes' fitters against the real lifetimes (the dev extra) on CDNOW and
the donations data: the same optimum, the same predictions at the same parameters, lifetimes'
shapes and indexes, and clvmodels' finite values where lifetimes fails."""

from __future__ import annotations

import pickle
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodels import ValidationError, load_cdnow_summary, load_donations
from clvmodels.compat import install_lifetimes_alias
from clvmodels.compat import lifetimes as compat

real = pytest.importorskip("lifetimes")

# Both sides evaluate closed forms (hypergeometric functions, log-gamma sums) in double
# precision; their differences seen are ~1e-13 relative: 1e-8 leaves room for the
# conditioning of hyp2f1 near z = 1 and is far below any modelling difference.
RTOL = 1e-8
# lifetimes stops minimize at tol=1e-7 on its mean penalised objective (1e-4 for the
# Pareto/NBD's Nelder-Mead); clvmodels' optimiser, at gradient 1e-10, must not end above it.
LIFETIMES_TOL = 1e-7
PARETO_TOL = 1e-4


@pytest.fixture(scope="module")
def cdnow():
    return load_cdnow_summary()


@pytest.fixture(scope="module")
def donations():
    return load_donations()


def quiet(function, *args, **kwargs):
    """Call lifetimes (which warns about its own deprecated numpy and pandas uses)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def fit_pair(name, *columns, real_kwargs=None, **kwargs):
    real_fitter = quiet(getattr(real, name)(**kwargs).fit, *columns, **(real_kwargs or {}))
    compat_fitter = getattr(compat, name)(**kwargs).fit(*columns)
    return real_fitter, compat_fitter


def same_optimum(real_fitter, compat_fitter, tol):
    """clvmodels' objective is not above lifetimes' (beyond its tolerance) and the estimates
    agree within a standard error."""
    assert compat_fitter._negative_log_likelihood_ <= real_fitter._negative_log_likelihood_ + tol
    difference = (compat_fitter.params_ - real_fitter.params_).abs()
    assert (difference < compat_fitter.standard_errors_).all()


def at_params(compat_fitter, params):
    compat_fitter.params_ = params.copy()
    return compat_fitter


# ---------------------------------------------------------------------------- BG/NBD, MBG/NBD
@pytest.fixture(scope="module", params=["BetaGeoFitter", "ModifiedBetaGeoFitter"])
def beta_geo_pair(request, cdnow):
    return fit_pair(request.param, cdnow["frequency"], cdnow["recency"], cdnow["T"])


def test_beta_geo_fit_same_optimum_and_lifetimes_attributes(beta_geo_pair, cdnow):
    real_fitter, compat_fitter = beta_geo_pair
    same_optimum(real_fitter, compat_fitter, LIFETIMES_TOL)
    assert list(compat_fitter.params_.index) == list(real_fitter.params_.index)
    assert compat_fitter._scale == real_fitter._scale
    pd.testing.assert_index_equal(compat_fitter.summary.columns, real_fitter.summary.columns)
    pd.testing.assert_frame_equal(compat_fitter.data, real_fitter.data)
    # Standard errors from the observed information at optima that differ by ~1e-7 relative
    # (lifetimes' tol), Hessians exact (autograd) or to ~1e-5 (clvmodels' differences).
    np.testing.assert_allclose(compat_fitter.standard_errors_, real_fitter.standard_errors_,
                               rtol=1e-3)
    predict = compat_fitter.conditional_expected_number_of_purchases_up_to_time
    assert compat_fitter.predict == predict
    assert repr(compat_fitter).startswith(f"<lifetimes.{type(compat_fitter).__name__}: "
                                          f"fitted with {len(cdnow)} subjects, a: ")


def test_beta_geo_predictions_match_lifetimes(beta_geo_pair, cdnow):
    real_fitter, compat_fitter = beta_geo_pair
    fitter = at_params(compat_fitter, real_fitter.params_)
    f, r, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    for method, args in [
        ("conditional_expected_number_of_purchases_up_to_time", (39, f, r, T)),
        ("conditional_expected_number_of_purchases_up_to_time", (np.array([1.0, 39, 100]), 2,
                                                                 30.43, 38.86)),
        ("conditional_probability_alive", (f, r, T)),
        ("expected_number_of_purchases_up_to_time", (np.array([0.1429, 1.0, 32.0, 78.0]),)),
    ]:
        expected = np.asarray(quiet(getattr(real_fitter, method), *args))
        actual = getattr(fitter, method)(*args)
        np.testing.assert_allclose(np.asarray(actual).ravel(), expected.ravel(), rtol=RTOL)
    for n in (0, 1, 10, 20):
        np.testing.assert_allclose(fitter.probability_of_n_purchases_up_to_time(30, n),
                                   real_fitter.probability_of_n_purchases_up_to_time(30, n),
                                   rtol=RTOL)


def test_beta_geo_shapes_follow_the_inputs(beta_geo_pair, cdnow):
    _, fitter = beta_geo_pair
    scalar = fitter.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
    assert isinstance(scalar, float)
    assert isinstance(fitter.conditional_probability_alive(1, 2, 3), float)
    series = fitter.conditional_probability_alive(cdnow["frequency"], cdnow["recency"],
                                                  cdnow["T"])
    assert isinstance(series, pd.Series)
    pd.testing.assert_index_equal(series.index, cdnow.index)
    grid = fitter.conditional_expected_number_of_purchases_up_to_time(
        np.ones((2, 3)), 2, 30.43, 38.86)
    assert grid.shape == (2, 3)


def test_beta_geo_probability_alive_matrix_matches_lifetimes(beta_geo_pair):
    real_fitter, compat_fitter = beta_geo_pair
    fitter = at_params(compat_fitter, real_fitter.params_)
    expected = quiet(real_fitter.conditional_probability_alive_matrix)
    actual = fitter.conditional_probability_alive_matrix()
    assert actual.shape == expected.shape
    # Column 0 (no repeat purchase): lifetimes' MBG/NBD reads a recency there; such a customer
    # has recency 0, which the compat layer uses for the whole column.
    np.testing.assert_allclose(actual[:, 1:], expected[:, 1:], rtol=RTOL)
    np.testing.assert_allclose(actual[:, 0], expected[0, 0], rtol=RTOL)


def test_frequency_zero_with_recency_is_read_as_recency_zero(beta_geo_pair):
    _, fitter = beta_geo_pair
    with pytest.warns(UserWarning, match="frequency 0 and recency != 0"):
        odd = fitter.conditional_probability_alive(0, 10, 20)
    assert odd == fitter.conditional_probability_alive(0, 0, 20)


@pytest.mark.parametrize("name, params", [
    ("BetaGeoFitter", {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
    ("ModifiedBetaGeoFitter", {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}),
    ("ParetoNBDFitter", {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
])
def test_customers_of_age_zero_are_new_customers(name, params):
    """A customer first seen on the last day (T = 0, lifetimes' summaries and alive paths
    have them): lifetimes' values, which are the new customer's; P(alive) also with repeat
    purchases at age 0."""
    real_fitter = getattr(real, name)()
    real_fitter.params_ = pd.Series(params)
    fitter = at_params(getattr(compat, name)(), pd.Series(params))
    np.testing.assert_allclose(fitter.conditional_probability_alive(0, 0, 0),
                               quiet(real_fitter.conditional_probability_alive, 0, 0, 0),
                               rtol=RTOL)
    mixed = fitter.conditional_expected_number_of_purchases_up_to_time(
        10, np.array([0, 2]), np.array([0, 3.0]), np.array([0, 5.0]))
    expected = [quiet(real_fitter.conditional_expected_number_of_purchases_up_to_time,
                      10, x, t_x, age) for x, t_x, age in [(0, 0, 0), (2, 3.0, 5.0)]]
    np.testing.assert_allclose(mixed, expected, rtol=RTOL)
    if name == "ParetoNBDFitter":
        np.testing.assert_allclose(
            fitter.conditional_probability_of_n_purchases_up_to_time(2, 10, 0, 0, 0),
            real_fitter.conditional_probability_of_n_purchases_up_to_time(2, 10, 0, 0, 0),
            rtol=RTOL)
    # Repeat purchases at age 0 (impossible, but lifetimes' alive grids and tests ask): P(alive)
    # is the family's formula there, as lifetimes'; the other predictions refuse the history.
    x = np.array([3.0, 40.0, 90.0])
    np.testing.assert_allclose(fitter.conditional_probability_alive(x, 0, 0),
                               quiet(real_fitter.conditional_probability_alive, x, 0, 0),
                               rtol=RTOL)
    with pytest.raises(ValidationError, match="T > 0"):
        fitter.conditional_expected_number_of_purchases_up_to_time(10, 3, 0, 0)


def test_fit_with_customers_of_age_zero_is_lifetimes_fit(cdnow):
    """Customers first seen on the last day (x = 0, T = 0) have likelihood 1: lifetimes fits
    them, counting them in its mean; the compat fit gives the same penalised optimum."""
    newcomers = pd.DataFrame({"frequency": 0, "recency": 0.0, "T": np.zeros(300)})
    table = pd.concat([cdnow[["frequency", "recency", "T"]], newcomers], ignore_index=True)
    real_fitter, compat_fitter = fit_pair("BetaGeoFitter", table["frequency"],
                                          table["recency"], table["T"], penalizer_coef=0.1)
    same_optimum(real_fitter, compat_fitter, LIFETIMES_TOL)
    assert compat_fitter._negative_log_likelihood_ == pytest.approx(
        real_fitter._negative_log_likelihood_, abs=LIFETIMES_TOL)
    assert len(compat_fitter.data) == len(table)


def test_beta_geo_penalizer_is_lifetimes_objective(cdnow):
    real_fitter, compat_fitter = fit_pair("BetaGeoFitter", cdnow["frequency"],
                                          cdnow["recency"], cdnow["T"], penalizer_coef=0.1)
    same_optimum(real_fitter, compat_fitter, LIFETIMES_TOL)
    # The objective clvmodels minimised is lifetimes' own, evaluated by lifetimes.
    scaled = compat_fitter.params_.to_numpy() * [1, compat_fitter._scale, 1, 1]
    value = quiet(real.BetaGeoFitter._negative_log_likelihood, np.log(scaled),
                  cdnow["frequency"].to_numpy(), cdnow["recency"].to_numpy() * compat_fitter._scale,
                  cdnow["T"].to_numpy() * compat_fitter._scale, np.ones(len(cdnow)), 0.1)
    assert compat_fitter._negative_log_likelihood_ == pytest.approx(value, rel=1e-12)


def lifetimes_minimum(objective, point, step=1e-4):
    """Whether lifetimes' ``objective`` is lowest at ``point`` among steps of ``step`` (in
    log-parameters) along each axis: the compat fit's estimate is lifetimes' optimum. Such a
    step raises the objective by ~curvature * 5e-9, far above what clvmodels' optimiser
    leaves (gradient < 1e-10: a first-order change of ~1e-14)."""
    value = objective(point)
    for axis in np.eye(len(point)) * step:
        assert value <= objective(point + axis) and value <= objective(point - axis)
    return value


@pytest.mark.parametrize("penalizer", [0.01, 0.5])
def test_penalized_fits_minimise_lifetimes_objective(cdnow, donations, penalizer):
    """Each fitter's estimate minimises lifetimes' own penalised objective (evaluated by
    lifetimes), and ``_negative_log_likelihood_`` is its value there."""
    f, r, T = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T"))
    repeat = f > 0
    ones = np.ones(len(f))
    cases = [
        ("BetaGeoFitter", (f, r, T), [1], lambda c: c._scale, True),
        ("ModifiedBetaGeoFitter", (f, r, T), [1], lambda c: c._scale, True),
        ("ParetoNBDFitter", (f, r, T), [1, 3], lambda c: c._scale, False),
        ("GammaGammaFitter", (f[repeat], cdnow["monetary_value"].to_numpy()[repeat]), [],
         lambda c: 1.0, True),
        ("BetaGeoBetaBinomFitter", tuple(donations[c].to_numpy() for c in
                                         ("frequency", "recency", "periods")), [],
         lambda c: 1.0, True),
    ]
    for name, columns, time_params, scale_of, log_params in cases:
        weights = donations["weights"].to_numpy() if name == "BetaGeoBetaBinomFitter" else (
            ones[: len(columns[0])])
        fitter = getattr(compat, name)(penalizer_coef=penalizer).fit(*columns, weights=weights)
        scale = scale_of(fitter)
        scaled = fitter.params_.to_numpy().copy()
        scaled[time_params] *= scale
        data = tuple(c * scale if k in (1, 2) and time_params else c
                     for k, c in enumerate(columns))

        def objective(point, name=name, data=data, weights=weights, log_params=log_params):
            params = point if log_params else np.exp(point)
            return quiet(getattr(real, name)._negative_log_likelihood, params, *data,
                         weights, penalizer)

        value = lifetimes_minimum(objective, np.log(scaled))
        assert fitter._negative_log_likelihood_ == pytest.approx(value, rel=1e-10), name


def test_static_negative_log_likelihood_matches_lifetimes(cdnow):
    args = (cdnow["frequency"].to_numpy(), cdnow["recency"].to_numpy() / 39,
            cdnow["T"].to_numpy() / 39, np.ones(len(cdnow)), 0.05)
    log_params = np.log([0.3, 0.1, 0.8, 2.0])
    for name in ("BetaGeoFitter", "ModifiedBetaGeoFitter"):
        expected = quiet(getattr(real, name)._negative_log_likelihood, log_params, *args)
        actual = getattr(compat, name)._negative_log_likelihood(log_params, *args)
        assert actual == pytest.approx(expected, rel=1e-12)  # float summation of 2357 terms
    expected = quiet(real.ParetoNBDFitter._negative_log_likelihood, np.exp(log_params), *args)
    actual = compat.ParetoNBDFitter._negative_log_likelihood(np.exp(log_params), *args)
    assert actual == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------------- Pareto/NBD
@pytest.fixture(scope="module")
def pareto_pair(cdnow):
    # lifetimes draws its start from np.random: a fixed start makes its fit reproducible.
    return fit_pair("ParetoNBDFitter", cdnow["frequency"], cdnow["recency"], cdnow["T"],
                    real_kwargs={"initial_params": [0.5, 0.3, 0.6, 0.3]})


def test_pareto_fit_same_optimum(pareto_pair):
    real_fitter, compat_fitter = pareto_pair
    same_optimum(real_fitter, compat_fitter, PARETO_TOL)
    assert list(compat_fitter.summary.columns) == ["coef", "se(coef)", "lower 95% bound",
                                                   "upper 95% bound"]


def test_pareto_predictions_match_lifetimes(pareto_pair, cdnow):
    real_fitter, compat_fitter = pareto_pair
    fitter = at_params(compat_fitter, real_fitter.params_)
    f, r, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    np.testing.assert_allclose(fitter.conditional_probability_alive(f, r, T),
                               real_fitter.conditional_probability_alive(f, r, T), rtol=RTOL)
    np.testing.assert_allclose(
        fitter.conditional_expected_number_of_purchases_up_to_time(52, f, r, T),
        real_fitter.conditional_expected_number_of_purchases_up_to_time(52, f, r, T), rtol=RTOL)
    times = np.arange(1.0, 10.0)
    np.testing.assert_allclose(fitter.expected_number_of_purchases_up_to_time(times),
                               real_fitter.expected_number_of_purchases_up_to_time(times),
                               rtol=RTOL)
    for n, t, x, t_x, age in [(0, 10, 2, 30.43, 38.86), (3, 10, 26, 30.86, 31), (5, 52, 0, 0, 20)]:
        np.testing.assert_allclose(
            fitter.conditional_probability_of_n_purchases_up_to_time(n, t, x, t_x, age),
            real_fitter.conditional_probability_of_n_purchases_up_to_time(n, t, x, t_x, age),
            rtol=RTOL)
    expected = quiet(real_fitter.conditional_probability_alive_matrix, 10, 20)
    np.testing.assert_allclose(fitter.conditional_probability_alive_matrix(10, 20)[:, 1:],
                               expected[:, 1:], rtol=RTOL)


def test_pareto_finite_where_lifetimes_is_nan():
    params = pd.Series([10.465, 7.98565181e-03, 3.0516, 2.820], ["r", "alpha", "s", "beta"])
    real_fitter = real.ParetoNBDFitter()
    real_fitter.params_ = params
    fitter = at_params(compat.ParetoNBDFitter(), params)
    lifetimes_value = quiet(real_fitter.conditional_probability_alive, 10000, 30, 39)
    assert np.isnan(lifetimes_value)
    # With 10,000 purchases 9 time units before the end at this purchase rate the customer
    # is certainly gone: P(alive) underflows to 0 (lifetimes: NaN from inf / inf).
    assert fitter.conditional_probability_alive(10000, 30, 39) == 0.0
    expected = fitter.conditional_expected_number_of_purchases_up_to_time(10, 10000, 30, 39)
    assert np.isfinite(expected) and expected >= 0


def test_pareto_log_a0_matches_lifetimes():
    params = np.array([10.465, 7.98565181e-03, 3.0516, 2.820])
    histories = (np.array([400.0, 500.0, 2.0]), np.array([5.0, 1.0, 4.0]),
                 np.array([6.0, 37.0, 37.0]))
    np.testing.assert_allclose(compat.ParetoNBDFitter._log_A_0(params, *histories),
                               real.ParetoNBDFitter._log_A_0(params, *histories), rtol=RTOL)


def test_underflow_is_not_an_error_when_numpy_raises(beta_geo_pair):
    """P(alive) of 1000 purchases long ago underflows to 0: the answer, also when the caller
    has set numpy to raise on floating-point errors (lifetimes' tests do)."""
    _, fitter = beta_geo_pair
    old = np.seterr(all="raise")
    try:
        value = fitter.conditional_probability_alive(frequency=1000, recency=10, T=100)
    finally:
        np.seterr(**old)
    assert value == 0.0


def test_pareto_probability_of_no_purchase_in_no_time_is_one():
    fitter = at_params(compat.ParetoNBDFitter(),
                       pd.Series([0.55, 10.58, 0.61, 11.67], ["r", "alpha", "s", "beta"]))
    assert fitter.conditional_probability_of_n_purchases_up_to_time(0, 0, 2, 3, 5) == 1.0
    assert fitter.conditional_probability_of_n_purchases_up_to_time(1, 0, 2, 3, 5) == 0.0


def test_optimiser_options_are_accepted_and_unknown_ones_warned_about(cdnow):
    columns = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.BetaGeoFitter().fit(*columns, maxiter=10, disp=False)
    with pytest.warns(UserWarning, match=r"unknown optimiser option\(s\) \['speed'\]"):
        compat.BetaGeoFitter().fit(*columns, speed=3)


def test_pareto_checks_iterative_fitting(cdnow):
    with pytest.raises(ValueError, match="iterative_fitting"):
        compat.ParetoNBDFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"],
                                     iterative_fitting=0)


# -------------------------------------------------------------------------------------- BG/BB
@pytest.fixture(scope="module")
def bgbb_pair(donations):
    return fit_pair("BetaGeoBetaBinomFitter", donations["frequency"], donations["recency"],
                    donations["periods"], donations["weights"])


def test_bgbb_matches_lifetimes(bgbb_pair, donations):
    real_fitter, compat_fitter = bgbb_pair
    same_optimum(real_fitter, compat_fitter, LIFETIMES_TOL)
    fitter = at_params(compat_fitter, real_fitter.params_)
    columns = donations["frequency"], donations["recency"], donations["periods"]
    for m in (0, 1, 5):
        np.testing.assert_allclose(fitter.conditional_probability_alive(m, *columns),
                                   real_fitter.conditional_probability_alive(m, *columns),
                                   rtol=RTOL)
    for m in (1, 5):
        np.testing.assert_allclose(
            fitter.conditional_expected_number_of_purchases_up_to_time(m, *columns),
            real_fitter.conditional_expected_number_of_purchases_up_to_time(m, *columns),
            rtol=RTOL)
    expected = real_fitter.expected_number_of_transactions_in_first_n_periods(6)
    pd.testing.assert_frame_equal(fitter.expected_number_of_transactions_in_first_n_periods(6),
                                  expected, rtol=RTOL)


# -------------------------------------------------------------------------------- Gamma-Gamma
def test_gamma_gamma_matches_lifetimes(cdnow):
    repeat = cdnow[cdnow["frequency"] > 0]
    real_fitter, compat_fitter = fit_pair("GammaGammaFitter", repeat["frequency"],
                                          repeat["monetary_value"])
    same_optimum(real_fitter, compat_fitter, LIFETIMES_TOL)
    fitter = at_params(compat_fitter, real_fitter.params_)
    profit = fitter.conditional_expected_average_profit(cdnow["frequency"],
                                                        cdnow["monetary_value"])
    np.testing.assert_allclose(profit, real_fitter.conditional_expected_average_profit(
        cdnow["frequency"], cdnow["monetary_value"]), rtol=RTOL)
    assert isinstance(fitter.conditional_expected_average_profit(2, 20.0), float)
    bgf = quiet(real.BetaGeoFitter().fit, cdnow["frequency"], cdnow["recency"], cdnow["T"])
    for freq in ("D", "W"):
        args = (bgf, cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"])
        expected = quiet(real_fitter.customer_lifetime_value, *args, freq=freq)
        actual = fitter.customer_lifetime_value(*args, freq=freq)
        pd.testing.assert_series_equal(actual, expected, rtol=RTOL)


def test_gamma_gamma_q_constraint_refused_when_the_optimum_is_below_one():
    # Spends whose mean varies little between customers but much within: q < 1 at the optimum.
    rng = np.random.default_rng(1)
    frequency = rng.integers(1, 5, 400)
    spend = np.exp(rng.normal(0, 2.5, 400))
    fitter = compat.GammaGammaFitter()
    unconstrained = fitter.fit(frequency, spend)
    assert unconstrained.params_["q"] < 1
    with pytest.raises(ValidationError, match="q_constraint"):
        compat.GammaGammaFitter().fit(frequency, spend, q_constraint=True)


# ------------------------------------------------------------------------------- save / load
def test_save_load_round_trip(beta_geo_pair, tmp_path, cdnow):
    _, fitter = beta_geo_pair
    path = tmp_path / "model.pkl"
    fitter.save_model(path)
    assert path.read_text().lstrip().startswith("{")  # JSON, whatever the name
    loaded = type(fitter)()
    loaded.load_model(path)
    assert loaded.params_.equals(fitter.params_)
    assert loaded._scale == fitter._scale
    assert loaded._negative_log_likelihood_ == fitter._negative_log_likelihood_
    pd.testing.assert_frame_equal(loaded.data, fitter.data, check_index_type=False)
    pd.testing.assert_frame_equal(loaded.summary, fitter.summary)
    assert loaded.predict(1, 1, 2, 5) == fitter.predict(1, 1, 2, 5)
    fitter.save_model(path, save_data=False, save_generate_data_method=False)
    loaded = type(fitter)()
    loaded.load_model(path)
    assert loaded.data is None and loaded.generate_new_data is None


def test_load_refuses_a_pickle(tmp_path):
    path = tmp_path / "lifetimes_model.pkl"
    path.write_bytes(pickle.dumps({"params_": [1, 2]}))
    with pytest.raises(ValidationError, match="pickle.*runs code"):
        compat.BetaGeoFitter().load_model(path)


def test_load_refuses_another_fitter(beta_geo_pair, tmp_path):
    _, fitter = beta_geo_pair
    path = tmp_path / "model.json"
    fitter.save_model(path)
    with pytest.raises(ValidationError, match="not a ParetoNBDFitter"):
        compat.ParetoNBDFitter().load_model(path)


def test_base_fitter_repr_like_lifetimes():
    fitter = compat.BaseFitter()
    assert repr(fitter) == "<lifetimes.BaseFitter>"
    fitter.params_ = pd.Series({"x": 12.3, "y": 42})
    fitter.data = np.array([1, 2, 3])
    assert repr(fitter) == "<lifetimes.BaseFitter: fitted with 3 subjects, x: 12.30, y: 42.00>"
    with pytest.raises(ValueError, match="not been fit"):
        compat.BetaGeoFitter()._unload_params("r")


# ------------------------------------------------------------------------------------- alias
def test_install_lifetimes_alias_and_restore():
    before = sys.modules.get("lifetimes")
    with install_lifetimes_alias() as alias:
        import lifetimes
        import lifetimes.fitters.beta_geo_fitter

        assert lifetimes is compat
        assert lifetimes.fitters.beta_geo_fitter.BetaGeoFitter is compat.BetaGeoFitter
        assert "lifetimes.fitters.pareto_nbd_fitter" in alias.modules
    assert sys.modules.get("lifetimes") is before


# --------------------------------------------------------------- benchmarks.lifetimes_suite
SUITE_TESTS = '''
import pandas.util.testing as tm  # lifetimes 0.11's import, removed in pandas 2
import lifetimes as lt


def test_runs_on_the_compat_layer():
    assert type(lt.BetaGeoFitter()).__module__.startswith("clvmodels.compat")


def test_that_fails():
    assert tm.assert_series_equal is not None and False


def test_reads_data_by_a_relative_path():
    with open("lifetimes/datasets/tiny.csv") as handle:
        assert handle.read() == "x\\n1\\n"
'''


@pytest.mark.parametrize("real_flag", [False, True])
def test_lifetimes_suite_runs_lifetimes_tests_on_the_compat_layer(tmp_path, real_flag):
    import os
    import subprocess
    from pathlib import Path

    (tmp_path / "test_estimation.py").write_text(SUITE_TESTS)
    (tmp_path / "lifetimes" / "datasets").mkdir(parents=True)
    (tmp_path / "lifetimes" / "datasets" / "tiny.csv").write_text("x\n1\n")
    root = Path(__file__).resolve().parent.parent
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    command = [sys.executable, "-m", "benchmarks.lifetimes_suite", str(tmp_path)]
    result = subprocess.run(command + (["--real"] if real_flag else []), cwd=root,
                            env=environment, capture_output=True, text=True, timeout=300)
    target = "the real lifetimes" if real_flag else "clvmodels.compat.lifetimes"
    passed = 1 if real_flag else 2
    assert (f"lifetimes' tests on {target}: {passed} passed, {3 - passed} failed, 0 errors"
            in result.stdout), result.stdout + result.stderr
    assert "failed: test_estimation::test_that_fails" in result.stdout
    assert result.returncode == 1
    # The one rewrite is made on a copy: the directory given is left as it was.
    assert (tmp_path / "test_estimation.py").read_text() == SUITE_TESTS
