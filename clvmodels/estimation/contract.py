"""Contractual models: the customer's departure is observed and renewals come at fixed periods.

A contract family (:class:`ContractFamily`, kind ``"contract"``) models each customer's
lifetime T in whole periods (T = t: paid for periods 1..t, did not renew at the t-th renewal
date) through the population survival function ``S(t) = P(T > t)``. A customer's data are
``renewals`` (n, the renewals observed) and ``churned`` (True: cancelled at the next renewal
date, so T = n + 1 and the likelihood is ``S(n) - S(n + 1)``; False: still active at the
observation end, right-censored, likelihood ``S(n)``).

:class:`ContractPredictions` holds the prediction methods of the estimators: the population's
survival, retention and churn curves, and per customer the discounted expected residual
lifetime (DERL), each over the model's parameter draws as the other predictions are.
:func:`check_contracts` checks a contract table and :func:`cohort_to_customers` turns a cohort
survival table (customers still active at the start of each period) into one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from clvmodels.estimation.draws import BLOCK_VALUES, DistinctRows, summarise
from clvmodels.estimation.family import Family, FitColumns, Params
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.predictions import block_params, new_customer_profiles, varying_columns
from clvmodels.timeunit import check_same_unit, set_table_time_unit
from clvmodels.validation import (
    ValidationError,
    check_discounting,
    check_duration,
    check_level,
    invalid_rows,
)

#: The columns of a contract table.
CONTRACT_COLUMNS = ("renewals", "churned")
# The series of discounted survival is summed in chunks of periods (this many first) until its
# tail bound falls below _SERIES_RTOL of the partial sum.
_SERIES_CHUNK = 256
_SERIES_RTOL = 1e-12
_MAX_SERIES_PERIODS = 10_000_000


def _first_bad(mask: np.ndarray, index: pd.Index, column: str, expected: str,
               values: np.ndarray) -> None:
    if mask.any():
        first = int(np.flatnonzero(mask)[0])
        raise invalid_rows(column, int(mask.sum()), index[first], expected, value=values[first])


def check_contracts(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(renewals, churned)`` arrays of a contract table (one row per customer).

    Raises
    ------
    ValidationError
        If ``data`` is not a non-empty DataFrame with unique customer ids and the columns
        ``renewals`` (whole numbers >= 0) and ``churned`` (True/False, or 1/0), naming the
        column, a customer and the value found. An RFM table (``frequency``, ``recency``,
        ``T``) is refused with a message saying that it is one.
    """
    if not isinstance(data, pd.DataFrame):
        raise ValidationError(
            f"expected a pandas DataFrame of contract rows, got {type(data).__name__}")
    missing = [column for column in CONTRACT_COLUMNS if column not in data.columns]
    if missing:
        rfm = {"frequency", "recency", "T"} <= set(data.columns)
        hint = (" This is an RFM table of repeat purchases: fit it with a purchase model "
                "(e.g. bgnbd); a contractual model needs renewals and churn" if rfm else "")
        raise ValidationError(
            f"missing column(s) {missing}; the contract table has {list(data.columns)}. "
            "Expected one row per customer with 'renewals' (renewals observed) and 'churned' "
            "(True if the customer cancelled at the next renewal date); build it with "
            "contract_summary() or cohort_to_customers()." + hint)
    if len(data) == 0:
        raise ValidationError("the contract table is empty; expected at least one customer row")
    if not data.index.is_unique:
        duplicated = data.index.duplicated(keep=False)
        _first_bad(duplicated, data.index, "index", "one row per customer id (duplicates)",
                   np.asarray(data.index))
    renewals_column = data["renewals"]
    if (not pd.api.types.is_numeric_dtype(renewals_column.dtype)
            or pd.api.types.is_bool_dtype(renewals_column.dtype)):
        raise ValidationError(
            f"column 'renewals': expected whole numbers, got dtype {renewals_column.dtype}")
    renewals = renewals_column.to_numpy(dtype=float, na_value=np.nan)
    _first_bad(~np.isfinite(renewals) | (renewals < 0) | (renewals != np.round(renewals)),
               data.index, "renewals", "whole numbers >= 0 (renewals observed)", renewals)
    churned_column = data["churned"]
    raw = churned_column.to_numpy(dtype=object)
    if pd.api.types.is_bool_dtype(churned_column.dtype):
        churned = churned_column.to_numpy(dtype=bool, na_value=False)
        bad = churned_column.isna().to_numpy()
    else:
        text = churned_column.astype(str).str.strip().str.lower()
        churned = text.isin(["true", "1", "1.0"]).to_numpy()
        bad = ~(churned | text.isin(["false", "0", "0.0"]).to_numpy())
    _first_bad(bad, data.index, "churned", "True or False (1 or 0)", raw)
    return renewals, churned


