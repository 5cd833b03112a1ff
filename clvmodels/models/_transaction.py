"""What the purchase-count models (BG/NBD, Pareto/NBD) share: the conditional predictions.

Both models have the same structure: given a customer's history (frequency x, recency t_x, age T),
the customer is alive with probability P(alive), and an alive customer's future behaves exactly
like a *new* customer's with updated ("posterior") parameters (by memorylessness of the dropout
process). So every conditional prediction is

    P(alive) * (the new-customer quantity under the updated parameters)

Both likelihoods also share a form, ``LL = c + logaddexp(u, v)`` with ``u`` the customer alive
at T and ``v`` the customer gone since, so that ``P(alive) = exp(u - logaddexp(u, v))``. A model
module only defines those three terms, the parameter update, and the new-customer formulas
(expected purchases, purchase rate and purchase-count distribution).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from clvmodels._numerics import integrate_panels
from clvmodels.models._base import FitData, MLEModel, check_time_unit, first_rows, row_codes
from clvmodels.validation import ValidationError, check_rfm

Params = tuple[np.ndarray, ...]

# The discounted-purchase integral is evaluated in u = log(1 + t / scale), where the purchase
# rate decays like a power of (1 + t / scale) and so becomes a smooth exponential in u.
_CLV_PANELS = 8
# Beyond e**-50 of discounting the remaining purchases add nothing in double precision.
_DISCOUNT_CUTOFF_NATS = 50.0
# Rows integrated at once: bounds memory at about _CLV_CHUNK * nodes * 8 bytes per temporary.
_CLV_CHUNK = 8192


class TransactionModel(MLEModel):
    """Base of the purchase-count models: fitting input and the conditional predictions.

    Subclasses implement, with ``params`` the parameter vector and ``updated`` a tuple of
    per-customer parameter arrays (of the same names):

    - ``_log_likelihood_parts(params, x, t_x, T, x_levels=None) -> (c, u, v)``, where
      ``x_levels`` (distinct x and each row's index into them, see :func:`by_levels`) lets
      terms of x alone run once per distinct count;
    - ``_updated_params(params, x, T)``: parameters of an alive customer's future;
    - ``_expected_new(updated, t)``, ``_log_rate_new(updated, t)``, ``_pmf_new(updated, n, t)``:
      expected purchases in (0, t], log purchase rate at t, and P(n purchases in (0, t]) of a
      customer just acquired;
    - ``_rate_scale(updated)``: the time scale on which the rate decays (for quadrature);
    - ``_simulate(params, T, holdout, rng)`` returning (x, t_x, holdout purchases).
    """

    rfm_columns: ClassVar[tuple[str, str, str]] = ("frequency", "recency", "T")

    # ------------------------------------------------------------------------- input
    def _fit_columns(self, data: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
        x, t_x, T = self._rfm_arrays(data)
        if not np.any(x > 0):
            raise ValidationError(
                "column 'frequency': no customer has a repeat purchase, so the purchase rate "
                "and dropout cannot be told apart; fit on a longer observation period"
            )
        return {"x": x, "t_x": t_x, "T": T}, np.ones(len(data), dtype=bool)

    def _rfm_arrays(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        check_rfm(data)
        return tuple(data[c].to_numpy(dtype=float) for c in self.rfm_columns)

    def _log_likelihood(self, params, fit_data: FitData) -> np.ndarray:
        c, u, v = self._log_likelihood_parts(
            params, fit_data["x"], fit_data["t_x"], fit_data["T"], fit_data.levels("x")
        )
        return c + np.logaddexp(u, v)

    def _log_probability_alive(self, params, x, t_x, T, x_levels=None) -> np.ndarray:
        _, u, v = self._log_likelihood_parts(params, x, t_x, T, x_levels)
        return u - np.logaddexp(u, v)

    def _initial_params(self, fit_data: FitData) -> np.ndarray:
        # r = 1 and a purchase rate r / alpha equal to the observed one; dropout parameters 1.
        w = fit_data.weights
        alpha = np.dot(w, fit_data["T"]) / max(np.dot(w, fit_data["x"] + 1.0), 1e-12)
        return np.array([1.0, alpha, 1.0, 1.0])

    def _customers(self, data: pd.DataFrame):
        """Checked arrays of a table to score, with its index."""
        self._check_fitted()
        x, t_x, T = self._rfm_arrays(data)
        check_time_unit(self, data)
        return data.index, x, t_x, T

    @property
    def _param_values(self) -> np.ndarray:
        return self.params_.to_numpy(dtype=float)

    # ------------------------------------------------------------------------- predictions
    def probability_alive(self, data: pd.DataFrame) -> pd.Series:
        """Probability that each customer is still active at the end of the observation.

        Parameters
        ----------
        data : DataFrame
            RFM table (``frequency``, ``recency``, ``T``) indexed by customer.

        Returns
        -------
        Series
            P(alive) per customer, indexed like ``data``.
        """
        index, x, t_x, T = self._customers(data)
        log_alive = self._log_probability_alive(self._param_values, x, t_x, T)
        return pd.Series(np.exp(log_alive), index=index, name="probability_alive")

    def expected_purchases(self, data: pd.DataFrame, t: ArrayLike) -> pd.Series:
        """Expected number of purchases of each customer in the next ``t`` time units.

        Parameters
        ----------
        data : DataFrame
            RFM table (``frequency``, ``recency``, ``T``) indexed by customer.
        t : float or array-like
            Length of the forecast period in the data's time unit; a scalar or one per customer.

        Returns
        -------
        Series
            Conditional expected purchases, indexed like ``data``.
        """
        index, x, t_x, T = self._customers(data)
        t = _check_duration(t, "t")
        params = self._param_values
        alive = np.exp(self._log_probability_alive(params, x, t_x, T))
        expected = self._future_of_alive(x, T, t, self._expected_new)
        return pd.Series(alive * expected, index=index, name="expected_purchases")

    def probability_of_purchases(self, data: pd.DataFrame, n: int, t: ArrayLike) -> pd.Series:
        """Probability that each customer makes exactly ``n`` purchases in the next ``t`` units.

        Parameters
        ----------
        data : DataFrame
            RFM table (``frequency``, ``recency``, ``T``) indexed by customer.
        n : int
            Number of purchases, ``n >= 0``.
        t : float or array-like
            Length of the forecast period in the data's time unit.

        Returns
        -------
        Series
            P(X(T, T + t) = n) per customer, indexed like ``data``.
        """
        index, x, t_x, T = self._customers(data)
        n = _check_count(n)
        t = _check_duration(t, "t")
        params = self._param_values
        log_alive = self._log_probability_alive(params, x, t_x, T)
        pmf = self._future_of_alive(x, T, t, lambda updated, t_: self._pmf_new(updated, n, t_))
        dead = -np.expm1(log_alive) if n == 0 else 0.0
        return pd.Series(np.exp(log_alive) * pmf + dead, index=index, name="probability")

    def expected_purchases_new_customer(self, t: ArrayLike) -> np.ndarray | float:
        """Expected purchases in (0, t] of a customer just acquired (unconditional).

        Parameters
        ----------
        t : float or array-like
            Time since acquisition, in the model's time unit.

        Returns
        -------
        float or ndarray
            Expected repeat purchases, shaped like ``t``.
        """
        self._check_fitted()
        t = _check_duration(t, "t")
        params = tuple(np.asarray(v) for v in self._param_values)
        result = self._expected_new(params, t)
        return float(result) if np.ndim(result) == 0 else result

    def probability_of_purchases_new_customer(self, n: int, t: ArrayLike) -> np.ndarray | float:
        """Probability that a customer just acquired makes exactly ``n`` repeat purchases in (0, t].

        The unconditional purchase-count distribution (for BG/NBD equation 8 of Fader, Hardie &
        Lee 2005, for Pareto/NBD by quadrature over the lifetime); summed over customers of ages
        T it gives the expected histogram of calibration-period repeat purchases.

        Parameters
        ----------
        n : int
            Number of repeat purchases, ``n >= 0``.
        t : float or array-like
            Time since acquisition, in the model's time unit.

        Returns
        -------
        float or ndarray
            P(X(t) = n), shaped like ``t``.
        """
        self._check_fitted()
        n = _check_count(n)
        t = _check_duration(t, "t")
        params = tuple(np.asarray(v) for v in self._param_values)
        # The quadrature of some models takes one row per element: evaluate on the flat array.
        result = self._pmf_new(params, n, t.ravel()).reshape(t.shape)
        return float(result) if np.ndim(result) == 0 else result

    def discounted_expected_purchases(
        self, data: pd.DataFrame, *, horizon: float, discount_rate: float = 0.0
    ) -> pd.Series:
        """Expected purchases in the next ``horizon`` time units, each discounted to today.

        A purchase at time t is worth ``(1 + discount_rate) ** -t``. With ``discount_rate=0``
        this is :meth:`expected_purchases` exactly; with ``horizon=inf`` it is the discounted
        expected residual transactions (DERT). The integral of the discounted purchase rate is
        computed by Gauss-Legendre quadrature on a log time axis (relative error ~1e-10).

        Parameters
        ----------
        data : DataFrame
            RFM table (``frequency``, ``recency``, ``T``) indexed by customer.
        horizon : float
            Forecast horizon in the data's time unit, ``> 0``; ``float("inf")`` for the
            customer's whole remaining lifetime (needs ``discount_rate > 0``).
        discount_rate : float, default 0.0
            Discount rate per time unit, ``>= 0``.

        Returns
        -------
        Series
            Discounted expected purchases per customer, indexed like ``data``.
        """
        horizon, discount_rate = _check_discounting(horizon, discount_rate)
        if discount_rate == 0:
            return self.expected_purchases(data, horizon).rename("discounted_expected_purchases")
        index, x, t_x, T = self._customers(data)
        params = self._param_values
        alive = np.exp(self._log_probability_alive(params, x, t_x, T))
        log_rate = np.log1p(discount_rate)  # continuous-time equivalent of the rate

        def discounted(updated: Params, _) -> np.ndarray:
            return _integrate_rate(
                self._log_rate_new, updated, self._rate_scale(updated), horizon, log_rate
            )

        integral = self._future_of_alive(x, T, 0.0, discounted)
        return pd.Series(alive * integral, index=index, name="discounted_expected_purchases")

    def _future_of_alive(self, x, T, t, quantity) -> np.ndarray:
        """``quantity(updated params, t)`` per customer, evaluated once per distinct (x, T).

        An alive customer's future depends on the history through (x, T) only, and many
        customers share them (same cohort, same count), so the formulas, some of which need
        quadrature, run on the distinct pairs. A per-customer ``t`` is evaluated row by row.
        """
        params = self._param_values
        if np.ndim(t) > 0:
            return quantity(self._updated_params(params, x, T), t)
        codes = row_codes([x, T])
        first = first_rows(codes)
        updated = tuple(
            np.broadcast_to(p, len(first)).astype(float)
            for p in self._updated_params(params, x[first], T[first])
        )
        return quantity(updated, t)[codes]

    # ------------------------------------------------------------------------- simulation
    def simulate(
        self,
        n_customers: int,
        T: ArrayLike,
        holdout: float = 0.0,
        random_state: int | np.random.Generator | None = None,
    ) -> pd.DataFrame:
        """Draw customers' purchase histories from the model with its parameters.

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
        self._check_fitted()
        rng = np.random.default_rng(random_state)
        T = np.broadcast_to(np.asarray(T, dtype=float), (int(n_customers),)).copy()
        if not np.all(np.isfinite(T) & (T > 0)):
            raise ValueError("T must be positive and finite")
        x, t_x, x_holdout = self._simulate(self._param_values, T, float(holdout), rng)
        result = pd.DataFrame(
            {"frequency": x.astype(np.int64), "recency": t_x, "T": T},
            index=pd.RangeIndex(len(T), name="customer_id"),
        )
        if holdout > 0:
            result["frequency_holdout"] = x_holdout.astype(np.int64)
            result["duration_holdout"] = float(holdout)
        result.attrs["time_unit"] = self.time_unit_
        return result


def by_levels(function, x, x_levels):
    """``function(x)`` (a tuple of arrays), evaluated once per distinct value when
    ``x_levels = (values, codes)`` is given.

    The values run along the last axis, so parameters with a leading axis of posterior draws
    (shape ``(draws, 1)``) give one row of results per draw.
    """
    if x_levels is None:
        return function(x)
    values, codes = x_levels
    return tuple(part[..., codes] for part in function(values))


def _integrate_rate(
    log_rate: Callable[[Params, np.ndarray], np.ndarray],
    params: Params,
    scale: np.ndarray,
    horizon: ArrayLike,
    k: float = 0.0,
    panels: int = _CLV_PANELS,
) -> np.ndarray:
    """``integral_0^horizon exp(-k t) exp(log_rate(params, t)) dt`` per row of ``params``.

    Composite Gauss-Legendre in u = log(1 + t / scale), where a purchase rate decaying like a
    power of (1 + t / scale) is a smooth exponential; rows are processed in chunks so memory
    stays bounded for millions of rows. ``panels`` trades accuracy for speed (the Bayesian
    models, which evaluate the integral once per posterior draw, use fewer).
    """
    n = len(scale)
    horizon = np.broadcast_to(np.asarray(horizon, dtype=float), (n,))
    end = horizon if k == 0 else np.minimum(horizon, _DISCOUNT_CUTOFF_NATS / k)
    u_max = np.log1p(end / scale)
    result = np.empty(n)
    for chunk in _chunks(n, _CLV_CHUNK):
        chunk_params = tuple(np.broadcast_to(p, (n,))[chunk] for p in params)
        edges = np.linspace(0.0, 1.0, panels + 1)[:, None] * u_max[None, chunk]

        def log_integrand(u, chunk=chunk, chunk_params=chunk_params):
            t = scale[chunk] * np.expm1(u)
            return np.log(scale[chunk]) + u - k * t + log_rate(chunk_params, t)

        result[chunk] = np.exp(integrate_panels(log_integrand, edges))
    return result


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)] or [slice(0, 0)]


def _check_duration(t: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(array) & (array >= 0)):
        raise ValidationError(f"{name} must be finite and >= 0 (a duration), got {t!r}")
    return array


def _check_discounting(horizon: float, discount_rate: float) -> tuple[float, float]:
    """Checked ``(horizon, discount_rate)`` of a discounted forecast, as floats."""
    horizon = float(horizon)
    if not horizon > 0:
        raise ValueError(f"horizon must be > 0 (in the data's time unit), got {horizon}")
    discount_rate = float(discount_rate)
    if not (np.isfinite(discount_rate) and discount_rate >= 0):
        raise ValueError(f"discount_rate must be a finite number >= 0, got {discount_rate}")
    if discount_rate == 0 and np.isinf(horizon):
        raise ValueError(
            "an infinite horizon needs a positive discount_rate: undiscounted, the "
            "expected number of future purchases can be infinite"
        )
    return horizon, discount_rate


def _check_count(n: int) -> int:
    if int(n) != n or n < 0:
        raise ValidationError(f"n must be a whole number >= 0, got {n!r}")
    return int(n)

