"""Posterior predictions of the purchase-count models (BG/NBD, Pareto/NBD).

Every prediction is the maximum-likelihood model's formula evaluated at each posterior draw of
the parameters (the formulas broadcast over a leading axis of draws), then summarised per
customer. As in the maximum-likelihood models, P(alive) is computed per distinct
(frequency, recency, T) and an alive customer's future per distinct (frequency, T).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from clvmodels.bayes._base import BayesianModel
from clvmodels.bayes._posterior import DistinctRows, block_levels, by_group, check_level, summarise
from clvmodels.models._base import check_time_unit
from clvmodels.models._transaction import (
    TransactionModel,
    _check_count,
    _check_discounting,
    _check_duration,
    _integrate_rate,
)

# Gauss-Legendre panels of the discounted-purchase integral (32 nodes each), evaluated once per
# draw and distinct (frequency, T): one agrees with the maximum-likelihood models' 8 to ~1e-14
# on posterior draws (checked in the tests to 1e-10) at an eighth of the cost.
_DISCOUNT_PANELS = 1
# The predictive count distribution is summed up to at most this many purchases beyond the
# largest expected count of a block (its upper tail is then far below 1e-6).
_MAX_EXTRA_COUNT = 10_000

Future = Callable[[tuple, np.ndarray], np.ndarray]


def log_alive_values(
    formulas: TransactionModel, params: tuple[np.ndarray, ...], rows: DistinctRows, block: slice
) -> np.ndarray:
    """log P(alive) per draw and row of a block.

    ``formulas`` is the model whose formulas to use (any instance: they take the parameters),
    ``params`` one array per parameter of shape ``(draws, 1)``, ``rows`` has columns ``x``,
    ``t_x`` and ``T``. Returns an array of shape ``(draws, rows in the block)``.
    """
    x, t_x, T = (rows[name][block] for name in ("x", "t_x", "T"))
    return formulas._log_probability_alive(params, x, t_x, T, block_levels(x))


def future_values(
    formulas: TransactionModel,
    params: tuple[np.ndarray, ...],
    rows: DistinctRows,
    block: slice,
    future: Future,
) -> np.ndarray:
    """An alive customer's ``future(updated params, t)`` per draw and row of a block.

    ``future`` takes flat arrays of the updated parameters and of t; it runs once per distinct
    (x, T, t) of the block (``rows`` grouped by those columns).
    """
    x, T, t = (rows[name][block] for name in ("x", "T", "t"))

    def per_group(first):
        updated = formulas._updated_params(params, x[first], T[first])
        shape = np.broadcast_shapes(*(np.shape(p) for p in updated), t[first].shape)
        flat = tuple(np.broadcast_to(p, shape).ravel() for p in updated)
        return future(flat, np.broadcast_to(t[first], shape).ravel()).reshape(shape)

    return by_group(per_group, rows.group_codes[block])


def conditional_values(
    formulas: TransactionModel,
    params: tuple[np.ndarray, ...],
    rows: DistinctRows,
    block: slice,
    future: Future | None = None,
    add_dead: bool = False,
) -> np.ndarray:
    """P(alive) times the alive customer's ``future`` (P(alive) alone without one), plus
    P(dead) with ``add_dead`` (for the probability of no purchase); see
    :func:`log_alive_values` and :func:`future_values`."""
    log_alive = log_alive_values(formulas, params, rows, block)
    values = np.exp(log_alive)
    if future is not None:
        values = values * future_values(formulas, params, rows, block, future)
    if add_dead:
        values = values - np.expm1(log_alive)
    return values


def discounted_future(formulas: TransactionModel, horizon: float, discount_rate: float) -> Future:
    """A new customer's purchases over ``horizon``, discounted (checked settings)."""
    if discount_rate == 0:
        return lambda updated, _: formulas._expected_new(updated, horizon)
    log_rate = np.log1p(discount_rate)
    return lambda updated, _: _integrate_rate(
        formulas._log_rate_new, updated, formulas._rate_scale(updated), horizon, log_rate,
        panels=_DISCOUNT_PANELS,
    )


