"""The Pareto/NBD with time-varying covariates (Bachmann, Meierer & Naef 2021, "The Role of
Time-Varying Contextual Factors in Latent Attrition Models for Customer Base Analysis",
Marketing Science 40(4); CLVTools' dynamic-covariate ``pnbd``).

Each customer's time runs from the first purchase (0) to the end of the calibration (T) and is
cut into pieces k of constant covariates (the covariate periods, see
:mod:`clvmodels.estimation.dynamic_covariates`), of start ``e_k`` and length ``h_k``. On
piece k the purchase rate is ``lambda a_k`` and the dropout rate ``mu b_k``, with
``a_k = exp(eta_pk)``, ``b_k = exp(eta_dk)`` (``eta`` the linear predictors of the
covariates), ``lambda ~ Gamma(r, alpha)``, ``mu ~ Gamma(s, beta)``. The "effective times"
``A(t) = integral_0^t a``, ``B(t) = integral_0^t b`` are piecewise linear; integrating out
lambda and mu, a customer with x repeat purchases, n_k of them in piece k, has

``L = Gamma(r + x) / Gamma(r) alpha^r beta^s prod_k a_k^(n_k)
[(alpha + A(T))^-(r + x) (beta + B(T))^-s
+ s integral_{t_x}^T (alpha + A(w))^-(r + x) (beta + B(w))^-(s + 1) b(w) dw]``.

On a piece the substitution ``y = b_k (w - e_k)`` makes the integral the one of the model
without covariates (:func:`~clvmodels.models.pareto_nbd_quadrature.dropout_integral_derivatives`),
``(a_k / b_k)^-(r + x) I(r, alpha_k, s, beta_k, x, lo_k, hi_k)`` with
``alpha_k = (alpha + A(e_k)) b_k / a_k``, ``beta_k = beta + B(e_k)`` and the limits
``b_k (max(t_x, e_k) - e_k)``, ``b_k h_k``: the dropout term is a sum over the pieces after
the last purchase. The gradient is the chain rule through these quantities (the derivatives
of log I in its arguments come from the same quadrature; in its limits they are the integrand
there). With constant covariates ``a_k = exp(g_p' z)``, this is the static-covariate model
``alpha_i = alpha exp(-g_p' z)``, ``beta_i = beta exp(-g_d' z)``
(:attr:`~clvmodels.models.pareto_nbd.ParetoNBDFamily.covariate_links`), coefficients and all.

An alive customer's future over pieces of the horizon (starting at T): with
``lambda ~ Gamma(r + x, alpha + A(T))``, ``mu ~ Gamma(s, beta + B(T))``, the expected purchases
are ``(r + x) / (alpha + A(T)) sum_k a_k integral_k ((beta + B(T)) / (beta + B(w)))^s dw``, in
closed form per piece.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.special import digamma, expit, exprel, gammaln

from clvmodels._numerics import gauss_legendre
from clvmodels.errors import DegenerateFitWarning
from clvmodels.estimation.covariate_fit import (
    Coordinates,
    CovariateObjective,
    covariate_estimate,
)
from clvmodels.estimation.covariates import CovariateDesign
from clvmodels.estimation.dynamic_covariates import CovariatePeriods, Pieces, covariate_periods
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.optimise import (
    degenerate_fit_message,
    fit_maximum_likelihood,
    minimise_from,
)
from clvmodels.models.pareto_nbd_quadrature import dropout_integral_derivatives
from clvmodels.timeunit import check_same_unit, table_time_unit
from clvmodels.validation import ValidationError, check_discounting, check_duration


@dataclass(frozen=True)
class DynamicLikelihood:
    """Per customer log-likelihood, and (with the gradient) the derivatives of the total in
    the log base parameters (4,) and in each piece's ``eta_p`` and ``eta_d``."""

    per_customer: np.ndarray
    log_base: np.ndarray | None = None
    eta_purchase: np.ndarray | None = None
    eta_dropout: np.ndarray | None = None


