"""Predictions over parameter draws, written once for every model.

Each prediction is the family's formula evaluated at every draw of the parameters (one draw for
a maximum-likelihood fit, the posterior draws of a Bayesian one), summarised per customer in
bounded memory (:mod:`clvmodels.estimation.draws`). For a purchase model P(alive) is computed
per distinct (frequency, recency, T) and an alive customer's future per distinct
(frequency, T): many customers share them.

The functions here take a family and the draws (one array per parameter, shape
``(draws, 1)``); :class:`PurchasePredictions` and :class:`SpendPredictions` are the prediction
methods of the estimator classes built on them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from clvmodels.estimation.covariate_posterior import CovariateDraws
from clvmodels.estimation.draws import DistinctRows, block_levels, summarise
from clvmodels.estimation.family import PurchaseFamily, SpendFamily
from clvmodels.estimation.fitdata import first_rows
from clvmodels.timeunit import check_same_unit, set_table_time_unit
from clvmodels.validation import (
    ValidationError,
    check_count,
    check_discounting,
    check_duration,
    check_level,
)

Draws = tuple[np.ndarray, ...]
Future = Callable[[tuple, np.ndarray], np.ndarray]

# The predictive count distribution is summed up to at most this many purchases beyond the
# largest expected count of a block (its upper tail is then far below 1e-6).
_MAX_EXTRA_COUNT = 10_000


# ----------------------------------------------------------------------------- per customer
def varying_columns(family: PurchaseFamily | SpendFamily, per_customer: dict[str, np.ndarray]
                    ) -> dict[str, np.ndarray]:
    """Parameters that vary by customer (from covariates, one value per customer) as columns
    of :class:`DistinctRows`, named ``"<kind> <parameter>"``."""
    return {f"{family.kind} {name}": values for name, values in per_customer.items()}


def block_params(family: PurchaseFamily | SpendFamily, params: Draws, rows: DistinctRows,
                 block: slice) -> tuple:
    """The draws, with each parameter that varies by customer replaced by its values on the
    block's rows: a column of ``rows`` (one value per row: a single draw, see
    :func:`varying_columns`), or, for posterior draws with covariates
    (:class:`~clvmodels.estimation.covariate_posterior.CovariateDraws`), a ``(draws, rows)``
    array made from the rows' design columns."""
    if isinstance(params, CovariateDraws):
        return params.block(family.kind, rows.columns, block)
    return tuple(rows[f"{family.kind} {name}"][block] if f"{family.kind} {name}" in rows.columns
                 else value for name, value in zip(family.param_names, params, strict=True))


def varies_by_row(value: Any) -> bool:
    """Whether a block's parameter has a value per row (its last axis longer than 1), not
    one shared by every row of a draw."""
    return np.ndim(value) >= 1 and np.shape(value)[-1] > 1


# ----------------------------------------------------------------------------- purchase models
def log_alive_values(family: PurchaseFamily, params: Draws, rows: DistinctRows,
                     block: slice) -> np.ndarray:
    """log P(alive) per draw and row of a block of ``rows`` (columns x, t_x, T)."""
    x, t_x, T = (rows[name][block] for name in ("x", "t_x", "T"))
    params = block_params(family, params, rows, block)
    # Terms of x alone are shared between rows only when the parameters are.
    per_row = any(varies_by_row(value) for value in params)
    return family.log_alive(params, x, t_x, T, None if per_row else block_levels(x))


def future_values(family: PurchaseFamily, params: Draws, rows: DistinctRows, block: slice,
                  future: Future) -> np.ndarray:
    """An alive customer's ``future(updated params, t)`` per draw and row of a block.

    ``future`` takes flat arrays of the updated parameters and of t; it runs once per distinct
    (x, T, t) of the block (``rows`` grouped by those columns).
    """
    values, codes = group_future_values(family, params, rows, block, future)
    return values[..., codes]


def group_future_values(family: PurchaseFamily, params: Draws, rows: DistinctRows,
                        block: slice, future: Future) -> tuple[np.ndarray, np.ndarray]:
    """:func:`future_values` once per group of the block, not spread to its rows: the
    values (draws by groups) and each row's group (its column)."""
    x, T, t = (rows[name][block] for name in ("x", "T", "t"))
    params = block_params(family, params, rows, block)
    codes, _ = pd.factorize(rows.group_codes[block])
    first = first_rows(codes)
    group_params = tuple(value[..., first] if varies_by_row(value) else value
                         for value in params)
    values = elementwise(future, family.updated_params(group_params, x[first], T[first]),
                         t[first])
    return values, codes


