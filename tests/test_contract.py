"""The contract every model meets by being declared: one suite over every family and every
estimator class (maximum-likelihood and Bayesian) of :data:`clvmodels.models.MODELS`.

A new model is a family module registered in ``clvmodels.models``; these tests then run on it
with no test of its own: its derivatives against its likelihood, fitting and the fitted state,
errors before fitting, save/load, the time-unit refusal, the index of every output, finite
predictions at extreme but valid inputs, the likelihood of new data, and simulation recovery.

The Bayesian classes are fitted by the Laplace approximation (``method="map"``): it exercises
the same likelihood, priors and draws as NUTS in seconds (NUTS itself is tested in
tests/test_bayes.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _fitting import fit_data_of, objective_of

from clvmodels import (
    ValidationError,
    cohort_to_customers,
    load_cdnow_summary,
    load_donations,
    load_retention_cohorts,
)
from clvmodels.models import MODELS

SPECS = list(MODELS.values())
FAMILIES = [spec.family for spec in SPECS]
CLASSES = [cls for spec in SPECS for cls in (spec.mle, spec.bayesian)]


def _id(value) -> str:
    return getattr(value, "name", None) or getattr(value, "__name__", str(value))


# ----------------------------------------------------------------------------- kinds of data
def _purchase_predictions_over(horizon: float, discount_rate: float) -> Callable:
    """A purchase model's predictions over ``horizon`` time units (whole periods in discrete
    time), DERT at ``discount_rate`` per unit."""

    def predictions(model, data: pd.DataFrame) -> dict[str, pd.Series | pd.DataFrame]:
        return {
            "probability_alive": model.probability_alive(data),
            "expected_purchases": model.expected_purchases(data, horizon),
            "probability_of_purchases": model.probability_of_purchases(data, 0, horizon),
            "discounted_expected_purchases": model.discounted_expected_purchases(
                data, horizon=np.inf, discount_rate=discount_rate),
        }

    return predictions


_purchase_predictions = _purchase_predictions_over(52.0, 0.01)
# Five years of a discrete-time (BG/BB) model, 10% a year.
_discrete_predictions = _purchase_predictions_over(5, 0.1)


def _spend_predictions(model, data: pd.DataFrame) -> dict[str, pd.Series | pd.DataFrame]:
    return {"expected_spend": model.expected_spend(data)}


def _purchase_unfitted_calls(model, data: pd.DataFrame) -> list[Callable]:
    return [lambda: model.probability_alive(data), lambda: model.expected_purchases(data, 10),
            lambda: model.simulate(3, 10.0)]


def _spend_unfitted_calls(model, data: pd.DataFrame) -> list[Callable]:
    return [lambda: model.expected_spend(data)]


_EXTREME_HISTORIES = [
    (0, 0.0, 1e-6), (0, 0.0, 1e4), (10_000, 51.9, 52.0), (10_000, 52.0, 52.0),
    (3, 1e-6, 52.0), (50, 9_999.0, 1e4), (1, 1e-3, 1e3), (10_000, 1.0, 1e4),
]


def _extreme_purchase_table() -> pd.DataFrame:
    """Valid but extreme customers: ages from 1e-6 to 1e4 weeks, up to 10,000 repeat
    purchases, the last one just now or long ago."""
    table = pd.DataFrame(_EXTREME_HISTORIES, columns=["frequency", "recency", "T"],
                         index=pd.RangeIndex(len(_EXTREME_HISTORIES), name="customer_id"))
    table.attrs["time_unit"] = "W"
    return table


def _extreme_spend_table() -> pd.DataFrame:
    """The extreme purchase histories with spends from a cent to a billion."""
    table = _extreme_purchase_table()
    table["monetary_value"] = np.where(table["frequency"] > 0,
                                       [0.01, 1e9, 0.01, 1e9, 5.0, 1e9, 0.01, 1e-2], 0.0)
    return table


def _simulated_purchases(truth_model, n_customers: int, rng: np.random.Generator
                         ) -> pd.DataFrame:
    return truth_model.simulate(n_customers, rng.uniform(30.0, 80.0, n_customers),
                                random_state=rng)


def _simulated_spends(truth_model, n_customers: int, rng: np.random.Generator) -> pd.DataFrame:
    frequency = pd.Series(rng.integers(1, 20, n_customers))
    table = pd.DataFrame({"frequency": frequency,
                          "monetary_value": truth_model.simulate(frequency, random_state=rng)})
    table.attrs["time_unit"] = "W"
    return table


def _contract_predictions(model, data: pd.DataFrame) -> dict[str, pd.Series | pd.DataFrame]:
    return {"probability_active": model.probability_active(data),
            "expected_residual_lifetime": model.expected_residual_lifetime(data, 0.1)}


def _contract_unfitted_calls(model, data: pd.DataFrame) -> list[Callable]:
    return [lambda: model.expected_residual_lifetime(data, 0.1),
            lambda: model.survival([1, 2]), lambda: model.simulate(3, 5)]


def _retention_table() -> pd.DataFrame:
    """Both cohorts of Fader & Hardie (2007), years 0-7, one row per customer."""
    cohorts = load_retention_cohorts()
    parts = []
    for name in cohorts.columns:
        part = cohort_to_customers(cohorts.loc[:7, name])
        part.index = name + "-" + part.index.astype(str)
        parts.append(part)
    table = pd.concat(parts).rename_axis("customer_id")
    table.attrs["time_unit"] = "Y"
    return table


def _extreme_contract_table() -> pd.DataFrame:
    """Valid but extreme customers: from no renewal to 10,000 and a million, active or gone."""
    renewals = [0, 0, 1, 10_000, 10_000, 1_000_000, 1_000_000]
    churned = [False, True, False, False, True, False, True]
    table = pd.DataFrame({"renewals": renewals, "churned": churned},
                         index=pd.RangeIndex(len(renewals), name="customer_id"))
    table.attrs["time_unit"] = "Y"
    return table


def _simulated_contracts(truth_model, n_customers: int, rng: np.random.Generator
                         ) -> pd.DataFrame:
    return truth_model.simulate(n_customers, rng.integers(1, 16, n_customers),
                                random_state=rng)


def _discrete_unfitted_calls(model, data: pd.DataFrame) -> list[Callable]:
    return [lambda: model.probability_alive(data), lambda: model.expected_purchases(data, 10),
            lambda: model.simulate(3, 10)]


def _extreme_discrete_table() -> pd.DataFrame:
    """Valid but extreme discrete-time customers: from one to 10,000 periods, none to every
    period with a transaction, the last one just now or long ago."""
    histories = [(0, 0, 1), (0, 0, 10_000), (10_000, 10_000, 10_000), (1, 1, 10_000),
                 (9_999, 10_000, 10_000), (1, 10_000, 10_000), (5_000, 9_000, 10_000),
                 (3, 3, 3)]
    table = pd.DataFrame(histories, columns=["frequency", "recency", "periods"],
                         index=pd.RangeIndex(len(histories), name="customer_id"))
    table.attrs["time_unit"] = "Y"
    return table


def _simulated_discrete(truth_model, n_customers: int, rng: np.random.Generator
                        ) -> pd.DataFrame:
    table = truth_model.simulate(n_customers, rng.integers(4, 15, n_customers),
                                 random_state=rng)
    table["weights"] = 1.0
    return table


@dataclass(frozen=True)
class Case:
    """How the suite exercises one family: a real data set it fits, the parameters where its
    derivatives are checked (values like the data's estimate and values far from them), the
    parameters it simulates from in the recovery test (in the table's time unit), and its
    kind's predictions, extreme inputs and calls that need a fitted model.

    A new family adds its entry to :data:`CASES` (the suite fails for a family without one).
    """

    table: Callable[[], pd.DataFrame]
    points: list[tuple[float, ...]]
    truth: dict[str, float]
    simulated: Callable[[Any, int, np.random.Generator], pd.DataFrame]
    predictions: Callable[[Any, pd.DataFrame], dict[str, pd.Series | pd.DataFrame]]
    extreme_table: Callable[[], pd.DataFrame]
    unfitted_calls: Callable[[Any, pd.DataFrame], list[Callable]]
    #: Customers simulated in the recovery test (fewer where the likelihood is slow).
    n_simulated: int = 20_000
    #: The table's column of customer weights (rows standing for several customers), if any.
    weight_column: str | None = None
    #: Whether the predictions depend on the time unit (a spend model's do not).
    timed_predictions: bool = True

    def weights(self, data: pd.DataFrame) -> np.ndarray | None:
        return None if self.weight_column is None else data[self.weight_column].to_numpy()


def _purchase_case(points, truth, n_simulated: int = 20_000,
                   table: Callable[[], pd.DataFrame] = load_cdnow_summary) -> Case:
    return Case(table, points, truth, _simulated_purchases, _purchase_predictions,
                _extreme_purchase_table, _purchase_unfitted_calls, n_simulated)


def _correlated_purchases() -> pd.DataFrame:
    """2,000 customers of 10 to 30 weeks of a correlated Pareto/NBD, cor = 0.05. Not CDNOW: its
    posterior mode lies on a kink of omega's bounds (where L1 = L2, the larger of two products
    changes), where the curvature the suite's Laplace fit takes is not defined (differences of
    the gradient across the kink: the fit refused it as singular, pointing to NUTS, which
    samples it)."""
    truth = MODELS["pnbd-cor"].mle().set_params_(
        {"r": 1.0, "alpha": 1.0, "s": 0.8, "beta": 2.0, "kappa": 2.0}, time_unit="W")
    rng = np.random.default_rng(2026)
    return truth.simulate(2_000, rng.uniform(10.0, 30.0, 2_000), random_state=rng)


CASES: dict[str, Case] = {
    "bgnbd": _purchase_case(
        [(0.243, 4.414, 0.793, 2.426), (2.0, 0.5, 5.0, 0.3), (0.05, 50.0, 0.2, 20.0)],
        {"r": 0.8, "alpha": 6.0, "a": 1.2, "b": 3.5}),
    "mbgnbd": _purchase_case(
        [(0.525, 6.183, 0.891, 1.614), (2.0, 0.5, 5.0, 0.3), (0.05, 50.0, 0.2, 20.0)],
        {"r": 0.8, "alpha": 6.0, "a": 1.2, "b": 3.5}),
    # Pareto/NBD's gradient costs seven evaluations of its likelihood per row: fewer rows.
    "pnbd": _purchase_case(
        [(0.553, 10.58, 0.606, 11.67), (2.0, 0.5, 0.3, 40.0), (0.1, 80.0, 3.0, 2.0)],
        {"r": 0.8, "alpha": 6.0, "s": 0.7, "beta": 20.0}, n_simulated=5_000),
    # The correlated Pareto/NBD (r, alpha, s, beta, kappa): near its data's estimate, CDNOW's
    # marginals with omega at 2/3 of its interval, and rates far from them, omega low in it;
    # recovery from marginals on which the Sarmanov family reaches correlations of ~ +/-0.15
    # (its reach shrinks as 1 / ((alpha + 1)(beta + 1))). Four Pareto/NBD terms per row:
    # fewer rows. (Nearer omega's upper bound at CDNOW's marginals, m = omega L1 L2 ~ 17, the
    # signed mixture cancels: a row with 123 purchases sums terms 74 times its likelihood,
    # which scales the Pareto/NBD's differenced r and s partials' ~1e-8 error to ~1e-6.)
    "pnbd-cor": _purchase_case(
        [(0.96, 1.0, 0.86, 2.12, 0.84), (0.553, 10.58, 0.606, 11.67, 2.0),
         (2.0, 0.5, 0.3, 40.0, 0.3), (0.1, 80.0, 3.0, 2.0, 3.0)],
        {"r": 1.0, "alpha": 1.0, "s": 0.8, "beta": 2.0, "kappa": 2.0}, n_simulated=5_000,
        table=_correlated_purchases),
    # GGompertz/NBD (r, alpha, b, s, beta): near the Pareto/NBD limit as on CDNOW, clear
    # ageing, rare buyers with beta < 1 (a density without interior mode). Its quadrature
    # costs ~5 ms per thousand rows per evaluation: fewer rows.
    "ggomnbd": _purchase_case(
        [(0.553, 10.58, 1e-4, 0.606, 1.2e-3), (1.0, 5.0, 0.05, 1.2, 3.0),
         (0.1, 80.0, 0.2, 3.0, 0.5)],
        {"r": 0.8, "alpha": 6.0, "b": 0.1, "s": 0.8, "beta": 2.0}, n_simulated=5_000),
    # Discrete time: the donations' distinct patterns, weighted by their donors.
    "bgbb": Case(
        load_donations, [(1.204, 0.750, 0.657, 2.783), (5.0, 0.3, 2.0, 0.5),
                         (0.2, 8.0, 0.1, 20.0)],
        {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}, _simulated_discrete,
        _discrete_predictions, _extreme_discrete_table, _discrete_unfitted_calls,
        weight_column="weights"),
    # Skewed and near-constant spend.
    "gamma-gamma": Case(
        load_cdnow_summary, [(6.25, 3.74, 15.44), (0.5, 20.0, 1.0), (50.0, 1.5, 300.0)],
        {"p": 6.0, "q": 4.0, "gamma": 15.0}, _simulated_spends, _spend_predictions,
        _extreme_spend_table, _spend_unfitted_calls, timed_predictions=False),
    # Contractual: the published cohorts; churn rates ~ Beta near the data's estimates, a
    # near-constant low one and widely spread ones (with falling and rising hazards for BdW).
    "sbg": Case(
        _retention_table, [(0.668, 3.806), (0.704, 1.182), (5.0, 0.3), (0.02, 40.0)],
        {"alpha": 0.8, "beta": 2.5}, _simulated_contracts, _contract_predictions,
        _extreme_contract_table, _contract_unfitted_calls),
    "bdw": Case(
        _retention_table, [(0.668, 3.806, 1.0), (0.2, 1.4, 1.7), (3.0, 0.5, 0.4)],
        {"alpha": 0.8, "beta": 2.5, "c": 0.7}, _simulated_contracts, _contract_predictions,
        _extreme_contract_table, _contract_unfitted_calls),
}


@pytest.fixture(scope="module")
def tables() -> Callable[[str], pd.DataFrame]:
    """Each family's data set, loaded once, by family name."""
    cache: dict[str, pd.DataFrame] = {}

    def get(name: str) -> pd.DataFrame:
        if name not in cache:
            cache[name] = CASES[name].table()
        return cache[name].copy()

    return get