def _segment_logsumexp(values: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """``log sum exp`` of ``values`` per group (-inf for a group without values)."""
    peak = np.full(n, -np.inf)
    np.maximum.at(peak, groups, values)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):  # log 0 = -inf for a group without values
        return safe + np.log(np.bincount(groups, np.exp(values - safe[groups]), n))


def log_likelihood(params, eta_purchase: np.ndarray, eta_dropout: np.ndarray,
                   pieces: Pieces, gradient: bool = True) -> DynamicLikelihood:
    """The dynamic-covariate Pareto/NBD log-likelihood per customer (see the module), and
    with ``gradient`` its total's derivatives.

    Parameters
    ----------
    params : sequence of float
        ``r, alpha, s, beta``.
    eta_purchase, eta_dropout : ndarray
        The linear predictors of each piece's purchase and dropout covariates.
    pieces : Pieces
        The customers' calibration pieces.
    gradient : bool
        Whether to compute the derivatives.
    """
    r, alpha, s, beta = (float(value) for value in params)
    customer, length = pieces.customer, pieces.length
    n = pieces.n_customers
    x, t_x = pieces.x, pieces.t_x
    rate_purchase, rate_dropout = np.exp(eta_purchase), np.exp(eta_dropout)
    exposure_purchase, exposure_dropout = rate_purchase * length, rate_dropout * length
    a_start = pieces.cumulative_before(exposure_purchase)
    b_start = pieces.cumulative_before(exposure_dropout)
    a_total, b_total = pieces.total(exposure_purchase), pieces.total(exposure_dropout)
    # The pieces after the last purchase, over which the customer may have dropped out.
    end = pieces.start + length
    dropping = np.flatnonzero(end > t_x[customer])
    owner = customer[dropping]
    shape = r + x[owner]
    ratio = np.exp(eta_dropout[dropping] - eta_purchase[dropping])
    alpha_k = (alpha + a_start[dropping]) * ratio
    beta_k = beta + b_start[dropping]
    offset = np.maximum(t_x[owner] - pieces.start[dropping], 0.0)
    lo, hi = rate_dropout[dropping] * offset, exposure_dropout[dropping]
    log_i, d_i, _ = dropout_integral_derivatives(r, alpha_k, s, beta_k, x[owner], lo, hi)
    log_piece = -shape * (eta_purchase[dropping] - eta_dropout[dropping]) + log_i
    log_sum = _segment_logsumexp(log_piece, owner, n)

    c = (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
         + pieces.total(pieces.purchases * eta_purchase))
    u = -(r + x) * np.log(alpha + a_total) - s * np.log(beta + b_total)
    v = np.log(s) + log_sum
    rows = c + np.logaddexp(u, v)
    if not gradient:
        return DynamicLikelihood(rows)

    dropped = expit(v - u)  # the share of the dropped-out term; 0 where v = -inf
    alive = 1.0 - dropped
    weight = dropped[owner] * np.exp(log_piece - log_sum[owner])  # of each piece in LL
    d_alpha_k = d_i[1]
    log_base = np.array([
        r * np.sum(digamma(r + x) - digamma(r) + np.log(alpha) - alive * np.log(alpha + a_total))
        + r * np.sum(weight * (d_i[0] - (eta_purchase[dropping] - eta_dropout[dropping]))),
        alpha * np.sum(r / alpha - alive * (r + x) / (alpha + a_total))
        + alpha * np.sum(weight * d_alpha_k * ratio),
        s * np.sum(np.log(beta) - alive * np.log(beta + b_total) + dropped / s)
        + s * np.sum(weight * d_i[2]),
        beta * np.sum(s / beta - alive * s / (beta + b_total))
        + beta * np.sum(weight * d_i[3]),
    ])
    # d log I in its limits: the integrand there over I.
    def log_integrand(y):
        return -shape * np.log(alpha_k + y) - (s + 1) * np.log(beta_k + y)

    d_lo = -np.exp(log_integrand(lo) - log_i)
    d_hi = np.exp(log_integrand(hi) - log_i)
    # Through A(e_k) and B(e_k), every piece moves the pieces after it.
    through_a = np.zeros(len(length))
    through_b = np.zeros(len(length))
    through_a[dropping] = weight * d_alpha_k * ratio
    through_b[dropping] = weight * d_i[3]
    grad_purchase = (pieces.purchases
                     - alive[customer] * (r + x[customer]) / (alpha + a_total[customer])
                     * exposure_purchase
                     + exposure_purchase * pieces.sum_after(through_a))
    grad_dropout = (-alive[customer] * s / (beta + b_total[customer]) * exposure_dropout
                    + exposure_dropout * pieces.sum_after(through_b))
    grad_purchase[dropping] += weight * (-shape - d_alpha_k * alpha_k)
    grad_dropout[dropping] += weight * (shape + d_alpha_k * alpha_k + d_lo * lo + d_hi * hi)
    return DynamicLikelihood(rows, log_base, grad_purchase, grad_dropout)


