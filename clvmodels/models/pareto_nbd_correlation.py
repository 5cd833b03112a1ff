"""Pareto/NBD with correlated purchase and dropout rates (the Sarmanov family of Park & Fader
2004 and Glady, Lemmens & Croux 2015; CLVTools' ``pnbd(..., use.cor = TRUE)``).

The purchase rate lambda and the dropout rate mu have the joint density

``g(lambda; r, alpha) g(mu; s, beta) [1 + omega (e^-lambda - L1) (e^-mu - L2)]``

with g the gamma densities of the Pareto/NBD and ``L1 = (alpha / (alpha + 1))^r =
E[e^-lambda]``, ``L2 = (beta / (beta + 1))^s`` (so the marginals stay gamma). The density is
non-negative for every lambda, mu > 0 exactly when ``lo <= omega <= hi`` with
``lo = -1 / max(L1 L2, (1 - L1)(1 - L2))`` and ``hi = 1 / max(L1 (1 - L2), (1 - L1) L2)``
(the extremes of ``(e^-lambda - L1)(e^-mu - L2)`` over (0, 1] x (0, 1]).

Since ``g(lambda; r, alpha) e^-lambda = L1 g(lambda; r, alpha + 1)``, the density is a signed
mixture of four Pareto/NBD priors, at scales (alpha, beta), (alpha + 1, beta), (alpha, beta + 1)
and (alpha + 1, beta + 1) with weights ``1 + m, -m, -m, m``, ``m = omega L1 L2``. Everything
follows from the Pareto/NBD at those scales:

- the likelihood: ``L = L_00 + m (L_00 - L_10 - L_01 + L_11)`` (as CLVTools'
  ``interlayer_correlation``), per row;
- the customer's posterior: the same mixture, each component the Pareto/NBD posterior with
  weight ``w_k L_k / L``; alive at T it is a mixture of Gamma(r + x, alpha_k + T) x
  Gamma(s, beta_k + T) with weights ``w_k A_k / sum_j w_j A_j`` (``A_k`` the alive part of
  ``L_k``), so every conditional prediction is that mixture of the Pareto/NBD's futures;
- the correlation ``cor(lambda, mu) = omega L1 L2 sqrt(r s) / ((alpha + 1)(beta + 1))``.

The kernel ``e^-lambda`` is in the data's time unit (as CLVTools', in its time unit): the
family is not scale-free, so its likelihood reads a column ``unit`` (1 in the data's unit),
which the fit's rescaling divides like the times, and the shifts are ``alpha + unit``.

omega is fitted through a positive parameter ``kappa``, the odds of its position within its
admissible interval: ``omega = lo + (hi - lo) kappa / (1 + kappa)``, which keeps every
estimate (and, with covariates, every customer's density) proper. With covariates
(``alpha_i``, ``beta_i`` as the Pareto/NBD's) the bounds and omega are each customer's, at the
common kappa; the reported ``cor`` is that of a customer with all covariates 0.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import logsumexp

from clvmodels.estimation.bayesian import BayesianModel, bayes_backend
from clvmodels.estimation.family import FitColumns, Parameter, Params, PurchaseFamily
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.mle import MLEModel
from clvmodels.estimation.predictions import PurchasePredictions
from clvmodels.models.pareto_nbd import PARETO_NBD
from clvmodels.validation import ValidationError

# The four mixture components: shifts of (alpha, beta) in kernel units.
_SHIFTS = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0))
# The weights 1 + m, -m, -m, m are 1 at m = 0 plus m times these.
_SIGNS = np.array([1.0, -1.0, -1.0, 1.0])
# Relative step of the central differences of cor in the log-parameters (delta method):
# truncation ~1e-12 and rounding ~1e-16 / 1e-6 relative, far below any standard error.
_LOG_STEP = 1e-6


# ----------------------------------------------------------------------------- omega
def laplace_transforms(r, alpha, s, beta, unit=1.0) -> tuple[np.ndarray, np.ndarray]:
    """``L1 = E[e^-lambda] = (alpha / (alpha + unit))^r`` and ``L2`` likewise of mu."""
    return (np.exp(-r * np.log1p(unit / alpha)), np.exp(-s * np.log1p(unit / beta)))


def omega_bounds(first, second) -> tuple[np.ndarray, np.ndarray]:
    """The interval of omega where the Sarmanov density is non-negative, from the Laplace
    transforms ``first = L1`` and ``second = L2``."""
    positive = np.maximum(first * second, (1 - first) * (1 - second))
    negative = np.maximum(first * (1 - second), (1 - first) * second)
    return -1.0 / positive, 1.0 / negative


def omega_of(params: Params, unit=1.0) -> np.ndarray:
    """omega at the family's parameters (r, alpha, s, beta, kappa)."""
    r, alpha, s, beta, kappa = params
    lo, hi = omega_bounds(*laplace_transforms(r, alpha, s, beta, unit))
    return lo + (hi - lo) * (kappa / (1.0 + kappa))