def _fit(cls, data, **kwargs):
    kwargs.setdefault("weights", CASES[cls.family.name].weights(data))
    if cls.point_estimate:
        return cls().fit(data, **kwargs)
    pytest.importorskip("pymc")
    return cls().fit(data, method="map", draws=200, chains=1, random_seed=7, **kwargs)


@pytest.fixture(scope="module")
def fitted(tables):
    """Every class fitted once on its family's data set, by name."""
    cache = {}

    def get(cls):
        if cls.__name__ not in cache:
            cache[cls.__name__] = _fit(cls, tables(cls.family.name))
        return cache[cls.__name__]

    return get


def test_every_family_has_a_case():
    assert set(CASES) >= {family.name for family in FAMILIES}


def _fit_data(model, tables):
    """The distinct weighted rows of the family's data set, as ``fit`` builds them."""
    case, table = CASES[model.family.name], tables(model.family.name)
    return fit_data_of(model, table, weights=case.weights(table))


# ----------------------------------------------------------------------------- families
@pytest.mark.parametrize("family", FAMILIES, ids=_id)
def test_per_row_gradient_is_the_derivative_of_the_per_row_likelihood(family, tables):
    """With different parameters on every row (as covariates give them), each row's
    derivative against central differences of that row's log-likelihood.

    Relative step 1e-6: truncation ~h**2 ~ 1e-12 relative; rounding ~ulp(|LL_i| <= ~1e3) / h
    ~ 1e-10 absolute; the Pareto/NBD's r and s partials are themselves central differences of
    the dropout integral (step 1e-4, error ~1e-8 relative). So 1e-6 relative with an absolute
    floor of 1e-6, ample for all."""
    model, case = MODELS[family.name].mle(), CASES[family.name]
    table = tables(family.name)
    fit_data = fit_data_of(model, table, compress=False, weights=case.weights(table))
    rng = np.random.default_rng(0)
    for point in case.points:
        params = tuple(np.asarray(point)[:, None] * rng.uniform(0.8, 1.25, (len(point),
                                                                             fit_data.n_rows)))
        params = tuple(row for row in params)
        rows, gradient = family.log_likelihood_gradient(params, fit_data)
        np.testing.assert_allclose(rows, family.log_likelihood(params, fit_data), rtol=1e-12)
        for k in range(len(point)):
            step = 1e-6 * params[k]
            up = tuple(p + step if j == k else p for j, p in enumerate(params))
            down = tuple(p - step if j == k else p for j, p in enumerate(params))
            numeric = (family.log_likelihood(up, fit_data)
                       - family.log_likelihood(down, fit_data)) / (2 * step)
            np.testing.assert_allclose(gradient[k], numeric, rtol=1e-6, atol=1e-6,
                                       err_msg=f"{family.name} {point} parameter {k}")