def cohort_to_customers(survivors: ArrayLike, *, expand: bool = True,
                        time_unit: str | None = None) -> pd.DataFrame:
    """A contract table from a cohort's survival table, for fitting a contractual model.

    Parameters
    ----------
    survivors : array-like
        Customers still active at the start of period 0, 1, ..., m (the cohort's size first),
        whole numbers, non-increasing.
    expand : bool, default True
        True: one row per customer (``customer_id`` 0, 1, ...). False: one row per distinct
        history with a ``weights`` column (the number of customers), to pass as
        ``fit(table, weights=table["weights"])``.
    time_unit : str, optional
        The period's unit (e.g. ``"Y"``), recorded in ``attrs["time_unit"]``.

    Returns
    -------
    DataFrame
        ``renewals`` and ``churned``: the ``S(t - 1) - S(t)`` customers who left at the t-th
        renewal date (t = 1..m) have t - 1 renewals and churned; the ``S(m)`` still active
        have m renewals and did not.

    Raises
    ------
    ValidationError
        If a count is negative, not a whole number, or larger than the one before it (naming
        the period), or the cohort is empty.
    """
    counts = np.asarray(survivors, dtype=float).reshape(-1)
    periods = np.arange(len(counts))
    if len(counts) < 2:
        raise ValidationError("survivors: expected the counts at the start of periods 0, 1, ... "
                              f"(at least two), got {len(counts)}")
    bad = ~np.isfinite(counts) | (counts < 0) | (counts != np.round(counts))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"survivors: period {first} has {counts[first]:g}; expected a "
                              "whole number of customers >= 0")
    rising = np.flatnonzero(np.diff(counts) > 0)
    if len(rising):
        period = int(rising[0]) + 1
        raise ValidationError(
            f"survivors: period {period} has {counts[period]:.0f} customers, more than the "
            f"{counts[period - 1]:.0f} of period {period - 1}; a cohort can only shrink")
    if counts[0] == 0:
        raise ValidationError("survivors: the cohort has no customers at period 0")
    leavers = -np.diff(counts)
    renewals = np.append(periods[:-1], periods[-1])
    churned = np.append(np.ones(len(leavers), dtype=bool), False)
    weights = np.append(leavers, counts[-1])
    if expand:
        keep = np.repeat(np.arange(len(weights)), weights.astype(np.int64))
        table = pd.DataFrame({"renewals": renewals[keep], "churned": churned[keep]},
                             index=pd.RangeIndex(len(keep), name="customer_id"))
    else:
        table = pd.DataFrame({"renewals": renewals, "churned": churned, "weights": weights},
                             index=pd.RangeIndex(len(weights), name="row"))
    return set_table_time_unit(table, time_unit)


def empirical_survival(data: pd.DataFrame, weights: ArrayLike | None = None) -> pd.Series:
    """The Kaplan-Meier estimate of S(t) from a contract table: at each renewal date t, the
    share of those still at risk (known active up to it: churned at t or later, or active
    with at least t renewals) who renewed. For one cohort observed for m periods it is the
    survivors' share S(t) itself; customers observed for different lengths (a log of staggered
    starts) each count while observed.

    Returns
    -------
    Series
        S(0) = 1, ..., S(m) by ``period``, m the most renewals observed.
    """
    renewals, churned = check_contracts(data)
    weight = np.ones(len(renewals)) if weights is None else np.asarray(weights, dtype=float)
    m = int(renewals.max())
    periods = np.arange(1, m + 1)
    # Left at renewal date t: churned with t - 1 renewals; at risk there: lifetimes >= t.
    lifetime = renewals + churned  # churned: T = n + 1; active: T > n (censored at n)
    left = np.bincount((renewals[churned]).astype(np.int64), weight[churned], minlength=m + 1)
    at_risk = np.array([weight[(lifetime >= t)].sum() for t in periods])
    with np.errstate(invalid="ignore", divide="ignore"):
        renewed = np.where(at_risk > 0, 1.0 - left[:m] / at_risk, 1.0)
    return pd.Series(np.concatenate([[1.0], np.cumprod(renewed)]),
                     index=pd.RangeIndex(m + 1, name="period"), name="survival")