def log_alive(params, eta_purchase: np.ndarray, eta_dropout: np.ndarray,
              pieces: Pieces) -> np.ndarray:
    """log P(alive at T) per customer: the alive term's share of the likelihood."""
    r, alpha, s, beta = (float(value) for value in params)
    rows = log_likelihood(params, eta_purchase, eta_dropout, pieces, gradient=False)
    exposure_purchase = np.exp(eta_purchase) * pieces.length
    exposure_dropout = np.exp(eta_dropout) * pieces.length
    x = pieces.x
    c = (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
         + pieces.total(pieces.purchases * eta_purchase))
    u = (-(r + x) * np.log(alpha + pieces.total(exposure_purchase))
         - s * np.log(beta + pieces.total(exposure_dropout)))
    return np.minimum(c + u - rows.per_customer, 0.0)


def future_expected(params, eta_purchase: np.ndarray, eta_dropout: np.ndarray,
                    calibration: Pieces, future: Pieces) -> np.ndarray:
    """An alive customer's expected purchases over the future pieces (see the module):
    per piece ``a_k ((beta + B(T)) / (beta + B(e_k)))^s (beta + B(e_k)) / b_k
    L exprel((1 - s) L)`` with ``L = log1p(b_k h_k / (beta + B(e_k)))``."""
    r, alpha, s, beta = (float(value) for value in params)
    x = calibration.x
    a_total = calibration.total(np.exp(eta_purchase[0]) * calibration.length)
    b_total = calibration.total(np.exp(eta_dropout[0]) * calibration.length)
    rate_purchase, rate_dropout = np.exp(eta_purchase[1]), np.exp(eta_dropout[1])
    owner = future.customer
    scale = beta + b_total[owner] + future.cumulative_before(rate_dropout * future.length)
    growth = np.log1p(rate_dropout * future.length / scale)
    per_piece = (rate_purchase * np.exp(s * (np.log(beta + b_total[owner]) - np.log(scale)))
                 * scale / rate_dropout * growth * exprel((1.0 - s) * growth))
    return (r + x) / (alpha + a_total) * future.total(per_piece)


# Gauss-Legendre nodes per future piece of the discounted future: the integrand is analytic but
# for the power's singularity at w = -(beta + B(e_k)) / b_k, at least ~0.1 b_k h_k before the
# piece for any plausible fit, where 20 nodes leave a relative error below ~1e-11.
_DISCOUNT_NODES = 20