@pytest.mark.parametrize("family", FAMILIES, ids=_id)
def test_weighted_totals_are_the_per_row_sums(family, tables):
    """A family's fast route to the totals (by levels of x and T) against the weighted sums of
    its per-row values: the same terms grouped otherwise, each a few ulps of |LL| ~1e4 over
    ~1,000 rows (~1e-12 relative); the gradient components are sums of terms of both signs,
    so relative to the sum of their magnitudes (at most ~100 times the components here)."""
    model = MODELS[family.name].mle()
    fit_data = _fit_data(model, tables)
    for point in CASES[family.name].points:
        params = np.asarray(point)
        total, gradient, _ = family.derivatives(params, fit_data)
        rows, row_gradient = family.log_likelihood_gradient(params, fit_data)
        assert total == pytest.approx(fit_data.weights @ rows, rel=1e-12)
        magnitude = np.abs(row_gradient) @ fit_data.weights
        assert np.all(np.abs(gradient - row_gradient @ fit_data.weights) <= 1e-12 * magnitude)
        assert family.total_log_likelihood(params, fit_data) == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.has_hessian], ids=_id)
def test_analytic_hessian_is_the_derivative_of_the_gradient(family, tables):
    """Each column of the analytic Hessian against central differences of the analytic
    gradient: relative step 1e-5, truncation ~h**2 ~ 1e-10 and rounding ~eps / h ~ 1e-11 of
    the gradient's scale, so 1e-7 relative (to each entry or the column's largest)."""
    model = MODELS[family.name].mle()
    fit_data = _fit_data(model, tables)
    for point in CASES[family.name].points:
        params = np.asarray(point)
        total, gradient, hessian = family.derivatives(params, fit_data, hessian=True)
        # The same code computes the value and gradient with or without the Hessian.
        plain = family.derivatives(params, fit_data)
        assert total == plain[0]
        np.testing.assert_array_equal(gradient, plain[1])
        np.testing.assert_array_equal(hessian, hessian.T)
        for column, step in enumerate(np.eye(len(params)) * params * 1e-5):
            expected = (family.derivatives(params + step, fit_data)[1]
                        - family.derivatives(params - step, fit_data)[1]) / (2 * step[column])
            np.testing.assert_allclose(hessian[:, column], expected, rtol=1e-7,
                                       atol=1e-7 * np.max(np.abs(expected)))


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.has_hessian], ids=_id)
def test_hessian_routes_agree(family, tables, monkeypatch):
    """The objective's Hessian in log-parameters from the analytic Hessian and from central
    differences of the gradient (h = 1e-3: truncation ~h**2 / 6 ~ 2e-7 relative, rounding
    ~1e-16 / h), as a family without an analytic Hessian gets it: 2e-6 relative, floor 1e-9."""
    model = MODELS[family.name].mle()
    objective = objective_of(model, _fit_data(model, tables))
    log_params = np.log(np.asarray(CASES[family.name].points[0]))
    analytic = objective.hessian(log_params)
    monkeypatch.setattr(type(family), "has_hessian", False)
    np.testing.assert_allclose(objective.hessian(log_params), analytic, rtol=2e-6, atol=1e-9)