def elementwise(formula: Future, params: tuple, t: np.ndarray) -> np.ndarray:
    """``formula(params, t)`` on the broadcast shape of its arguments, evaluated on flat
    arrays (the quadratures of some families take one row per element)."""
    shape = np.broadcast_shapes(*(np.shape(p) for p in params), np.shape(t))
    flat = tuple(np.broadcast_to(p, shape).ravel() for p in params)
    return formula(flat, np.broadcast_to(t, shape).ravel()).reshape(shape)


def conditional_values(family: PurchaseFamily, params: Draws, rows: DistinctRows,
                       block: slice, future: Future | None = None,
                       add_dead: bool = False) -> np.ndarray:
    """P(alive) times the alive customer's ``future`` (P(alive) alone without one), plus
    P(dead) with ``add_dead`` (for the probability of no purchase)."""
    log_alive = log_alive_values(family, params, rows, block)
    values = np.exp(log_alive)
    if future is not None:
        values = values * future_values(family, params, rows, block, future)
    if add_dead:
        values = values - np.expm1(log_alive)
    return values


def discounted_future(family: PurchaseFamily, horizon: float, discount_rate: float,
                      n_draws: int) -> Future:
    """An alive customer's purchases over ``horizon``, each discounted to today by
    ``(1 + discount_rate) ** -t`` (checked settings): the expected purchases without
    discounting, else the family's discounted future (the integral of the discounted purchase
    rate; a sum over periods in discrete time)."""
    if discount_rate == 0:
        return lambda updated, _: family.future_expected(updated, horizon)
    return lambda updated, _: family.future_discounted(updated, horizon, discount_rate,
                                                       per_draw=n_draws > 1)


def history_rows(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, t: ArrayLike, n_draws: int,
                 varying: dict[str, np.ndarray] | None = None, **extra: np.ndarray
                 ) -> DistinctRows:
    """Distinct customers by history and forecast length, grouped by (x, T, t) and the
    parameters that vary by customer (``varying``, see :func:`varying_columns`); every
    customer a row of their own for a single draw, see :class:`DistinctRows`."""
    t = np.broadcast_to(np.asarray(t, dtype=float), x.shape)
    varying = varying or {}
    return DistinctRows({"x": x, "t_x": t_x, "T": T, "t": t, **varying, **extra},
                        group=("x", "T", "t", *varying), merge=n_draws > 1)


def count_quantiles(pmf, rows: DistinctRows, targets: np.ndarray, limit: int) -> np.ndarray:
    """Smallest counts n with P(X <= n) >= each target, per row.

    ``pmf(n, rows)`` gives P(X = n) of the given rows; only rows whose upper quantile is not yet
    found are evaluated for the next n.
    """
    bounds = np.full((len(targets), len(rows)), -1, dtype=np.int64)
    cdf = np.zeros(len(rows))
    todo = np.arange(len(rows))
    for n in range(limit + 1):
        cdf[todo] += pmf(n, rows.subset(todo))
        for i, target in enumerate(targets):
            reached = todo[(bounds[i, todo] < 0) & (cdf[todo] >= target * (1 - 1e-12))]
            bounds[i, reached] = n
        todo = todo[bounds[-1, todo] < 0]
        if len(todo) == 0:
            return bounds
    bounds[bounds < 0] = limit
    return bounds