def correlation(params: Params) -> np.ndarray:
    """cor(lambda, mu) at the family's parameters (r, alpha, s, beta, kappa), in the data's
    time unit: ``omega L1 L2 sqrt(r s) / ((alpha + 1)(beta + 1))``."""
    r, alpha, s, beta, _ = params
    first, second = laplace_transforms(r, alpha, s, beta)
    return omega_of(params) * first * second * np.sqrt(r * s) / ((alpha + 1) * (beta + 1))


def correlation_range(r: float, alpha: float, s: float, beta: float) -> tuple[float, float]:
    """The correlations of lambda and mu the Sarmanov family reaches at these marginals (the
    ends of omega's interval, in the data's time unit)."""
    first, second = laplace_transforms(r, alpha, s, beta)
    scale = first * second * np.sqrt(r * s) / ((alpha + 1) * (beta + 1))
    lo, hi = omega_bounds(first, second)
    return float(lo * scale), float(hi * scale)


def kappa_for(r: float, alpha: float, s: float, beta: float, cor: float) -> float:
    """The kappa of a given correlation of lambda and mu (with r, alpha, s, beta in the data's
    time unit).

    Raises
    ------
    ValidationError
        If ``cor`` is outside the correlations the Sarmanov family reaches at these
        parameters (the open interval of omega's bounds).
    """
    lowest, highest = correlation_range(r, alpha, s, beta)
    position = (cor - lowest) / (highest - lowest)
    if not (np.isfinite(position) and 0 < position < 1):
        raise ValidationError(
            f"cor = {cor!r} is outside the correlations the Sarmanov family reaches at r = "
            f"{r:g}, alpha = {alpha:g}, s = {s:g}, beta = {beta:g}: expected a value in "
            f"({lowest:.6g}, {highest:.6g})")
    return float(position / (1 - position))


def _mixing_derivatives(params: Params, unit) -> tuple[np.ndarray, np.ndarray]:
    """``m = omega L1 L2`` and its derivatives in (r, alpha, s, beta, kappa), shape
    ``(5, ...)``."""
    r, alpha, s, beta, kappa = params
    first, second = laplace_transforms(r, alpha, s, beta, unit)
    position = kappa / (1.0 + kappa)
    product = first * second
    complement = (1 - first) * (1 - second)
    positive = np.maximum(product, complement)
    cross_a, cross_b = first * (1 - second), (1 - first) * second
    negative = np.maximum(cross_a, cross_b)
    lo, hi = -1.0 / positive, 1.0 / negative
    omega = lo + (hi - lo) * position
    # Derivatives of the bounds in (L1, L2), on the branch of each max.
    use_product = product >= complement
    d_positive = (np.where(use_product, second, -(1 - second)),
                  np.where(use_product, first, -(1 - first)))
    use_a = cross_a >= cross_b
    d_negative = (np.where(use_a, 1 - second, -second), np.where(use_a, -first, 1 - first))
    d_omega = [d_pos / positive**2 * (1 - position) - d_neg / negative**2 * position
               for d_pos, d_neg in zip(d_positive, d_negative, strict=True)]
    d_m_first = d_omega[0] * product + omega * second
    d_m_second = d_omega[1] * product + omega * first
    # L1 = exp(-r log1p(unit / alpha)): its derivatives in r and alpha.
    d_first = (-np.log1p(unit / alpha) * first, first * r * unit / (alpha * (alpha + unit)))
    d_second = (-np.log1p(unit / beta) * second, second * s * unit / (beta * (beta + unit)))
    gradient = np.array(np.broadcast_arrays(
        d_m_first * d_first[0], d_m_first * d_first[1], d_m_second * d_second[0],
        d_m_second * d_second[1], (hi - lo) * product / (1.0 + kappa) ** 2))
    return omega * product, gradient