@pytest.mark.parametrize("family", FAMILIES, ids=_id)
def test_compiled_likelihood_equals_the_numpy_one(family, tables):
    """A family's compiled kernel (for the samplers) against its NumPy derivatives: the same
    sums in another order (1e-10 relative; the gradient to 1e-8 of its largest component)."""
    model = MODELS[family.name].mle()
    fit_data = _fit_data(model, tables)
    compiled = family.compiled_likelihood(fit_data)
    if compiled is None:
        pytest.skip(f"{family.title} has no compiled kernel: the samplers call its NumPy code")
    pytest.importorskip("numba")
    for point in CASES[family.name].points:
        params = np.asarray(point)
        total, gradient = compiled.value_and_gradient(params)
        expected_total, expected_gradient, _ = family.derivatives(params, fit_data)
        assert total == pytest.approx(expected_total, rel=1e-10)
        np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-8,
                                   atol=1e-8 * np.abs(expected_gradient).max())


@pytest.mark.parametrize("family", FAMILIES, ids=_id)
def test_compiled_row_gradient_equals_the_numpy_one(family, tables):
    """A family's compiled per-row likelihood (for fits with covariates) against its
    ``log_likelihood_gradient`` at shared and at per-row parameters (each point's values times
    e**N(0, 0.3) per row): the per-row values to 1e-10 relative (floor 1e-10), the weighted
    gradient sums as the compiled kernel's (1e-8 of the largest component; row by row in
    tests/test_covariate_kernel.py)."""
    compiled = family.compiled_row_gradient()
    if compiled is None:
        pytest.skip(f"{family.title} has no compiled per-row kernel: covariate fits call its "
                    "NumPy code")
    model = MODELS[family.name].mle()
    fit_data = _fit_data(model, tables)
    rng = np.random.default_rng(17)
    for point in CASES[family.name].points:
        per_row = tuple(value * np.exp(rng.normal(0.0, 0.3, fit_data.n_rows)) for value in point)
        for params in (tuple(point), per_row):
            rows, gradient = compiled(params, fit_data)
            expected_rows, expected_gradient = family.log_likelihood_gradient(params, fit_data)
            np.testing.assert_allclose(rows, expected_rows, rtol=1e-10, atol=1e-10)
            total, expected = gradient @ fit_data.weights, expected_gradient @ fit_data.weights
            np.testing.assert_allclose(total, expected, rtol=1e-8,
                                       atol=1e-8 * np.abs(expected).max())