class BayesianTransactionModel(BayesianModel):
    """Predictions of the Bayesian purchase-count models with posterior intervals.

    Each prediction method takes the arguments of the maximum-likelihood method of the same
    name plus ``level`` (mass of the equal-tailed credible interval, default 0.9),
    ``return_draws`` (also return the draws, one row per draw and one column per customer;
    this materialises the full draws x customers matrix) and ``max_draws`` (use a random
    subset of the posterior draws). They return a DataFrame indexed by customer with columns
    ``mean``, ``lower`` and ``upper``, or ``(summary, draws)`` with ``return_draws=True``.
    """

    mle_class: type[TransactionModel]

    @property
    def _formulas(self) -> TransactionModel:
        return self.mle_class()

    def _customers(self, data: pd.DataFrame):
        self._check_fitted()
        x, t_x, T = self._formulas._rfm_arrays(data)
        check_time_unit(self, data)
        return data.index, x, t_x, T

    def _predict(self, data, t, future, *, level, return_draws, max_draws, add_dead=False):
        level = check_level(level)
        index, x, t_x, T = self._customers(data)
        t = np.broadcast_to(np.asarray(t, dtype=float), x.shape)
        rows = DistinctRows({"x": x, "t_x": t_x, "T": T, "t": t}, group=("x", "T", "t"))
        params = self._param_draws(max_draws)
        formulas = self._formulas
        summary = summarise(
            lambda block: conditional_values(formulas, params, rows, block, future, add_dead),
            len(rows), len(params[0]), level=level, keep_draws=return_draws,
        )
        frame = summary.frame(rows, index)
        return (frame, summary.draws_frame(rows, index)) if return_draws else frame

    def probability_alive(
        self, data: pd.DataFrame, *, level: float = 0.9, return_draws: bool = False,
        max_draws: int | None = None,
    ) -> pd.DataFrame:
        """Posterior of the probability that each customer is still active.

        See :meth:`clvmodels.BetaGeoModel.probability_alive`; ``level``, ``return_draws``
        and ``max_draws`` as in the class description.
        """
        return self._predict(data, 0.0, None, level=level, return_draws=return_draws,
                             max_draws=max_draws)

    def expected_purchases(
        self, data: pd.DataFrame, t: ArrayLike, *, level: float = 0.9,
        return_draws: bool = False, max_draws: int | None = None,
    ) -> pd.DataFrame:
        """Posterior of each customer's expected number of purchases in the next ``t``.

        See :meth:`clvmodels.BetaGeoModel.expected_purchases`. The interval is of the
        expectation (the uncertainty about the parameters); for the spread of the count itself
        see :meth:`predictive_purchases`.
        """
        t = _check_duration(t, "t")
        formulas = self._formulas
        return self._predict(data, t, formulas._expected_new, level=level,
                             return_draws=return_draws, max_draws=max_draws)

    def probability_of_purchases(
        self, data: pd.DataFrame, n: int, t: ArrayLike, *, level: float = 0.9,
        return_draws: bool = False, max_draws: int | None = None,
    ) -> pd.DataFrame:
        """Posterior of P(exactly ``n`` purchases in the next ``t``) per customer.

        See :meth:`clvmodels.BetaGeoModel.probability_of_purchases`.
        """
        n = _check_count(n)
        t = _check_duration(t, "t")
        formulas = self._formulas
        return self._predict(
            data, t, lambda updated, t_: formulas._pmf_new(updated, n, t_), level=level,
            return_draws=return_draws, max_draws=max_draws, add_dead=n == 0,
        )

    def discounted_expected_purchases(
        self, data: pd.DataFrame, *, horizon: float, discount_rate: float = 0.0,
        level: float = 0.9, return_draws: bool = False, max_draws: int | None = None,
    ) -> pd.DataFrame:
        """Posterior of the discounted expected purchases over ``horizon`` per customer.

        See :meth:`clvmodels.BetaGeoModel.discounted_expected_purchases`.
        """
        horizon, discount_rate = _check_discounting(horizon, discount_rate)
        future = discounted_future(self._formulas, horizon, discount_rate)
        return self._predict(data, 0.0, future, level=level, return_draws=return_draws,
                             max_draws=max_draws)

    def expected_purchases_new_customer(
        self, t: ArrayLike, *, level: float = 0.9, return_draws: bool = False,
        max_draws: int | None = None,
    ) -> pd.DataFrame:
        """Posterior of a new customer's expected purchases in (0, t].

        Returns
        -------
        DataFrame
            ``mean``, ``lower``, ``upper`` indexed by ``t`` (and the draws, one column per
            ``t``, with ``return_draws=True``).
        """
        self._check_fitted()
        level = check_level(level)
        t = np.atleast_1d(_check_duration(t, "t")).ravel()
        params = self._param_draws(max_draws)
        rows = DistinctRows({"t": t})
        formulas = self._formulas
        summary = summarise(
            lambda block: formulas._expected_new(params, rows["t"][block]),
            len(rows), len(params[0]), level=level, keep_draws=return_draws,
        )
        index = pd.Index(t, name="t")
        frame = summary.frame(rows, index)
        return (frame, summary.draws_frame(rows, index)) if return_draws else frame

    def predictive_purchases(
        self, data: pd.DataFrame, t: ArrayLike, *, level: float = 0.9,
        max_draws: int | None = None,
    ) -> pd.DataFrame:
        """Posterior predictive distribution of each customer's purchase count in the next ``t``.

        The count's distribution is the model's P(X = n | history) averaged over the posterior
        draws; ``lower`` and ``upper`` are its ``(1 - level) / 2`` and ``(1 + level) / 2``
        quantiles (whole numbers: the interval holds at least ``level`` of the predictive
        mass, so a calibrated model covers a customer's holdout count at least that often).

        Returns
        -------
        DataFrame
            ``mean`` (the posterior mean of the expected count), ``lower``, ``upper`` (int),
            indexed by customer.
        """
        level = check_level(level)
        t = _check_duration(t, "t")
        index, x, t_x, T = self._customers(data)
        t = np.broadcast_to(t, x.shape)
        rows = DistinctRows({"x": x, "t_x": t_x, "T": T, "t": t}, group=("x", "T", "t"))
        params = self._param_draws(max_draws)
        formulas = self._formulas
        mean = np.empty(len(rows))
        bounds = np.empty((2, len(rows)), dtype=np.int64)
        targets = np.array([(1 - level) / 2, (1 + level) / 2])
        block_size = max(1, 2**21 // len(params[0]))
        for start in range(0, len(rows), block_size):
            block = slice(start, min(start + block_size, len(rows)))
            expected = conditional_values(formulas, params, rows, block, formulas._expected_new)
            mean[block] = expected.mean(axis=0)
            bounds[:, block] = _count_quantiles(
                lambda n, sub: conditional_values(
                    formulas, params, sub, slice(None),
                    lambda u, t_: formulas._pmf_new(u, n, t_), add_dead=n == 0,
                ).mean(axis=0),
                rows.subset(block), targets, limit=int(expected.max()) + _MAX_EXTRA_COUNT,
            )
        codes = rows.codes
        return pd.DataFrame(
            {"mean": mean[codes], "lower": bounds[0, codes], "upper": bounds[1, codes]},
            index=index,
        )


def _count_quantiles(pmf, rows: DistinctRows, targets: np.ndarray, limit: int) -> np.ndarray:
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