def _components(params: Params, unit) -> list[tuple]:
    """The Pareto/NBD parameters of the four mixture components."""
    r, alpha, s, beta = params[:4]
    return [(r, alpha + da * unit, s, beta + db * unit) for da, db in _SHIFTS]


def _signed_log_sum(log_terms: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``log sum_k weights_k e^log_terms_k`` over the first axis (-inf where rounding leaves
    the sum of a proper density's terms at or below 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value, sign = logsumexp(log_terms, axis=0, b=weights, return_sign=True)
    return np.where(sign > 0, value, -np.inf)


class ParetoNBDCorrelationFamily(PurchaseFamily):
    """The Pareto/NBD with Sarmanov-correlated rates (see the module docstring)."""

    name: ClassVar[str] = "pnbd-cor"
    title: ClassVar[str] = "Pareto/NBD (correlated)"
    aliases: ClassVar[tuple[str, ...]] = ("paretonbdcorrelation",)
    parameters = (*PARETO_NBD.parameters, Parameter(
        "kappa", "odds of omega's position within its admissible interval: omega = lo + "
                 "(hi - lo) kappa / (1 + kappa)"))
    unit_columns: ClassVar[tuple[str, ...]] = ("t_x", "T", "unit")
    covariate_links = PARETO_NBD.covariate_links
    #: At omega = 0 (inside its interval) the model is the Pareto/NBD: a likelihood-ratio
    #: test of the correlation has one degree of freedom.
    nested_families: ClassVar[tuple[str, ...]] = (PARETO_NBD.name,)

    def fit_columns(self, data: pd.DataFrame) -> FitColumns:
        selection = PARETO_NBD.fit_columns(data)
        columns = {**selection.columns, "unit": np.ones(len(selection.columns["x"]))}
        return FitColumns(columns, selection.rows, selection.excluded)

    def initial_params(self, fit_data: FitData) -> np.ndarray:
        """The Pareto/NBD's starting point, with kappa at omega = 0."""
        r, alpha, s, beta = PARETO_NBD.initial_params(fit_data)
        unit = float(fit_data["unit"][0])
        lo, hi = omega_bounds(*laplace_transforms(r, alpha, s, beta, unit))
        return np.array([r, alpha, s, beta, -lo / hi])

    # ------------------------------------------------------------------------- likelihood
    def likelihood_parts(self, params: Params, x, t_x, T, x_levels=None, unit=1.0):
        """``(0, u, v)``: the alive and the gone parts, each the signed mixture of the
        Pareto/NBD's at the four components' parameters."""
        m, _ = _mixing_derivatives(params, unit)
        parts = [PARETO_NBD.likelihood_parts(component, x, t_x, T, x_levels)
                 for component in _components(params, unit)]
        shape = np.broadcast_shapes(np.shape(m), *(np.shape(p) for part in parts for p in part))
        alive = np.stack([np.broadcast_to(c + u, shape) for c, u, _ in parts])
        gone = np.stack([np.broadcast_to(c + v, shape) for c, _, v in parts])
        weights = _weights(m, shape)
        return 0.0, _signed_log_sum(alive, weights), _signed_log_sum(gone, weights)

    def log_likelihood(self, params: Params, fit_data: FitData) -> np.ndarray:
        """Per row ``log sum_k w_k L_k``, each ``L_k`` the Pareto/NBD's likelihood at a
        component: the sum :meth:`log_likelihood_gradient` takes, so that the two agree to
        the last bit (summing the alive and the gone parts apart differs by rounding, 1e-12
        relative where a row's log-likelihood is near 0)."""
        unit = kernel_unit(fit_data)
        m, _ = _mixing_derivatives(params, unit)
        rows = np.stack([PARETO_NBD.log_likelihood(component, fit_data)
                         for component in _components(params, unit)])
        return _signed_log_sum(rows, _weights(m, rows.shape[1:]))

    def log_likelihood_gradient(self, params: Params, fit_data: FitData):
        """Per row, with ``L = sum_k w_k L_k`` (``w = 1 + m, -m, -m, m``): ``dLL = sum_k
        (w_k L_k / L) dLL_k + (dm) (L_00 - L_10 - L_01 + L_11) / L``; each ``dLL_k`` is the
        Pareto/NBD's at its component (the shifts do not depend on the parameters)."""
        unit = kernel_unit(fit_data)
        m, d_m = _mixing_derivatives(params, unit)
        rows, gradients = zip(*(PARETO_NBD.log_likelihood_gradient(component, fit_data)
                                for component in _components(params, unit)), strict=True)
        rows = np.stack(rows)
        weights = _weights(m, rows.shape[1:])
        total = _signed_log_sum(rows, weights)
        with np.errstate(over="ignore", invalid="ignore"):
            relative = np.exp(rows - total)  # L_k / L
        shares = weights * relative
        gradient = np.zeros((5, rows.shape[1]))
        gradient[:4] = np.einsum("kr,kpr->pr", shares, np.stack(gradients))
        gradient += np.reshape(d_m, (5, -1)) * (_SIGNS[:, None] * relative).sum(axis=0)
        return total, gradient

    # ------------------------------------------------------------------------- the future
    def updated_params(self, params: Params, x, T) -> tuple:
        """``(r + x, alpha + T, s, beta + T, w_10, w_01, w_11)``: the alive customer's
        mixture, each component's weight ``w_k A_k / sum_j w_j A_j`` (``w_00`` the rest)."""
        r, alpha, s, beta, _ = params
        m, _ = _mixing_derivatives(params, 1.0)
        shape = np.broadcast_shapes(np.shape(m), np.shape(x), np.shape(T))
        log_alive = np.stack([np.broadcast_to(
            r * np.log(a) + s * np.log(b) - (r + x) * np.log(a + T) - s * np.log(b + T), shape)
            for _, a, _, b in _components(params, 1.0)])
        weights = _weights(m, shape)
        shares = weights * np.exp(log_alive - _signed_log_sum(log_alive, weights))
        return (r + x, alpha + T, s + np.zeros_like(x), beta + T, shares[1], shares[2],
                shares[3])

    @staticmethod
    def _mixture(updated: tuple) -> tuple[list[tuple], np.ndarray]:
        """The components' updated Pareto/NBD parameters and their weights."""
        r, alpha, s, beta, w10, w01, w11 = updated
        weights = np.stack(np.broadcast_arrays(1.0 - w10 - w01 - w11, w10, w01, w11))
        return [(r, alpha + da, s, beta + db) for da, db in _SHIFTS], weights

    def future_expected(self, updated: tuple, t) -> np.ndarray:
        components, weights = self._mixture(updated)
        return sum(w * PARETO_NBD.future_expected(c, t)
                   for c, w in zip(components, weights, strict=True))

    def future_log_rate(self, updated: tuple, t) -> np.ndarray:
        components, weights = self._mixture(updated)
        arrays = np.broadcast_arrays(*(PARETO_NBD.future_log_rate(c, t) for c in components),
                                     *weights)
        return _signed_log_sum(np.stack(arrays[:4]), np.stack(arrays[4:]))

    def future_pmf(self, updated: tuple, n: int, t) -> np.ndarray:
        components, weights = self._mixture(updated)
        return sum(w * PARETO_NBD.future_pmf(c, n, t)
                   for c, w in zip(components, weights, strict=True))

    def future_rate_scale(self, updated: tuple) -> np.ndarray:
        return updated[3]

    # ------------------------------------------------------------------------- simulation
    def simulate(self, params: Params, T: np.ndarray, holdout: float,
                 rng: np.random.Generator):
        """Rates from the Sarmanov density (:func:`sample_rates`), then the Pareto/NBD's
        purchases and lifetime."""
        purchase, dropout = sample_rates(params, np.shape(T), rng)
        return _purchases(purchase, rng.exponential(1.0 / dropout), T, holdout, rng)


def sample_rates(params: Params, shape: tuple, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Purchase and dropout rates (lambda, mu) of ``shape`` customers from the Sarmanov
    density at ``params`` (r, alpha, s, beta, kappa; each a scalar or per customer): by
    rejection from the product of its gamma marginals, a draw accepted with probability
    ``(1 + omega k(lambda) k(mu)) / bound`` (``k`` the centred kernels, ``bound`` the
    factor's maximum, at most 1 + |omega| max |k k|)."""
    r, alpha, s, beta, kappa = (np.broadcast_to(p, shape) for p in params)
    first, second = laplace_transforms(r, alpha, s, beta)
    omega = omega_of((r, alpha, s, beta, kappa))
    extreme = np.where(omega >= 0, np.maximum(first * second, (1 - first) * (1 - second)),
                       np.maximum(first * (1 - second), (1 - first) * second))
    bound = (1.0 + np.abs(omega) * extreme).reshape(-1)
    r, alpha, s, beta, omega, first, second = (
        v.reshape(-1) for v in (r, alpha, s, beta, omega, first, second))
    purchase, dropout = np.empty(r.size), np.empty(r.size)
    pending = np.arange(r.size)
    while pending.size:
        lam = rng.gamma(r[pending], 1.0 / alpha[pending])
        mu = rng.gamma(s[pending], 1.0 / beta[pending])
        factor = 1.0 + omega[pending] * (np.exp(-lam) - first[pending]) * (
            np.exp(-mu) - second[pending])
        accepted = rng.random(pending.size) * bound[pending] <= factor
        purchase[pending[accepted]] = lam[accepted]
        dropout[pending[accepted]] = mu[accepted]
        pending = pending[~accepted]
    return purchase.reshape(shape), dropout.reshape(shape)


def _weights(m, shape: tuple) -> np.ndarray:
    """The four components' weights ``1 + m, -m, -m, m``, shape ``(4, *shape)``."""
    return np.stack([np.broadcast_to(w, shape) for w in (1.0 + m, -m, -m, m)])


def kernel_unit(fit_data: FitData) -> float:
    """The kernel's time unit on (possibly rescaled) data: 1 in the data's own unit."""
    unit = fit_data["unit"]
    return float(unit[0]) if len(unit) else 1.0


def _purchases(rate: np.ndarray, lifetime: np.ndarray, T: np.ndarray, holdout: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson purchases at ``rate`` while alive: the count and last time in (0, T] (the
    latest of x uniform times is ``observed * U^(1/x)``) and the count in (T, T + holdout]."""
    observed = np.minimum(lifetime, T)
    counts = rng.poisson(rate * observed)
    last = np.where(counts > 0, observed * np.power(rng.random(len(counts)),
                                                    1.0 / np.maximum(counts, 1)), 0.0)
    return counts, last, rng.poisson(rate * np.clip(lifetime - T, 0.0, holdout))


PARETO_NBD_CORRELATION = ParetoNBDCorrelationFamily()


class ParetoNBDCorrelationModel(PurchasePredictions, MLEModel):
    """Pareto/NBD with correlated purchase and dropout rates (Sarmanov; CLVTools'
    ``pnbd(use.cor = TRUE)``), fitted by maximum likelihood.

    Takes the options of :class:`~clvmodels.estimation.mle.MLEModel` (``penalizer``,
    static covariates as :class:`~clvmodels.ParetoNBDModel`'s). Every prediction of
    :class:`~clvmodels.ParetoNBDModel` is available, under the correlated mixing
    distribution.

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha``, ``s``, ``beta`` (the gamma marginals of lambda and mu, alpha and
        beta in the data's time unit) and ``kappa`` (omega's position in its admissible
        interval, see :mod:`clvmodels.models.pareto_nbd_correlation`).
    correlation_ : float
        cor(lambda, mu) at the estimate; :meth:`summary` adds it as a row ``cor`` with a
        delta-method standard error and Wald interval.
    """

    family = PARETO_NBD_CORRELATION

    @property
    def correlation_(self) -> float:
        """cor(lambda, mu) at the estimate (of a customer with covariates 0)."""
        self.check_fitted()
        return float(correlation(self.params_[list(self.param_names)].to_numpy(dtype=float)))

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """The parameter table of :meth:`MLEModel.summary` and a row ``cor``: cor(lambda,
        mu) with its delta-method standard error (central differences of cor in the log
        parameters against the covariance) and the interval ``cor +/- z se``, cut to the
        correlations the Sarmanov family reaches at the estimated marginals.

        At omega's bound (kappa on the edge of the search box, which the fit announces with a
        DegenerateFitWarning: e.g. CDNOW's estimate) the delta method does not hold and the
        interval is not a confidence interval."""
        table = super().summary(level)
        names = list(self.param_names)
        base = self.params_[names].to_numpy(dtype=float)
        value = float(correlation(base))
        steps = np.eye(len(base)) * _LOG_STEP
        gradient = np.array([(correlation(base * np.exp(step)) - correlation(
            base * np.exp(-step))) / (2 * _LOG_STEP * parameter)
            for step, parameter in zip(steps, base, strict=True)])
        covariance = self.covariance_.loc[names, names].to_numpy()
        std_error = float(np.sqrt(gradient @ covariance @ gradient))
        z = stats.norm.ppf(0.5 + level / 2)
        reach = correlation_range(*base[:4])
        row = pd.DataFrame([[value, std_error, max(value - z * std_error, reach[0]),
                             min(value + z * std_error, reach[1])]],
                           index=["cor"], columns=table.columns)
        return pd.concat([table, row])

    def set_params_(self, params: dict[str, float], time_unit: str | None = None) -> Self:
        """As :meth:`MLEModel.set_params_`; ``cor`` (the correlation of lambda and mu) may
        be given instead of ``kappa``."""
        if isinstance(params, dict) and "cor" in params and "kappa" not in params:
            rest = {k: v for k, v in params.items() if k != "cor"}
            checked = PARETO_NBD.params_from_mapping(rest)
            params = {**rest, "kappa": kappa_for(*checked, float(params["cor"]))}
        return super().set_params_(params, time_unit)


class BayesianParetoNBDCorrelationModel(PurchasePredictions, BayesianModel):
    """Pareto/NBD with correlated purchase and dropout rates (Sarmanov; CLVTools'
    ``pnbd(use.cor = TRUE)``) with a posterior over its parameters (PyMC; the ``bayes``
    extra).

    The likelihood is :class:`ParetoNBDCorrelationModel`'s (the family's NumPy code with its
    gradient, on distinct weighted rows). Default priors: those of
    :class:`~clvmodels.BayesianParetoNBDModel` on ``r``, ``alpha``, ``s``, ``beta``
    (log-normals with log-scale sd 2), and on the correlation's parameter ``kappa`` a
    log-normal with log-scale sd 2 whose median puts omega at 0 at the starting marginals.
    ``log kappa`` is the logit of omega's position within its admissible interval (whose
    ends depend on r, alpha, s and beta), so this prior is a normal on that unconstrained
    logit, centred on "no correlation"; every draw is a proper Sarmanov density whatever
    the marginals. Static covariates as :class:`~clvmodels.BayesianParetoNBDModel`'s.

    Parameters
    ----------
    priors : dict, optional
        Replacement priors by parameter name (unnamed PyMC distributions, positive support).

    Attributes
    ----------
    params_ : Series
        Posterior means of ``r``, ``alpha``, ``s``, ``beta`` and ``kappa`` (see
        :class:`ParetoNBDCorrelationModel`).
    correlation_ : float
        The posterior mean of cor(lambda, mu); :meth:`summary` adds its draws' summary as a
        row ``cor``.
    """

    family = PARETO_NBD_CORRELATION

    def correlation_draws(self) -> pd.Series:
        """cor(lambda, mu) at every posterior draw (of a customer with covariates 0), indexed
        like :meth:`parameter_draws`."""
        draws = self.parameter_draws()
        values = correlation(tuple(draws[name].to_numpy() for name in self.param_names))
        return pd.Series(values, index=draws.index, name="cor")

    @property
    def correlation_(self) -> float:
        """The posterior mean of cor(lambda, mu) (of a customer with covariates 0)."""
        return float(self.correlation_draws().mean())

    def summary(self, **kwargs) -> pd.DataFrame:
        """ArviZ's summary of the parameters (:meth:`BayesianModel.summary`) and a row
        ``cor``: the same statistics of cor(lambda, mu) over the draws (its HDI lies within
        the correlations the Sarmanov family reaches, draw by draw)."""
        self.check_fitted()
        posterior = self.idata.posterior
        names = self.posterior_names
        values = correlation(tuple(posterior[name].to_numpy() for name in self.param_names))
        dataset = posterior[names].assign(cor=(("chain", "draw"), values))
        return bayes_backend().summary(dataset, (*names, "cor"), **kwargs)


__all__ = ["PARETO_NBD_CORRELATION", "BayesianParetoNBDCorrelationModel",
           "ParetoNBDCorrelationFamily", "ParetoNBDCorrelationModel", "correlation",
           "correlation_range", "kappa_for", "laplace_transforms", "omega_bounds", "omega_of",
           "sample_rates"]