@pytest.mark.parametrize("family", FAMILIES, ids=_id)
def test_parameters_outside_the_constraints_are_refused(family):
    good = dict(zip(family.param_names, CASES[family.name].points[0], strict=True))
    for name in family.param_names:
        for bad in (-1.0, 0.0, np.nan, np.inf):
            with pytest.raises(ValidationError, match=f"parameter '{name}' is"):
                family.params_from_mapping({**good, name: bad})
        with pytest.raises(ValidationError, match=f"parameter '{name}' is '1'"):
            family.params_from_mapping({**good, name: "1"})
    with pytest.raises(ValidationError, match="missing"):
        family.params_from_mapping({})
    with pytest.raises(ValidationError, match="unknown"):
        family.params_from_mapping({**good, "extra": 1.0})


# ----------------------------------------------------------------------------- estimators
def _case(cls) -> Case:
    return CASES[cls.family.name]


@pytest.mark.parametrize("cls", CLASSES, ids=_id)
def test_fit_returns_self_with_the_fitted_state(cls, tables):
    if not cls.point_estimate:
        pytest.importorskip("pymc")
    table = tables(cls.family.name)
    weights = _case(cls).weights(table)
    model = cls()
    kwargs = {} if cls.point_estimate else {"method": "map", "draws": 50, "chains": 1}
    assert model.fit(table, weights=weights, **kwargs) is model
    assert list(model.params_.index) == list(cls.family.param_names)
    assert np.all(np.isfinite(model.params_)) and np.all(model.params_ > 0)
    assert model.time_unit_ == table.attrs["time_unit"]
    customers = len(table) if weights is None else weights.sum()
    assert model.n_customers_ + model.n_customers_excluded_ == pytest.approx(customers)
    assert 0 < model.n_distinct_rows_ <= model.n_customers_
    draws = model.parameter_draws()
    assert list(draws.columns) == list(cls.family.param_names)
    assert len(draws) == (1 if cls.point_estimate else 50) == model.n_draws
    assert isinstance(model.summary(), pd.DataFrame)