class ContractFamily(Family):
    """A contractual model of whole-period lifetimes: its survival function is the model.

    Subclasses implement :meth:`log_survival` (and its gradient :meth:`log_survival_gradient`),
    :meth:`log_churn` (log P(T = n + 1), with :meth:`log_churn_gradient`), :meth:`simulate` and
    :meth:`initial_params`; the likelihood, the curves and the residual lifetime follow.
    """

    kind: ClassVar[str] = "contract"
    rfm_columns: ClassVar[tuple[str, ...]] = CONTRACT_COLUMNS
    # Periods are whole numbers: nothing in the data's unit to rescale.
    unit_columns: ClassVar[tuple[str, ...]] = ()
    scale_column: ClassVar[str] = "n"

    # ------------------------------------------------------------------------- data
    def fit_columns(self, data: pd.DataFrame) -> FitColumns:
        renewals, churned = check_contracts(data)
        return FitColumns({"n": renewals, "churned": churned.astype(float)},
                          np.ones(len(renewals), dtype=bool))

    def data_scale(self, fit_data: FitData) -> float:
        return 1.0

    def log_likelihood_offset(self, fit_data: FitData, scale: float) -> float:
        return 0.0

    def initial_params(self, fit_data: FitData) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------------- mathematics
    def log_survival(self, params: Params, t: ArrayLike) -> np.ndarray:
        """log S(t) = log P(T > t): still active after t renewals (t >= 0, S(0) = 1)."""
        raise NotImplementedError

    def log_survival_gradient(self, params: Params, t: ArrayLike) -> np.ndarray:
        """The derivatives of :meth:`log_survival` in each parameter, shape
        ``(parameters, ...)``."""
        raise NotImplementedError

    def log_churn(self, params: Params, n: ArrayLike) -> np.ndarray:
        """log P(T = n + 1) = log(S(n) - S(n + 1)): cancelled at the (n + 1)-th renewal date."""
        raise NotImplementedError

    def log_churn_gradient(self, params: Params, n: ArrayLike) -> np.ndarray:
        raise NotImplementedError

    def log_likelihood(self, params: Params, fit_data: FitData) -> np.ndarray:
        n, churned = fit_data["n"], fit_data["churned"] > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(churned, self.log_churn(params, n), self.log_survival(params, n))

    def log_likelihood_gradient(self, params: Params, fit_data: FitData
                                ) -> tuple[np.ndarray, np.ndarray]:
        n, churned = fit_data["n"], fit_data["churned"] > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            rows = np.where(churned, self.log_churn(params, n), self.log_survival(params, n))
            gradient = np.where(churned, self.log_churn_gradient(params, n),
                                self.log_survival_gradient(params, n))
        return rows, np.broadcast_to(gradient, (len(self.parameters), len(n)))

    def survival_ratio_log(self, params: Params, n: ArrayLike, k: ArrayLike) -> np.ndarray:
        """log P(T > n + k | T > n): still active after k more renewals."""
        with np.errstate(invalid="ignore"):
            return self.log_survival(params, np.add(n, k)) - self.log_survival(params, n)

    def residual_lifetime(self, params: Params, n: np.ndarray, discount_rate: float,
                          horizon: float) -> np.ndarray:
        """Sum over k = 1..horizon of P(T > n + k | T > n) (1 + discount_rate)^-k, by the
        series: its terms fall (survival does not rise), so after K terms the rest is at most
        the K-th term times ``z / (1 - z)`` (z = 1 / (1 + discount_rate)); summed until that
        bound is below 1e-12 of the sum, or to the horizon. Families with a closed form
        override this."""
        return discounted_survival_series(self, params, n, discount_rate, horizon)

    def simulate(self, params: Params, periods: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Renewals and churn flags of customers observed for ``periods`` renewal dates."""
        raise NotImplementedError


def discounted_survival_series(family: ContractFamily, params: Params, n: np.ndarray,
                               discount_rate: float, horizon: float,
                               weighted: bool = False) -> np.ndarray:
    """The series of :meth:`ContractFamily.residual_lifetime`, per draw (rows) and n; with
    ``weighted``, each term k times k (for the retention elasticity).

    The terms t_k = P(T > n + k | T > n) z^k fall at least as z^k does, so the tail after
    term K is at most t_K z / (1 - z) = t_K / d; weighted, at most
    K t_K (1 + (1 + d) / (K d)) / d.
    """
    shape = np.broadcast_shapes(*(np.shape(p) for p in params), np.shape(n))
    total = np.zeros(shape)
    log_z = -np.log1p(discount_rate)
    last = min(horizon, _MAX_SERIES_PERIODS)
    start, chunk = 1, _SERIES_CHUNK
    # Chunks double (slowly decaying series need millions of terms) up to BLOCK_VALUES
    # values at once.
    widest = max(_SERIES_CHUNK, BLOCK_VALUES // max(total.size, 1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        while start <= last:
            k = np.arange(start, min(start + chunk, last + 1), dtype=float)
            chunk = min(2 * chunk, widest)
            log_terms = (family.survival_ratio_log(
                tuple(np.expand_dims(p, -1) for p in params), np.expand_dims(n, -1), k)
                + k * log_z)
            terms = np.exp(log_terms) * (k if weighted else 1.0)
            total = total + terms.sum(axis=-1)
            tail = (np.inf if discount_rate == 0 else
                    (1.0 + (1.0 + discount_rate) / (k[-1] * discount_rate) * weighted)
                    / discount_rate)
            if np.all(terms[..., -1] * tail <= _SERIES_RTOL * total):
                return total
            start = int(k[-1]) + 1
    if horizon > _MAX_SERIES_PERIODS:
        raise ValueError(
            f"discount_rate {discount_rate:g} per period is too small for the residual "
            f"lifetime's series to converge within {_MAX_SERIES_PERIODS:,} periods; use a "
            "larger rate or a finite horizon")
    return total


def check_renewal_horizon(horizon: float, discount_rate: float) -> tuple[float, float]:
    """A checked ``(horizon, discount_rate)`` of a residual lifetime (see
    :func:`clvmodels.validation.check_discounting`), the horizon in whole renewals."""
    horizon, discount_rate = check_discounting(horizon, discount_rate)
    return (np.inf if np.isinf(horizon) else float(np.floor(horizon))), discount_rate


def _curve_periods(t: ArrayLike, name: str) -> np.ndarray:
    periods = check_duration(t, name)
    if np.any(periods != np.round(periods)):
        raise ValidationError(f"{name} must be whole numbers of periods, got {t!r}")
    return periods


class ContractPredictions:
    """The prediction methods of the contractual models, for every family and estimator.

    The curves (:meth:`survival`, :meth:`retention`, :meth:`churn_probability`) are of the
    population (a customer just acquired) at whole periods t; :meth:`expected_residual_lifetime`
    is per customer of a contract table. As for the purchase models, a maximum-likelihood model
    returns a Series (of its estimate) and a Bayesian one a DataFrame with the posterior
    ``mean`` and the equal-tailed interval ``lower``, ``upper`` of mass ``level``.
    """

    family: ContractFamily

    def contracts(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The checked ``(renewals, churned)`` of a table to score, in the model's unit."""
        self.check_fitted()
        renewals, churned = check_contracts(data)
        check_same_unit(type(self).__name__, self.time_unit_, data)
        return renewals, churned

    def _curve(self, t: ArrayLike, formula, name: str, level: float,
               max_draws: int | None, covariates: Any = None):
        self.check_fitted()
        level = check_level(level)
        periods = _curve_periods(t, "t")
        flat = periods.reshape(-1)
        profiles = new_customer_profiles(self, covariates)
        if profiles is not None:
            return self._profile_curves(flat, formula, name, profiles)
        rows = DistinctRows({"t": flat})
        params = self.draw_arrays(max_draws)
        with np.errstate(divide="ignore", invalid="ignore"):
            summary = summarise(lambda block: formula(params, rows["t"][block][None, :]),
                                len(rows), len(params[0]), level=level)
        index = pd.Index(flat.astype(np.int64), name="period")
        return self.present(summary, rows, index, name)

    def _profile_curves(self, periods: np.ndarray, formula, name: str,
                        profiles: pd.DataFrame):
        """A curve of a model with covariates (maximum likelihood: one draw) for customers
        of the given covariate profiles: a Series by period for one profile given as a
        mapping, else a DataFrame of periods by profile."""
        per_customer = self.customer_parameters(profiles)
        params = tuple(per_customer[name_][:, None] if name_ in per_customer else value
                       for name_, value in zip(self.family.param_names, self.draw_arrays(),
                                               strict=True))
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.broadcast_to(formula(params, periods[None, :]),
                                     (len(profiles), len(periods)))
        index = pd.Index(periods.astype(np.int64), name="period")
        if profiles.attrs.get("single"):
            return pd.Series(values[0], index=index, name=name)
        return pd.DataFrame(values.T, index=index, columns=profiles.index)

    def survival(self, t: ArrayLike, *, level: float = 0.9, max_draws: int | None = None,
                 covariates: Any = None):
        """S(t): the share of a cohort still active after t renewals (t whole, >= 0).

        Parameters
        ----------
        covariates : dict or DataFrame, optional
            For a model fitted with covariates (and only then), the cohort's values of them:
            a mapping of column to value, or a DataFrame of profiles (one curve each).

        Returns
        -------
        Series or DataFrame
            Indexed by ``period`` (the values of ``t``); for a DataFrame of profiles, one
            column per profile.
        """
        family = self.family
        return self._curve(t, lambda p, t_: np.exp(family.log_survival(p, t_)), "survival",
                           level, max_draws, covariates)

    def retention(self, t: ArrayLike, *, level: float = 0.9, max_draws: int | None = None,
                  covariates: Any = None):
        """r(t) = S(t) / S(t - 1): the share of those active after t - 1 renewals who renew at
        the t-th renewal date (t whole, >= 1); ``covariates`` as in :meth:`survival`."""
        if np.any(np.asarray(t, dtype=float) < 1):
            raise ValidationError(f"t must be >= 1 for retention rates, got {t!r}")
        family = self.family
        return self._curve(t, lambda p, t_: np.exp(family.survival_ratio_log(p, t_ - 1, 1.0)),
                           "retention", level, max_draws, covariates)

    def churn_probability(self, t: ArrayLike, *, level: float = 0.9,
                          max_draws: int | None = None, covariates: Any = None):
        """P(T = t) = S(t - 1) - S(t): the share of a new cohort that leaves at the t-th
        renewal date (t whole, >= 1); ``covariates`` as in :meth:`survival`."""
        if np.any(np.asarray(t, dtype=float) < 1):
            raise ValidationError(f"t must be >= 1 for churn probabilities, got {t!r}")
        family = self.family
        return self._curve(t, lambda p, t_: np.exp(family.log_churn(p, t_ - 1)),
                           "churn_probability", level, max_draws, covariates)

    def expected_residual_lifetime(self, data: pd.DataFrame, discount_rate: float, *,
                                   horizon: float = np.inf, level: float = 0.9,
                                   return_draws: bool = False, max_draws: int | None = None):
        """Discounted expected residual lifetime (DERL) of each customer, in periods.

        For an active customer with n renewals, observed just after the n-th:
        ``sum over k = 1..horizon of P(T > n + k | T > n) (1 + discount_rate)^-k``, the
        expected number of further renewals (payments), each discounted to the observation end
        by the periods until it; 0 for a customer who churned. Fader & Hardie (2010) value a
        customer just before the next renewal, whose payment is then undiscounted: their DERL
        is this times ``1 + discount_rate``.

        Parameters
        ----------
        data : DataFrame
            Contract table (``renewals``, ``churned``) indexed by customer.
        discount_rate : float
            Per period, >= 0 (0 only with a finite ``horizon``: undiscounted, the expected
            residual lifetime of the sBG with alpha <= 1 is infinite).
        horizon : float, default inf
            Count at most this many further renewals.
        level, return_draws, max_draws
            Bayesian models: as for the other predictions.

        Returns
        -------
        Series or DataFrame
            Indexed like ``data``.
        """
        horizon, discount_rate = check_renewal_horizon(horizon, discount_rate)
        family = self.family
        return self._per_customer(
            data, lambda params, n: family.residual_lifetime(params, n, discount_rate, horizon),
            "expected_residual_lifetime", level, max_draws, return_draws)

    def retention_elasticity(self, data: pd.DataFrame, discount_rate: float, *,
                             horizon: float = np.inf, level: float = 0.9,
                             max_draws: int | None = None):
        """The retention elasticity of each active customer's residual lifetime (Fader &
        Hardie 2010): the % increase of :meth:`expected_residual_lifetime` for a 1% increase
        of every future retention rate, as a point elasticity.

        A factor (1 + e) on every retention rate multiplies the k-th term of the DERL series
        by (1 + e)^k, so the elasticity is ``sum k t_k / sum t_k`` over its terms t_k (the
        discounted mean number of further renewals, weighted by their value); 0 for a
        customer who churned. Arguments as :meth:`expected_residual_lifetime`.
        """
        horizon, discount_rate = check_renewal_horizon(horizon, discount_rate)
        family = self.family

        def elasticity(params, n):
            weighted = discounted_survival_series(family, params, n, discount_rate, horizon,
                                                  weighted=True)
            return weighted / discounted_survival_series(family, params, n, discount_rate,
                                                         horizon)

        return self._per_customer(data, elasticity, "retention_elasticity", level, max_draws)

    def probability_active(self, data: pd.DataFrame, *, level: float = 0.9,
                           max_draws: int | None = None):
        """P(active at the next renewal date) of each customer: P(T > n + 1 | T > n), the
        retention rate at their next renewal (0 for a customer who churned)."""
        family = self.family
        return self._per_customer(
            data, lambda params, n: np.exp(family.survival_ratio_log(params, n, 1.0)),
            "probability_active", level, max_draws)

    def _per_customer(self, data: pd.DataFrame, formula, name: str, level: float,
                      max_draws: int | None, return_draws: bool = False):
        """``formula(params, n)`` for the active customers of ``data`` (0 for those who
        churned), per draw and distinct (renewals, churned, and the parameters that vary by
        customer with covariates), presented per customer."""
        level = check_level(level)
        renewals, churned = self.contracts(data)
        params = self.draw_arrays(max_draws)
        family = self.family
        varying = varying_columns(family, self.customer_parameters(data))
        rows = DistinctRows({"n": renewals, "churned": churned.astype(float), **varying},
                            merge=len(params[0]) > 1)

        def evaluate(block: slice) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                values = formula(block_params(family, params, rows, block), rows["n"][block])
            return np.where(rows["churned"][block] > 0, 0.0, values)

        summary = summarise(evaluate, len(rows), len(params[0]), level=level,
                            keep_draws=return_draws)
        return self.present(summary, rows, data.index, name, return_draws)

    def simulate(self, n_customers: int, periods: ArrayLike,
                 random_state: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Draw customers' contract histories from the model (a Bayesian model draws each
        customer's parameters from a random posterior draw).

        Parameters
        ----------
        n_customers : int
            Number of customers.
        periods : int or array-like
            Renewal dates observed per customer (scalar or one per customer), whole, >= 0.

        Returns
        -------
        DataFrame
            A contract table (``renewals``, ``churned``) indexed by customer number.
        """
        self.check_fitted()
        rng = np.random.default_rng(random_state)
        periods = np.broadcast_to(_curve_periods(periods, "periods"), (int(n_customers),))
        params = self.customer_params(len(periods), rng)
        renewals, churned = self.family.simulate(params, periods, rng)
        table = pd.DataFrame({"renewals": renewals.astype(np.int64), "churned": churned},
                             index=pd.RangeIndex(len(periods), name="customer_id"))
        return set_table_time_unit(table, self.time_unit_)


def contract_draws(model: Any, max_draws: int | None, random_seed: int = 0
                   ) -> tuple[np.ndarray, ...]:
    """A contractual model's parameter draws (one ``(draws, 1)`` array per parameter)."""
    if getattr(model.family, "kind", None) != "contract":
        raise ValidationError(
            f"{type(model).__name__} is not a contractual model (sBG or BdW); contractual "
            "value needs one")
    if getattr(model, "covariate_columns", ()):
        # The value of a cohort is computed from one set of parameters per draw; with
        # covariates every customer has their own, which this path does not take yet.
        raise ValidationError(
            f"{type(model).__name__} was fitted with covariates {list(model.covariate_columns)}"
            ": contractual value is not available for it yet; use its "
            "expected_residual_lifetime(table, discount_rate), which follows each "
            "customer's covariates")
    return model.draw_arrays(max_draws, random_seed)


__all__ = ["CONTRACT_COLUMNS", "ContractFamily", "ContractPredictions", "check_contracts",
           "check_renewal_horizon", "cohort_to_customers", "contract_draws",
           "discounted_survival_series", "empirical_survival"]