class PurchasePredictions:
    """The prediction methods of the purchase-count models, for every family and estimator.

    Each method evaluates the family's formula at every parameter draw of the model (see
    :meth:`draw_arrays`) and returns, for a maximum-likelihood model, a Series indexed like the
    input; for a Bayesian model, a DataFrame with the posterior ``mean`` and the equal-tailed
    credible interval ``lower``, ``upper`` of mass ``level`` (or ``(summary, draws)`` with
    ``return_draws=True``: one row per draw, one column per customer, the whole matrix). Use
    ``max_draws`` to evaluate a random subset of the posterior draws.
    """

    family: PurchaseFamily

    def customers(self, data: pd.DataFrame) -> tuple[pd.Index, np.ndarray, np.ndarray,
                                                     np.ndarray]:
        """The index and checked ``(x, t_x, T)`` of a table to score in the model's unit."""
        self.check_fitted()
        x, t_x, T = self.family.history(data)
        check_same_unit(type(self).__name__, self.time_unit_, data)
        return data.index, x, t_x, T

    def _predict(self, data, t, future, name, *, level, return_draws, max_draws,
                 add_dead=False):
        level = check_level(level)
        index, x, t_x, T = self.customers(data)
        params = self.draw_arrays(max_draws)
        family = self.family
        rows = history_rows(x, t_x, T, t, len(params[0]),
                            varying_columns(family, self.customer_parameters(data)))
        summary = summarise(
            lambda block: conditional_values(family, params, rows, block, future, add_dead),
            len(rows), len(params[0]), level=level, keep_draws=return_draws,
        )
        return self.present(summary, rows, index, name, return_draws)

    def probability_alive(self, data: pd.DataFrame, *, level: float = 0.9,
                          return_draws: bool = False, max_draws: int | None = None):
        """Probability that each customer is still active at the end of the observation.

        Parameters
        ----------
        data : DataFrame
            RFM table (``frequency``, ``recency``, ``T``) indexed by customer.
        level, return_draws, max_draws
            Bayesian models: see the class description.

        Returns
        -------
        Series or DataFrame
            P(alive) per customer, indexed like ``data``.
        """
        return self._predict(data, 0.0, None, "probability_alive", level=level,
                             return_draws=return_draws, max_draws=max_draws)

    def expected_purchases(self, data: pd.DataFrame, t: ArrayLike, *, level: float = 0.9,
                           return_draws: bool = False, max_draws: int | None = None):
        """Expected number of purchases of each customer in the next ``t`` time units.

        For a Bayesian model the interval is of the expectation (the uncertainty about the
        parameters); :meth:`predictive_purchases` gives the spread of the count itself.

        Parameters
        ----------
        data : DataFrame
            RFM table (``frequency``, ``recency``, ``T``) indexed by customer.
        t : float or array-like
            Length of the forecast period in the data's time unit; a scalar or one per customer.

        Returns
        -------
        Series or DataFrame
            Conditional expected purchases, indexed like ``data``.
        """
        t = check_duration(t, "t")
        return self._predict(data, t, self.family.future_expected, "expected_purchases",
                             level=level, return_draws=return_draws, max_draws=max_draws)

    def probability_of_purchases(self, data: pd.DataFrame, n: int, t: ArrayLike, *,
                                 level: float = 0.9, return_draws: bool = False,
                                 max_draws: int | None = None):
        """Probability that each customer makes exactly ``n`` purchases in the next ``t`` units.

        Returns
        -------
        Series or DataFrame
            P(X(T, T + t) = n) per customer, indexed like ``data``.
        """
        n = check_count(n)
        t = check_duration(t, "t")
        family = self.family
        return self._predict(
            data, t, lambda updated, t_: family.future_pmf(updated, n, t_), "probability",
            level=level, return_draws=return_draws, max_draws=max_draws, add_dead=n == 0,
        )

    def discounted_expected_purchases(self, data: pd.DataFrame, *, horizon: float,
                                      discount_rate: float = 0.0, level: float = 0.9,
                                      return_draws: bool = False,
                                      max_draws: int | None = None):
        """Expected purchases in the next ``horizon`` time units, each discounted to today.

        A purchase at time t is worth ``(1 + discount_rate) ** -t``. With ``discount_rate=0``
        this is :meth:`expected_purchases` exactly; with ``horizon=inf`` it is the discounted
        expected residual transactions (DERT). The integral of the discounted purchase rate is
        computed by Gauss-Legendre quadrature on a log time axis (relative error ~1e-10).

        Parameters
        ----------
        horizon : float
            Forecast horizon in the data's time unit, ``> 0``; ``float("inf")`` for the
            customer's whole remaining lifetime (needs ``discount_rate > 0``).
        discount_rate : float, default 0.0
            Discount rate per time unit, ``>= 0``.
        """
        horizon, discount_rate = check_discounting(horizon, discount_rate)
        future = discounted_future(self.family, horizon, discount_rate,
                                   len(self.draw_arrays(max_draws)[0]))
        return self._predict(data, 0.0, future, "discounted_expected_purchases", level=level,
                             return_draws=return_draws, max_draws=max_draws)

    def expected_purchases_new_customer(self, t: ArrayLike, *, covariates=None,
                                        level: float = 0.9, return_draws: bool = False,
                                        max_draws: int | None = None):
        """Expected purchases in (0, t] of a customer just acquired (unconditional).

        Parameters
        ----------
        covariates : dict or DataFrame, optional
            For a model fitted with covariates (and only then), the new customer's values of
            them: a mapping of column to value (``{"Channel": 1, "Gender": 0}``), or a
            DataFrame of profiles, one row each (cold start by segment).

        Returns
        -------
        float, ndarray, Series or DataFrame
            For a maximum-likelihood model, shaped like ``t`` (with a DataFrame of profiles:
            a Series by profile for a scalar ``t``, else a DataFrame of profiles by ``t``);
            for a Bayesian one, ``mean``, ``lower``, ``upper`` indexed by ``t`` (with a
            DataFrame of profiles, by (profile, ``t``)).
        """
        t = check_duration(t, "t")
        family = self.family
        return self._new_customer(t, lambda params, times: family.expected_new(params, times),
                                  covariates=covariates, level=level,
                                  return_draws=return_draws, max_draws=max_draws)

    def probability_of_purchases_new_customer(self, n: int, t: ArrayLike, *, covariates=None,
                                              level: float = 0.9, return_draws: bool = False,
                                              max_draws: int | None = None):
        """Probability that a customer just acquired makes exactly ``n`` repeat purchases in
        (0, t].

        The unconditional purchase-count distribution (for BG/NBD equation 8 of Fader, Hardie &
        Lee 2005, for Pareto/NBD by quadrature over the lifetime); summed over customers of ages
        T it gives the expected histogram of calibration-period repeat purchases.
        ``covariates`` as in :meth:`expected_purchases_new_customer`.
        """
        n = check_count(n)
        t = check_duration(t, "t")
        family = self.family
        return self._new_customer(t, lambda params, times: family.pmf_new(params, n, times),
                                  covariates=covariates, level=level,
                                  return_draws=return_draws, max_draws=max_draws)

    def _new_customer(self, t: np.ndarray, formula, *, covariates, level, return_draws,
                      max_draws):
        self.check_fitted()
        level = check_level(level)
        profiles = new_customer_profiles(self, covariates)
        if profiles is not None:
            return self._new_customer_profiles(t, formula, profiles, max_draws, level,
                                               return_draws)
        times = t.ravel()
        rows = DistinctRows({"t": times})
        params = self.draw_arrays(max_draws)
        summary = summarise(
            lambda block: elementwise(formula, params, rows["t"][block][None, :]),
            len(rows), len(params[0]), level=level, keep_draws=return_draws,
        )
        if self.point_estimate:
            values = summary.mean[rows.codes].reshape(t.shape)
            return float(values) if values.ndim == 0 else values
        index = pd.Index(times, name="t")
        return self.present(summary, rows, index, "expected", return_draws)

    def _new_customer_profiles(self, t: np.ndarray, formula, profiles: pd.DataFrame,
                               max_draws: int | None, level: float, return_draws: bool):
        """``formula`` for new customers of each covariate profile, by profile and t: the
        value of a maximum-likelihood model, the posterior summary of a Bayesian one."""
        family = self.family
        params = self.draw_arrays(max_draws)
        rows = DistinctRows(varying_columns(family, self.customer_parameters(profiles)),
                            merge=False)
        # Every parameter as (draws or 1, profiles or 1, 1), against t on the last axis.
        params = tuple(np.atleast_2d(value)[..., None]
                       for value in block_params(family, params, rows, slice(None)))
        values = elementwise(formula, params, t.ravel()[None, None, :])
        values = np.broadcast_to(values, (values.shape[0], len(profiles), t.size))
        if not self.point_estimate:
            return self._new_customer_posterior(values, t, profiles, level, return_draws)
        values = values[0]
        if profiles.attrs.get("single"):
            values = values[0].reshape(t.shape)
            return float(values) if values.ndim == 0 else values
        if t.ndim == 0:
            return pd.Series(values[:, 0], index=profiles.index, name="expected")
        return pd.DataFrame(values, index=profiles.index, columns=pd.Index(t.ravel(), name="t"))

    def _new_customer_posterior(self, values: np.ndarray, t: np.ndarray,
                                profiles: pd.DataFrame, level: float, return_draws: bool):
        """The posterior summary of new customers' ``values`` (draws, profiles, t): indexed
        by t for one profile given as a mapping, by (profile, t) for a table of them."""
        flat = values.reshape(len(values), -1)
        summary = summarise(lambda block: flat[:, block], flat.shape[1], len(flat),
                            level=level, keep_draws=return_draws)
        times = t.ravel()
        if profiles.attrs.get("single"):
            index = pd.Index(times, name="t")
        else:
            index = pd.MultiIndex.from_product(
                [profiles.index, times],
                names=[profiles.index.name or "profile", "t"])
        rows = DistinctRows({"cell": np.arange(flat.shape[1])}, merge=False)
        return self.present(summary, rows, index, "expected", return_draws)

    def predictive_purchases(self, data: pd.DataFrame, t: ArrayLike, *, level: float = 0.9,
                             max_draws: int | None = None) -> pd.DataFrame:
        """The predictive distribution of each customer's purchase count in the next ``t``.

        The count's distribution is the model's P(X = n | history) averaged over the parameter
        draws (at the estimate for a maximum-likelihood model); ``lower`` and ``upper`` are its
        ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (whole numbers: the interval
        holds at least ``level`` of the predictive mass, so a calibrated model covers a
        customer's later count at least that often).

        Returns
        -------
        DataFrame
            ``mean`` (the expected count), ``lower``, ``upper`` (int), indexed by customer.
        """
        level = check_level(level)
        t = check_duration(t, "t")
        index, x, t_x, T = self.customers(data)
        params = self.draw_arrays(max_draws)
        family = self.family
        rows = history_rows(x, t_x, T, t, len(params[0]),
                            varying_columns(family, self.customer_parameters(data)))
        mean = np.empty(len(rows))
        bounds = np.empty((2, len(rows)), dtype=np.int64)
        targets = np.array([(1 - level) / 2, (1 + level) / 2])
        block_size = max(1, 2**21 // len(params[0]))
        for start in range(0, len(rows), block_size):
            block = slice(start, min(start + block_size, len(rows)))
            expected = conditional_values(family, params, rows, block, family.future_expected)
            mean[block] = expected.mean(axis=0)
            bounds[:, block] = count_quantiles(
                lambda n, sub: conditional_values(
                    family, params, sub, slice(None),
                    lambda u, t_: family.future_pmf(u, n, t_), add_dead=n == 0,
                ).mean(axis=0),
                rows.subset(block), targets, limit=int(expected.max()) + _MAX_EXTRA_COUNT,
            )
        codes = rows.codes
        return pd.DataFrame(
            {"mean": mean[codes], "lower": bounds[0, codes], "upper": bounds[1, codes]},
            index=index,
        )

    def simulate(self, n_customers: int, T: ArrayLike, holdout: float = 0.0,
                 random_state: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Draw customers' purchase histories from the model.

        A maximum-likelihood model draws every customer from its estimate; a Bayesian model
        draws each customer's parameters from a random posterior draw (the posterior
        predictive).

        Parameters
        ----------
        n_customers : int
            Number of customers.
        T : float or array-like
            Observation length per customer (time since first purchase), scalar or one per
            customer.
        holdout : float, default 0.0
            Length of a holdout period after T; when positive, the purchases in it are returned
            as ``frequency_holdout`` with ``duration_holdout``.
        random_state : int or Generator, optional
            Seed for reproducible draws.

        Returns
        -------
        DataFrame
            An RFM table (``frequency``, ``recency``, ``T``) indexed by customer number, in
            the model's time unit.
        """
        self.check_fitted()
        rng = np.random.default_rng(random_state)
        T = np.broadcast_to(np.asarray(T, dtype=float), (int(n_customers),)).copy()
        if not np.all(np.isfinite(T) & (T > 0)):
            raise ValueError("T must be positive and finite")
        params = self.customer_params(len(T), rng)
        x, t_x, x_holdout = self.family.simulate(params, T, float(holdout), rng)
        frequency, recency, age = self.family.rfm_columns  # T is "periods" in discrete time
        result = pd.DataFrame(
            {frequency: x.astype(np.int64), recency: t_x, age: T},
            index=pd.RangeIndex(len(T), name="customer_id"),
        )
        if holdout > 0:
            result["frequency_holdout"] = x_holdout.astype(np.int64)
            result["duration_holdout"] = float(holdout)
        return set_table_time_unit(result, self.time_unit_)


def new_customer_profiles(model: Any, covariates: Any) -> pd.DataFrame | None:
    """The covariate profiles of new customers as a table (``attrs["single"]`` for one given
    as a mapping), or None for a model without covariates.

    Raises
    ------
    ValidationError
        Covariates for a model without them, none for a model with them, or a value that is
        not a mapping or a DataFrame.
    """
    columns = model.covariate_columns
    owner = type(model).__name__
    if not columns:
        if covariates is not None:
            raise ValidationError(f"{owner}: covariates were given, but the model was fitted "
                                  "without covariates")
        return None
    if covariates is None:
        raise ValidationError(
            f"{owner}: the model was fitted with covariates {list(columns)}: pass the new "
            "customer's values, e.g. covariates={" + ", ".join(
                f"{name!r}: ..." for name in columns) + "} or a DataFrame of profiles")
    if isinstance(covariates, pd.DataFrame):
        return covariates
    if isinstance(covariates, Mapping):
        table = pd.DataFrame({name: [value] for name, value in covariates.items()})
        table.attrs["single"] = True
        return table
    raise ValidationError(f"{owner}: covariates must be a mapping of column to value or a "
                          f"DataFrame of profiles, got {type(covariates).__name__}")


# ----------------------------------------------------------------------------- spend models
def spend_values(family: SpendFamily, params: Draws, x: np.ndarray, spend: np.ndarray,
                 owner: str) -> np.ndarray:
    """Expected spend per purchase per draw (rows) and customer (columns).

    Raises when a draw has an infinite mean spend (the family says when: Gamma-Gamma's q <= 1).
    """
    family.check_finite_mean(params, owner)
    return family.expected_spend(params, x, spend)


class SpendPredictions:
    """The prediction methods of the spend models (see :class:`PurchasePredictions` for the
    return types)."""

    family: SpendFamily

    def expected_spend(self, data: pd.DataFrame, *, level: float = 0.9,
                       return_draws: bool = False, max_draws: int | None = None):
        """Conditional expected spend per purchase of each customer.

        Parameters
        ----------
        data : DataFrame
            Table with ``frequency`` and ``monetary_value``, indexed by customer.

        Returns
        -------
        Series or DataFrame
            Expected spend per purchase, indexed like ``data``.
        """
        level = check_level(level)
        self.check_fitted()
        x, spend = self.family.spend_history(data)
        params = self.draw_arrays(max_draws)
        family, name = self.family, type(self).__name__
        rows = DistinctRows({"x": x, "spend": spend,
                             **varying_columns(family, self.customer_parameters(data))},
                            merge=len(params[0]) > 1)
        summary = summarise(
            lambda block: spend_values(family, block_params(family, params, rows, block),
                                       rows["x"][block], rows["spend"][block], name),
            len(rows), len(params[0]), level=level, keep_draws=return_draws,
        )
        return self.present(summary, rows, data.index, "expected_spend", return_draws)

    def simulate(self, frequency: pd.Series | np.ndarray,
                 random_state: int | np.random.Generator | None = None) -> pd.Series:
        """Draw each customer's mean spend over ``frequency`` purchases (0 for none).

        Returns
        -------
        Series
            Simulated ``monetary_value``, indexed like ``frequency`` when it is a Series.
        """
        self.check_fitted()
        rng = np.random.default_rng(random_state)
        x = np.asarray(frequency, dtype=float)
        params = self.customer_params(x.shape[0] if x.ndim else 1, rng)
        values = self.family.simulate(params, x, rng)
        index = frequency.index if isinstance(frequency, pd.Series) else None
        return pd.Series(values, index=index, name="monetary_value")


def present(summary: Any, rows: DistinctRows, index: pd.Index, name: str, point: bool,
            return_draws: bool):
    """A summary per customer as the estimators return it: a Series ``name`` of the point
    estimates, or a DataFrame ``mean``, ``lower``, ``upper`` (and the draws when asked)."""
    if point:
        series = pd.Series(summary.mean[rows.codes], index=index, name=name)
        return (series, summary.draws_frame(rows, index)) if return_draws else series
    frame = summary.frame(rows, index)
    return (frame, summary.draws_frame(rows, index)) if return_draws else frame