@pytest.mark.parametrize("cls", CLASSES, ids=_id)
def test_an_unfitted_model_says_so(cls, tables, tmp_path):
    model, table = cls(), tables(cls.family.name)
    calls = [lambda: model.parameter_draws(), lambda: model.save(tmp_path / "m"),
             lambda: model.summary(), lambda: model.log_likelihood(table),
             *_case(cls).unfitted_calls(model, table)]
    for call in calls:
        with pytest.raises(RuntimeError, match=f"this {cls.__name__} is not fitted yet"):
            call()


@pytest.mark.parametrize("cls", CLASSES, ids=_id)
def test_save_and_load_give_the_same_model(cls, fitted, tables, tmp_path):
    model = fitted(cls)
    path = tmp_path / ("model.json" if cls.point_estimate else "model.nc")
    model.save(path)
    loaded = cls.load(path)
    pd.testing.assert_series_equal(loaded.params_, model.params_)
    pd.testing.assert_frame_equal(loaded.parameter_draws(), model.parameter_draws())
    assert loaded.time_unit_ == model.time_unit_
    assert loaded.n_customers_ == model.n_customers_
    assert loaded.excluded_customers_ == model.excluded_customers_
    head = tables(cls.family.name).head(50)
    predictions = _case(cls).predictions
    for name, value in predictions(model, head).items():
        expected = predictions(loaded, head)[name]
        assert type(value) is type(expected), name
        np.testing.assert_array_equal(np.asarray(value), np.asarray(expected), err_msg=name)
    # Another class with the same file format refuses the file, naming both.
    other = next(c for c in CLASSES if c is not cls and c.point_estimate == cls.point_estimate)
    with pytest.raises(ValidationError, match=f"holds a '{cls.__name__}' model, not a "
                                              f"{other.__name__}; load it with {cls.__name__}"):
        other.load(path)