def future_discounted(params, eta_purchase: tuple, eta_dropout: tuple, calibration: Pieces,
                      future: Pieces, discount_rate: float) -> np.ndarray:
    """An alive customer's future purchases, each discounted by ``(1 + discount_rate)^-w``
    (w the time since T): :func:`future_expected` with the integral over each piece by
    Gauss-Legendre quadrature."""
    r, alpha, s, beta = (float(value) for value in params)
    a_total = calibration.total(np.exp(eta_purchase[0]) * calibration.length)
    b_total = calibration.total(np.exp(eta_dropout[0]) * calibration.length)
    rate_purchase, rate_dropout = np.exp(eta_purchase[1]), np.exp(eta_dropout[1])
    owner = future.customer
    scale = beta + b_total[owner] + future.cumulative_before(rate_dropout * future.length)
    nodes, weights = gauss_legendre(_DISCOUNT_NODES)
    within = future.length[:, None] * nodes[None, :]
    log_value = (np.log(rate_purchase)[:, None]
                 - np.log1p(discount_rate) * (future.start - future.T[owner])[:, None]
                 - np.log1p(discount_rate) * within
                 + s * (np.log(beta + b_total[owner])[:, None]
                        - np.log(scale[:, None] + rate_dropout[:, None] * within)))
    per_piece = future.length * (np.exp(log_value) @ weights)
    return (r + calibration.x) / (alpha + a_total) * future.total(per_piece)


# ----------------------------------------------------------------------------- fitting
class DynamicObjective(CovariateObjective):
    """Mean negative log-likelihood plus the penalties of :class:`CovariateObjective`, in its
    coordinates (log base parameters at the covariates' weighted means, coefficients of the
    standardised columns), over the customers' calibration pieces."""

    def __init__(self, coordinates: Coordinates, pieces: Pieces, standardised: np.ndarray,
                 penalizer: float) -> None:
        self.coordinates = coordinates
        self.pieces = pieces
        self.standardised = standardised
        self.penalizer = penalizer
        self.total_weight = float(pieces.n_customers)
        spec = coordinates.design.spec
        processes = [name.split(".", 1)[0] for name in coordinates.names]
        scale = coordinates.design.scales[coordinates.positions] if spec.standardize else 1.0
        self.coefficient_weights = np.array(
            [spec.penalizer[process] for process in processes]) * scale**2

    def log_likelihood(self, phi: np.ndarray, with_gradient: bool = True):
        """The total log-likelihood and its gradient in ``phi``."""
        coordinates = self.coordinates
        base = np.exp(phi[:coordinates.n_base])
        purchase, dropout = linear_predictors(coordinates, coordinates.internal_coefficients(
            phi), self.standardised)
        result = log_likelihood(base, purchase, dropout, self.pieces, with_gradient)
        total = float(result.per_customer.sum())
        if not with_gradient:
            return total, None
        alpha, beta = (coordinates.family.param_names.index(name) for name in ("alpha", "beta"))
        # eta of a linked parameter j is -sign_c g_c z_c (rates scale as 1 / alpha, 1 / beta).
        columns = self.standardised[:, coordinates.positions]
        per_piece = (np.outer(result.eta_purchase, coordinates.linked[alpha])
                     + np.outer(result.eta_dropout, coordinates.linked[beta]))
        gradient = -coordinates.signs * np.einsum("kc,kc->c", per_piece, columns)
        free = np.bincount(coordinates.tie, gradient, coordinates.n_free)
        return total, np.concatenate([result.log_base, free])