@pytest.mark.parametrize("cls", CLASSES, ids=_id)
def test_tables_in_another_time_unit_are_refused(cls, fitted, tables):
    model = fitted(cls)
    other_unit = tables(cls.family.name)
    other = "h" if model.time_unit_ == "D" else "D"
    other_unit.attrs["time_unit"] = other
    refusal = f"time units differ.*'{model.time_unit_}'.*'{other}'"
    with pytest.raises(ValidationError, match=refusal):
        model.log_likelihood(other_unit)
    if _case(cls).timed_predictions:
        with pytest.raises(ValidationError, match=refusal):
            _case(cls).predictions(model, other_unit)


@pytest.mark.parametrize("cls", CLASSES, ids=_id)
def test_outputs_are_indexed_like_the_input(cls, fitted, tables):
    model = fitted(cls)
    shuffled = tables(cls.family.name).sample(frac=1.0, random_state=0).head(300)
    shuffled.index = "id-" + shuffled.index.astype(str)
    shuffled.index.name = "customer"
    for name, result in _case(cls).predictions(model, shuffled).items():
        assert result.index.equals(shuffled.index), name
        expected = (pd.Series if cls.point_estimate else pd.DataFrame)
        assert isinstance(result, expected), name


@pytest.mark.parametrize("cls", CLASSES, ids=_id)
def test_predictions_are_finite_at_extreme_valid_inputs(cls, fitted):
    model = fitted(cls)
    for name, result in _case(cls).predictions(model, _case(cls).extreme_table()).items():
        values = np.asarray(result, dtype=float)
        assert np.all(np.isfinite(values)), (name, values)
        assert np.all(values >= 0), name
        if name.startswith("probability"):
            assert np.all(values <= 1 + 1e-12), name  # a probability, to rounding


@pytest.mark.parametrize("cls", CLASSES, ids=_id)
def test_log_likelihood_of_new_data(cls, fitted, tables):
    """``log_likelihood(data)`` at the model's estimate: on the data it was fitted on, the
    maximum-likelihood fit's own ``log_likelihood_`` (a per-row sum against the optimiser's
    fast route: ~1e-12 relative); and additive over a split of the customers (two sums of the
    same terms: 1e-12)."""
    model, case, table = fitted(cls), _case(cls), tables(cls.family.name)

    def log_likelihood(part: pd.DataFrame) -> float:
        return model.log_likelihood(part, weights=case.weights(part))

    total = log_likelihood(table)
    assert np.isfinite(total) and total < 0
    if cls.point_estimate:
        assert total == pytest.approx(model.log_likelihood_, rel=1e-12)
    half = len(table) // 2
    assert log_likelihood(table.iloc[:half]) + log_likelihood(table.iloc[half:]) == (
        pytest.approx(total, rel=1e-12))


@pytest.mark.parametrize("cls", CLASSES, ids=_id)
def test_simulation_recovers_the_parameters(cls, tables):
    """Data drawn from known parameters fitted back: every parameter within 4 standard errors
    of the truth (maximum likelihood; a false alarm has probability ~6e-5 per parameter for
    Gaussian estimates, and the seed is fixed), or within 4 posterior standard deviations of
    the posterior mean (Bayesian)."""
    case = _case(cls)
    truth_model = MODELS[cls.family.name].mle().set_params_(
        case.truth, time_unit=tables(cls.family.name).attrs["time_unit"])
    data = case.simulated(truth_model, case.n_simulated, np.random.default_rng(42))
    model = _fit(cls, data)
    truth = pd.Series(case.truth)
    # A summary may hold derived rows after the parameters (the correlated Pareto/NBD's cor).
    spread = (model.summary()["std_error"] if cls.point_estimate
              else model.parameter_draws().std())[model.params_.index]
    assert np.all(np.abs(model.params_ - truth) <= 4 * spread), (model.params_, spread)