def linear_predictors(coordinates: Coordinates, coefficients: np.ndarray, matrix: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``eta_p``, ``eta_d`` per row of a design ``matrix``: the logs of the factors of the
    purchase and dropout rates (``alpha_i = alpha exp(-eta_p)``, likewise beta)."""
    exponent = (matrix[:, coordinates.positions] * (coordinates.signs * coefficients)
                ) @ coordinates.linked.T
    names = coordinates.family.param_names
    return -exponent[:, names.index("alpha")], -exponent[:, names.index("beta")]


def fit_time_varying(model: Any, data: pd.DataFrame, table: pd.DataFrame, *,
                     customer_col: str, date_col: str, transactions: pd.DataFrame | None,
                     transaction_date_col: str | None, weights: Any,
                     initial_params: dict[str, float] | None) -> None:
    """Fit ``model`` (a Pareto/NBD estimator with ``purchase_covariates`` /
    ``dropout_covariates`` naming columns of ``table``) with time-varying covariates; see
    :meth:`TimeVaryingCovariates.fit`."""
    owner = type(model).__name__
    family = model.family
    if weights is not None:
        raise ValidationError(f"{owner}: weights are not taken with time-varying covariates "
                              "(each customer has periods of their own)")
    spec = model.covariate_spec()
    if not spec.active:
        raise ValidationError(
            f"{owner}: time_varying_covariates was given but no covariates are named; pass "
            "purchase_covariates=[...] and/or dropout_covariates=[...] (columns of the table)")
    selection = family.fit_columns(data)  # checks the RFM table
    periods = covariate_periods(
        data, table, spec.source_columns(), customer_col, date_col, owner,
        purchase_columns=list(spec.processes.get("purchase", ())), transactions=transactions,
        transaction_date_col=transaction_date_col)
    pieces = periods.calibration
    rows = periods.calibration_rows
    design = CovariateDesign.fit(spec, rows, np.ones(len(rows), dtype=bool), pieces.length)
    coordinates = Coordinates.of(family, design, family.parameter_scale(1.0))
    objective = DynamicObjective(coordinates, pieces, design.standardised(design.matrix(rows)),
                                 float(model.penalizer))
    if initial_params is None:
        # With every coefficient 0 the likelihood is the one without covariates: start at
        # its maximum.
        fit_data = FitData.compress(selection.columns, np.ones(len(pieces.x)))
        start = fit_maximum_likelihood(family, fit_data, family.initial_params(fit_data),
                                       float(model.penalizer), owner).params
    else:
        start = family.params_from_mapping(initial_params, "initial_params")
    start_phi = np.concatenate([np.log(np.asarray(start, dtype=float)),
                                np.zeros(coordinates.n_free)])
    result = covariate_estimate(objective, minimise_from(objective, start_phi, owner))
    model.covariates_ = design
    model.time_varying_covariates_ = {"customer_col": customer_col, "date_col": date_col}
    model.params_ = result.params
    model.covariance_ = result.covariance
    model.log_likelihood_ = result.log_likelihood
    model.n_customers_ = float(pieces.n_customers)
    model.n_distinct_rows_ = pieces.n_customers
    model.time_unit_ = table_time_unit(data)
    model.excluded_customers_ = {}
    model.n_customers_excluded_ = 0.0
    if result.problems:
        warnings.warn(degenerate_fit_message(owner, result.problems), DegenerateFitWarning,
                      stacklevel=4)


# ----------------------------------------------------------------------------- predictions
class TimeVaryingPredictions:
    """Predictions of a Pareto/NBD fitted with time-varying covariates, over the covariate
    periods of ``table`` (which must cover each customer's calibration and the horizon).

    It stands for the purchase model in :func:`~clvmodels.customer_lifetime_value` and
    :func:`~clvmodels.customer_equity` (and :func:`~clvmodels.scoring.score_customers`): the
    discounted expected purchases then come from each customer's future periods. A
    maximum-likelihood fit is one parameter set, so ``level`` is accepted (as the
    estimators' methods accept it) and every prediction is a Series.
    """

    def __init__(self, model: Any, table: pd.DataFrame, customer_col: str,
                 date_col: str) -> None:
        self.model = model
        self.table = table
        self.customer_col = customer_col
        self.date_col = date_col

    @property
    def time_unit_(self) -> Any:
        """The fitted model's time unit (the unit of the periods)."""
        return self.model.time_unit_

    def _periods(self, data: pd.DataFrame, horizon: float) -> tuple[CovariatePeriods, tuple]:
        model = self.model
        owner = type(model).__name__
        check_same_unit(owner, model.time_unit_, data)
        model.family.history(data)  # checks the RFM table
        design = model.covariates_
        # The covariates at the purchases cancel from P(alive) and the future: no
        # transaction log is needed here.
        periods = covariate_periods(data, self.table, list(design.levels), self.customer_col,
                                    self.date_col, owner, horizon)
        coordinates = Coordinates.of(model.family, design, model.family.parameter_scale(1.0))
        coefficients = model.params_[coordinates.names].to_numpy(dtype=float)
        predictors = tuple(
            linear_predictors(coordinates, coefficients, design.matrix(rows))
            for rows in (periods.calibration_rows, periods.future_rows))
        return periods, predictors

    def _base(self) -> np.ndarray:
        return self.model.params_[list(self.model.family.param_names)].to_numpy(dtype=float)

    def probability_alive(self, data: pd.DataFrame, *, level: float = 0.9) -> pd.Series:
        """P(alive at the calibration end) of each customer of the RFM table ``data``."""
        periods, ((purchase, dropout), _) = self._periods(data, 0.0)
        values = np.exp(log_alive(self._base(), purchase, dropout, periods.calibration))
        return pd.Series(values, index=data.index, name="probability_alive")

    def expected_purchases(self, data: pd.DataFrame, t: float, *,
                           level: float = 0.9) -> pd.Series:
        """Expected purchases of each customer in the ``t`` time units after the calibration
        end, over the covariates of those periods."""
        horizon = float(check_duration(t)) if np.ndim(t) == 0 else None
        if horizon is None:
            raise ValidationError("t must be one horizon (a number >= 0) with time-varying "
                                  "covariates")
        alive, expected = self._parts(data, horizon, 0.0)
        return pd.Series(alive * expected, index=data.index, name="expected_purchases")

    def discounted_expected_purchases(self, data: pd.DataFrame, *, horizon: float,
                                      discount_rate: float = 0.0,
                                      level: float = 0.9) -> pd.Series:
        """Expected purchases in the next ``horizon`` time units (finite: the table must
        cover it), each discounted to the calibration end by ``(1 + discount_rate)^-t``
        (``discount_rate`` per time unit); :meth:`expected_purchases` without discounting."""
        alive, future = self.value_parts(data, horizon=horizon, discount_rate=discount_rate)
        return pd.Series(alive * future, index=data.index,
                         name="discounted_expected_purchases")

    def value_parts(self, data: pd.DataFrame, *, horizon: float,
                    discount_rate: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """P(alive) of each customer and an alive customer's discounted expected purchases
        over the horizon (their product is :meth:`discounted_expected_purchases`), in one
        pass over the periods: what the CLV multiplies by the expected spend.

        Raises
        ------
        ValidationError
            An infinite horizon, or a customer whose periods end before the horizon does.
        """
        horizon, discount_rate = check_discounting(horizon, discount_rate)
        if not np.isfinite(horizon):
            raise ValidationError("horizon must be finite with time-varying covariates (the "
                                  "covariate table must cover it)")
        return self._parts(data, horizon, discount_rate)

    def _parts(self, data: pd.DataFrame, horizon: float, discount_rate: float
               ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`value_parts` of checked settings (a horizon >= 0)."""
        periods, ((purchase, dropout), future) = self._periods(data, horizon)
        base = self._base()
        alive = np.exp(log_alive(base, purchase, dropout, periods.calibration))
        # Each process's predictors over the calibration and over the future.
        purchase, dropout = (purchase, future[0]), (dropout, future[1])
        if discount_rate == 0:  # the closed form per piece
            values = future_expected(base, purchase, dropout, periods.calibration,
                                     periods.future)
        else:
            values = future_discounted(base, purchase, dropout, periods.calibration,
                                       periods.future, discount_rate)
        return alive, values


class TimeVaryingCovariates:
    """Mixin of the Pareto/NBD estimator: :meth:`fit` with ``time_varying_covariates``, the
    predictions over them (:meth:`with_time_varying_covariates`), and the refusal of every
    path that would read static covariates instead. ``save`` records the covariates' names
    and the table's column names (``time_varying_covariates_``); the table is data, given
    again to :meth:`with_time_varying_covariates`."""

    def fit(self, data: pd.DataFrame, weights: Any = None,
            initial_params: dict[str, float] | None = None, *,
            time_varying_covariates: pd.DataFrame | None = None,
            transactions: pd.DataFrame | None = None, customer_col: str = "customer_id",
            date_col: str = "date", transaction_date_col: str | None = None) -> Self:
        """Fit by maximum likelihood (see :meth:`MLEModel.fit`), with static covariates
        (columns of ``data``) or, given ``time_varying_covariates``, with covariates that
        change over time.

        Parameters
        ----------
        data, weights, initial_params
            As :meth:`MLEModel.fit`; ``data`` must record ``attrs["time_unit"]`` (hours,
            days or weeks) and ``attrs["observation_end"]`` (as :func:`rfm_summary` does)
            when the covariates vary in time. ``weights`` are not taken then.
        time_varying_covariates : DataFrame, optional
            One row per customer and period: ``customer_col``, ``date_col`` (the start of
            the period, which lasts one time unit) and the columns named by
            ``purchase_covariates`` / ``dropout_covariates``, without gaps from the
            customer's first purchase to the calibration end. On each period the purchase
            rate is ``lambda exp(g_p' z(t))`` and the dropout rate ``mu exp(g_d' z(t))``
            (Bachmann, Meierer & Naef 2021); constant columns give the static model.
        transactions : DataFrame, optional
            The transaction log the RFM table was built from (``customer_col`` and
            ``transaction_date_col``, default ``date_col``), for the covariates at each
            purchase; needed when a purchase covariate changes within a calibration.
        customer_col, date_col, transaction_date_col : str
            The columns' names.
        """
        self.time_varying_covariates_ = None
        if time_varying_covariates is None:
            if transactions is not None:
                raise ValidationError(f"{type(self).__name__}: transactions= is read with "
                                      "time_varying_covariates= only")
            return super().fit(data, weights, initial_params)
        fit_time_varying(self, data, time_varying_covariates, customer_col=customer_col,
                         date_col=date_col, transactions=transactions,
                         transaction_date_col=transaction_date_col, weights=weights,
                         initial_params=initial_params)
        return self

    def with_time_varying_covariates(self, table: pd.DataFrame,
                                     customer_col: str | None = None,
                                     date_col: str | None = None) -> TimeVaryingPredictions:
        """The predictions of a fit with time-varying covariates over ``table``'s periods
        (the columns' names default to the fit's), which must reach the end of the horizon
        of a prediction."""
        self.check_fitted()
        names = self._time_varying()
        if names is None:
            raise ValidationError(f"{type(self).__name__}: this model was not fitted with "
                                  "time-varying covariates")
        return TimeVaryingPredictions(self, table, customer_col or names["customer_col"],
                                      date_col or names["date_col"])

    def _time_varying(self) -> dict | None:
        return getattr(self, "time_varying_covariates_", None)

    def _refuse_time_varying(self, what: str) -> None:
        if self._time_varying() is not None:
            raise ValidationError(
                f"{type(self).__name__}: {what} of a fit with time-varying covariates needs "
                "their periods: use model.with_time_varying_covariates(table)"
                ".probability_alive(rfm) or .expected_purchases(rfm, t), or pass "
                "model.with_time_varying_covariates(table) to customer_lifetime_value / "
                "customer_equity in place of the model")

    def customer_parameters(self, data: pd.DataFrame) -> dict[str, np.ndarray]:
        """As :meth:`MLEModel.customer_parameters`; refused after a fit with time-varying
        covariates (every static prediction passes here)."""
        self._refuse_time_varying("a prediction")
        return super().customer_parameters(data)

    def log_likelihood(self, data: pd.DataFrame, weights: Any = None) -> float:
        """As :meth:`MLEModel.log_likelihood`; refused after a fit with time-varying
        covariates."""
        self._refuse_time_varying("the log-likelihood of a table")
        return super().log_likelihood(data, weights)

    def set_params_(self, params: dict[str, float], time_unit: str | None = None) -> Self:
        """As :meth:`MLEModel.set_params_` (a model without covariates)."""
        self.time_varying_covariates_ = None
        return super().set_params_(params, time_unit)


__all__ = ["DynamicLikelihood", "DynamicObjective", "TimeVaryingCovariates",
           "TimeVaryingPredictions", "fit_time_varying", "future_discounted", "future_expected",
           "linear_predictors",
           "log_alive", "log_likelihood"]
