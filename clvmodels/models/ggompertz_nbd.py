"""GGompertz/NBD (Bemmaor & Glady 2012, "Modeling purchasing behavior with sudden 'death': a
flexible customer lifetime model", Management Science 58(5); CLVTools' ``ggomnbd``).

While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha). The lifetime is
Gompertz, hazard ``eta b e^(b tau)``, with eta ~ Gamma(s, beta): the population survival is
``S(tau) = (beta / (beta + e^(b tau) - 1))^s`` and the lifetime density
``f(tau) = s beta^s b e^(b tau) g(tau)^-(s + 1)`` with ``g(tau) = beta + expm1(b tau)``. As
b -> 0 with beta / b fixed it is the Pareto/NBD with that beta (``g ~ b (beta / b + tau)``).

Per row ``LL = c + logaddexp(u, v)`` with ``c = lnG(r + x) - lnG(r) + r ln(alpha)``,
``u = -(r + x) ln(alpha + T) + ln S(T)`` (alive at T) and ``v = ln(s) + ln I``,
``I = integral_{t_x}^T (alpha + tau)^-(r + x) (b / G(tau)) S(tau) dtau`` (gone in
(t_x, T]; ``f = s (b / G) S``).

Every ``ln g`` is written ``b tau + ln G`` with ``G = beta e^(-b tau) - expm1(-b tau)``, a
sum of two positive terms: exact as b tau -> 0 (G -> beta + b tau) and as b tau grows
(G -> 1, no overflow of e^(b tau)); and ``ln S = -s ln(1 + expm1(b tau) / beta)`` (see
:func:`log_ageing`), not ``s ln beta - s ln g``, which cancel for large s and beta. The
integral is adaptive Gauss-Kronrod quadrature
(:func:`clvmodels._numerics.log_integral_adaptive`) in ``w = ln((alpha + tau) / (alpha +
t_x))``, in which the purchase factor is exponential; its derivatives in the parameters are
averages of the log integrand's over the same nodes.

The Gompertz lifetime is not memoryless, but the future of a customer alive at age T is again
a GGompertz/NBD: eta given survival to T is Gamma(s, beta + expm1(b T)), so the remaining
lifetime has survival ``(beta' / (beta' + expm1(b t)))^s`` with ``beta' = (beta + expm1(b T))
e^(-b T)``; the updated parameters carry the age through beta'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from scipy.special import digamma, expit, gammaln, xlogy

from clvmodels._numerics import integrate_rate, log_integral_adaptive
from clvmodels.errors import ConvergenceError
from clvmodels.estimation.bayesian import BayesianModel
from clvmodels.estimation.family import (
    CovariateLink,
    Parameter,
    Params,
    PurchaseFamily,
    by_levels,
)
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.mle import MLEModel
from clvmodels.estimation.predictions import PurchasePredictions

if TYPE_CHECKING:  # numba is optional: the kernel is imported on first use
    from clvmodels.models.ggompertz_nbd_kernel import CompiledGGompertzNBD

# The quadrature's target (relative error estimate of the integral) and its bound of panels
# per row; the Gauss-Kronrod estimate overstates the error by orders of magnitude.
_RTOL = 1e-12
_MAX_PANELS = 64
# Initial panels: even ones over the interval, and around the features of the integrand.
_EVEN_PANELS = 1
# Multiples of the Gompertz density's width around its mode, and of the e-fold length of the
# integrand at the interval's left end, where the integrand bends or has fallen off.
_MODE_WIDTHS = (-4.0, 0.0, 4.0)
_LEFT_DECAY = (1.0, 6.0, 40.0)


def log_base(b, beta, tau) -> np.ndarray:
    """``ln G = ln(g e^(-b tau))``, ``G = beta e^(-b tau) - expm1(-b tau)`` (both terms
    positive: no cancellation), so that ``ln g(tau) = b tau + ln G``."""
    with np.errstate(over="ignore"):
        decay = np.exp(-b * tau)
    return np.log(beta * decay - np.expm1(-b * tau))


def log_ageing(b, beta, tau) -> np.ndarray:
    """``L = ln(g(tau) / beta) = ln(1 + expm1(b tau) / beta)``, so that ``ln S = -s L``.

    From ``q = ln expm1(b tau) - ln beta`` as ``logaddexp(0, q)``: no cancellation between
    ``s ln beta`` and ``s ln g`` (for s and beta of 1e10, the limit of a lifetime without
    heterogeneity, those are 2e11 apart from a difference of order 1), and no overflow of
    e^(b tau).
    """
    z = b * tau
    with np.errstate(divide="ignore", over="ignore"):
        # ln expm1(z): z + ln(1 - e^-z) where expm1 would overflow or lose nothing.
        log_expm1 = np.where(z > 30.0, z + np.log1p(-np.exp(-z)), np.log(np.expm1(z)))
        return np.logaddexp(0.0, log_expm1 - np.log(beta))


def log_survival(b, s, beta, tau) -> np.ndarray:
    """``ln S(tau) = -s ln(1 + expm1(b tau) / beta)``, the lifetime's log survival function."""
    return -s * log_ageing(b, beta, tau)


class _LifetimeIntegral:
    """``integral_lo^hi (alpha + tau)^-k tau^n (b / G(tau)) S(tau) dtau`` per element
    (``n`` a whole number: 0 in the likelihood, the count in P(X(t) = n)), in the coordinate
    ``w = ln((alpha + tau) / (alpha + lo))`` on [0, W]."""

    def __init__(self, k, alpha, b, s, beta, n, lo, hi) -> None:
        self.k, self.alpha, self.b, self.s, self.beta, self.n = k, alpha, b, s, beta, n
        self.lo, self.hi = lo, hi
        self.origin = alpha + lo
        self.log_origin = np.log(self.origin)
        self.width = np.log1p((hi - lo) / self.origin)

    def _tau(self, w, rows):
        return self.lo[rows] + self.origin[rows] * np.expm1(w)

    def _nodes(self, w: np.ndarray, rows) -> tuple[np.ndarray, np.ndarray]:
        """tau and ln G at the nodes w, kept for the partials at the same nodes (the
        quadrature evaluates them right after the integrand)."""
        last = getattr(self, "_last", None)
        if last is not None and last[0] is w:
            return last[1:]
        b, beta = self.b[rows], self.beta[rows]
        tau = self._tau(w, rows)
        log_base_value, ageing = log_base(b, beta, tau), log_ageing(b, beta, tau)
        self._last = (w, tau, log_base_value, ageing)
        return tau, log_base_value, ageing

    def log_integrand(self, w: np.ndarray, rows) -> np.ndarray:
        k, b, s, n = (v[rows] for v in (self.k, self.b, self.s, self.n))
        tau, log_base_value, ageing = self._nodes(w, rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            return ((1.0 - k) * (self.log_origin[rows] + w) + xlogy(n, tau) + np.log(b)
                    - log_base_value - s * ageing)

    def partials(self, w: np.ndarray, rows) -> np.ndarray:
        """Derivatives of the log integrand (at fixed tau) in (k, alpha, b, s, beta)."""
        k, b, s, beta = (v[rows] for v in (self.k, self.b, self.s, self.beta))
        tau, log_base_value, ageing = self._nodes(w, rows)
        log_purchase = self.log_origin[rows] + w
        inverse_base = np.exp(-log_base_value)
        result = np.empty((5, *tau.shape))
        np.negative(log_purchase, out=result[0])
        result[1] = -k * np.exp(-log_purchase)
        result[2] = 1.0 / b + tau * (1.0 - (s + 1) * inverse_base)
        np.negative(ageing, out=result[3])
        with np.errstate(over="ignore"):
            # d/dbeta of -ln G - s L: -e^(-b tau) / G - (s / beta) expm1(-L).
            result[4] = -np.exp(-b * tau) * inverse_base - s / beta * np.expm1(-ageing)
        return result

    def edges(self) -> np.ndarray:
        """Initial panel boundaries in w: even panels, the Gompertz density's mode and its
        width around it, the e-fold lengths of the integrand at the left end, and for n > 0
        the mode of tau^n (alpha + tau)^-k."""
        k, alpha, b, s, beta, n, lo = (self.k, self.alpha, self.b, self.s, self.beta, self.n,
                                       self.lo)
        points = [self.width * j / _EVEN_PANELS for j in range(_EVEN_PANELS + 1)]
        taus = []
        with np.errstate(all="ignore"):
            # The density's mode, where e^(b tau) = (beta - 1) / s (interior only if > 1).
            if np.any(beta > 1.0 + s):
                mode = np.log((beta - 1.0) / s) / b
                spread = np.sqrt((s + 1.0) / s) / b
                taus += [mode + m * spread for m in _MODE_WIDTHS]
            slope = (-k / self.origin + np.where(n > 0, n / lo, 0.0) + b
                     - (s + 1) * b * np.exp(-log_base(b, beta, lo)))
            taus += [lo - m / slope for m in _LEFT_DECAY]
            if np.any(n > 0):
                taus.append(np.where(n > 0, n * alpha / (k - n), lo))
            # Panels clipped to an end are empty, and cost nothing.
            for tau in taus:
                w = np.log1p((tau - lo) / self.origin)
                points.append(np.clip(np.where(np.isfinite(w), w, 0.0), 0.0, self.width))
        return np.sort(np.vstack(points), axis=0)

    def log_integral(self, partials: bool = False):
        result = log_integral_adaptive(self.log_integrand, self.edges(), rtol=_RTOL,
                                       max_panels=_MAX_PANELS,
                                       moments=self.partials if partials else None)
        return (result[0], result[2]) if partials else result[0]


def log_lifetime_integral(k, alpha, b, s, beta, n, lo, hi, partials: bool = False):
    """``ln integral_lo^hi (alpha + tau)^-k tau^n (b / G(tau)) S(tau) dtau`` per element
    (``f = s (b / G) S`` is the lifetime density; ``b / G = b e^(b tau) / g``)
    (broadcast; ``-inf`` where lo = hi) and, with ``partials``, its derivatives in
    (k, alpha, b, s, beta), shape (5, ...) (zero where lo = hi).

    Raises
    ------
    ConvergenceError
        Where the quadrature gives no finite value (parameters far beyond the data's).
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                   for v in (k, alpha, b, s, beta, n, lo, hi)))
    shape = arrays[0].shape
    flat = [v.reshape(-1) for v in arrays]
    result = np.full(flat[0].shape, -np.inf)
    derivatives = np.zeros((5, len(result)))
    todo = np.flatnonzero(flat[6] < flat[7])
    if len(todo):
        integral = _LifetimeIntegral(*(v[todo] for v in flat))
        if partials:
            result[todo], derivatives[:, todo] = integral.log_integral(partials=True)
        else:
            result[todo] = integral.log_integral()
    failed = np.isnan(result) | (result == np.inf) | np.any(np.isnan(derivatives), axis=0)
    if np.any(failed):
        i = np.flatnonzero(failed)[0]
        values = ", ".join(f"{name}={v[i]:.6g}" for name, v in
                           zip(("k", "alpha", "b", "s", "beta", "n", "from", "to"), flat,
                               strict=True))
        raise ConvergenceError(f"GGompertz/NBD: the lifetime integral has no finite value at "
                               f"{values}; the parameters are extreme for the model")
    if partials:
        return result.reshape(shape), derivatives.reshape(5, *shape)
    return result.reshape(shape)


class GGompertzNBDFamily(PurchaseFamily):
    """The GGompertz/NBD declaration (see the module docstring)."""

    name: ClassVar[str] = "ggomnbd"
    title: ClassVar[str] = "GGompertz/NBD"
    aliases: ClassVar[tuple[str, ...]] = ("ggompertznbd", "ggompertz")
    parameters = (
        Parameter("r", "shape of the purchase rate lambda ~ Gamma(r, alpha)"),
        Parameter("alpha", "scale of the purchase rate (in the data's time unit)",
                  in_data_unit=True),
        Parameter("b", "Gompertz rate of ageing: the hazard grows as e^(b t) (per time unit "
                       "of the data)"),
        Parameter("s", "shape of the lifetime's eta ~ Gamma(s, beta)"),
        Parameter("beta", "scale of eta (a pure number)"),
    )
    # In log-parameters the posterior has long curved ridges (b -> 0 with beta / b fixed): on
    # CDNOW 0.9 left 2-6 divergences a fit, 0.95 none or one (R-hat 1.009 -> 1.002) for ~30%
    # more gradient evaluations; the apparel data with covariates left 11 at 0.8, 1 at 0.95
    # (seed 2). nutpie's native model samples log q in place of log s
    # (models/dropout_coordinates.py), where 0.8 left none on CDNOW over 9 seeds (R-hat <=
    # 1.003) in ~43k gradient calls against ~100k.
    target_accept: ClassVar[float] = 0.95
    native_target_accept: ClassVar[float | None] = 0.8
    #: Static covariates as CLVTools' ``ggomnbd`` (src/ggomnbd_LL.cpp):
    #: ``alpha_i = alpha exp(-g_purchase' z)``, ``beta_i = beta exp(-g_dropout' z)``; a
    #: smaller beta ages the lifetime faster (S(t) falls), so a positive dropout coefficient
    #: means leaving sooner, as for the Pareto/NBD.
    covariate_links: ClassVar[tuple[CovariateLink, ...]] = (
        CovariateLink("purchase", ("alpha",), -1, "buying more often"),
        CovariateLink("dropout", ("beta",), -1, "leaving sooner"),
    )

    def parameter_scale(self, scale: float) -> np.ndarray:
        """alpha is a time (times ``scale``), b a rate per time (divided by it)."""
        return np.array([1.0, scale, 1.0 / scale, 1.0, 1.0])

    def initial_params(self, fit_data: FitData) -> np.ndarray:
        r, alpha, _, _ = super().initial_params(fit_data)
        # Lifetimes of the order of the observation length: b = 1 / mean T, s = beta = 1,
        # so that S(mean T) = 1 / e. (From a start near the Pareto/NBD limit, b = 0.1 / mean
        # T and beta / b = mean T, L-BFGS-B went to the other limit, s and beta -> inf, on
        # simulated data whose maximum was inside: tests/test_ggompertz_nbd.py.)
        mean_T = float(np.average(fit_data["T"], weights=fit_data.weights))
        return np.array([r, alpha, 1.0 / mean_T, 1.0, 1.0])

    # ------------------------------------------------------------------------- likelihood
    def _terms(self, params: Params, x, t_x, T, x_levels=None, partials=False):
        r, alpha, b, s, beta = params
        (log_gamma_x,) = by_levels(lambda values: (gammaln(r + values),), x, x_levels)
        c = log_gamma_x - gammaln(r) + r * np.log(alpha)
        u = -(r + x) * np.log(alpha + T) + log_survival(b, s, beta, T)
        integral = log_lifetime_integral(r + x, alpha, b, s, beta, 0.0, t_x, T, partials)
        log_i, d_i = integral if partials else (integral, None)
        return c, u, np.log(s) + log_i, d_i

    def likelihood_parts(self, params: Params, x, t_x, T, x_levels=None):
        c, u, v, _ = self._terms(params, x, t_x, T, x_levels)
        return c, u, v

    def log_likelihood_gradient(self, params: Params, fit_data: FitData):
        """Per row, with ``p = expit(v - u)`` the share of the dropped-out term:
        ``dLL = dc + (1 - p) du + p dv``, ``dv`` from the quadrature's averages."""
        r, alpha, b, s, beta = params
        x, T = fit_data["x"], fit_data["T"]
        c, u, v, d_i = self._terms(params, x, fit_data["t_x"], T, partials=True)
        dropped = expit(v - u)
        alive = 1.0 - dropped
        log_g = b * T + log_base(b, beta, T)
        ageing = log_ageing(b, beta, T)
        gradient = np.array([
            digamma(r + x) - digamma(r) + np.log(alpha) - alive * np.log(alpha + T)
            + dropped * d_i[0],
            r / alpha - alive * (r + x) / (alpha + T) + dropped * d_i[1],
            -alive * s * T * np.exp(b * T - log_g) + dropped * d_i[2],
            -alive * ageing + dropped * (1 / s + d_i[3]),
            -alive * s / beta * np.expm1(-ageing) + dropped * d_i[4],
        ])
        return c + np.logaddexp(u, v), gradient

    # ------------------------------------------------------------------------- sampling
    def compiled_likelihood(self, fit_data: FitData) -> CompiledGGompertzNBD:
        """The numba kernel of the weighted likelihood on ``fit_data`` for the samplers
        (:class:`~clvmodels.models.ggompertz_nbd_kernel.CompiledGGompertzNBD`: the same
        quadrature, compiled; imported here, on first use: it needs numba)."""
        from clvmodels.models.ggompertz_nbd_kernel import CompiledGGompertzNBD

        return CompiledGGompertzNBD(fit_data)

    # ------------------------------------------------------------------------- the future
    def updated_params(self, params: Params, x, T) -> tuple:
        """(r + x, alpha + T, b, s, beta') with ``beta' = beta e^(-b T) - expm1(-b T)``: the
        lifetime of a customer alive at age T (see the module docstring)."""
        r, alpha, b, s, beta = params
        zero = np.zeros(np.broadcast_shapes(*(np.shape(p) for p in params), np.shape(x),
                                            np.shape(T)))
        return (r + x + zero, alpha + T + zero, b + zero, s + zero,
                np.exp(log_base(b, beta, T)) + zero)

    def future_expected(self, updated: tuple, t) -> np.ndarray:
        """(r / alpha) integral_0^t S(tau) dtau, by the quadrature of the purchase rate."""
        return integrate_rate(self.future_log_rate, updated, self.future_rate_scale(updated), t)

    def future_log_rate(self, updated: tuple, t) -> np.ndarray:
        r, alpha, b, s, beta = updated
        return np.log(r / alpha) + log_survival(b, s, beta, t)

    def future_pmf(self, updated: tuple, n: int, t) -> np.ndarray:
        """P(X(t) = n): alive at t after n purchases, plus dying at tau < t after n purchases
        in (0, tau] (the lifetime integral with tau^n)."""
        r, alpha, b, s, beta, t = np.broadcast_arrays(*updated, np.asarray(t, dtype=float))
        log_nb_constant = gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha)
        with np.errstate(divide="ignore"):
            log_alive = (log_nb_constant - (r + n) * np.log(alpha + t) + xlogy(n, t)
                         + log_survival(b, s, beta, t))
        log_dropped = (log_nb_constant + np.log(s)
                       + log_lifetime_integral(r + n, alpha, b, s, beta, float(n), 0.0, t))
        pmf = np.exp(np.logaddexp(log_alive, log_dropped))
        return np.where(t > 0, pmf, float(n == 0))

    def future_rate_scale(self, updated: tuple) -> np.ndarray:
        """The time over which S(t) falls: ``log1p(beta / s) / b`` (the Pareto/NBD's
        beta / s in the limit b -> 0), kept within the float range."""
        _, _, b, s, beta = updated
        with np.errstate(divide="ignore", over="ignore"):
            log_scale = np.log(np.logaddexp(0.0, np.log(beta) - np.log(s))) - np.log(b)
        return np.exp(np.clip(log_scale, -600.0, 600.0))

    def simulate(self, params: Params, T: np.ndarray, holdout: float,
                 rng: np.random.Generator):
        """Gamma rates, Gompertz lifetimes ``log1p(E / eta) / b`` (E ~ Exp(1): the inverse of
        S(tau | eta) = exp(-eta expm1(b tau))) and Poisson purchases while alive."""
        r, alpha, b, s, beta = params
        size = len(T)
        rate = rng.gamma(r, 1.0 / alpha, size)
        lifetime = np.log1p(rng.exponential(1.0, size) / rng.gamma(s, 1.0 / beta, size)) / b
        observed = np.minimum(lifetime, T)
        x = rng.poisson(rate * observed)
        # Given x, the purchase times are uniform in (0, observed]: the last is at
        # observed * U^(1/x).
        last = observed * rng.random(size) ** (1.0 / np.maximum(x, 1))
        return (x, np.where(x > 0, last, 0.0),
                rng.poisson(rate * np.clip(lifetime - T, 0.0, holdout)))


GGOMPERTZ_NBD = GGompertzNBDFamily()


class GGompertzNBDModel(PurchasePredictions, MLEModel):
    """GGompertz/NBD model (Bemmaor & Glady 2012) fitted by maximum likelihood, with the
    options and fitted state of :class:`~clvmodels.estimation.mle.MLEModel` (``penalizer``;
    ``covariance_``, ``log_likelihood_``, ...).

    Static covariates (``purchase_covariates=``, ``dropout_covariates=``) as CLVTools'
    ``ggomnbd``: ``alpha_i = alpha exp(-g_purchase' z_i)`` (positive: buying more often) and
    ``beta_i = beta exp(-g_dropout' z_i)`` (positive: leaving sooner).

    Attributes
    ----------
    params_ : Series
        The purchase rate's ``r`` and ``alpha`` (in the data's time unit), the Gompertz
        ageing rate ``b`` (per time unit), and ``s``, ``beta`` of the lifetime's eta.
        Where the data show no ageing the estimate tends to the Pareto/NBD (b and beta -> 0
        with beta / b the Pareto/NBD's beta) and a DegenerateFitWarning says so.
    """

    family = GGOMPERTZ_NBD


class BayesianGGompertzNBDModel(PurchasePredictions, BayesianModel):
    """GGompertz/NBD model with a posterior over its parameters (PyMC; the ``bayes`` extra).

    The likelihood is :class:`GGompertzNBDModel`'s, compiled
    (:mod:`clvmodels.models.ggompertz_nbd_kernel`: the same quadrature with its gradient from
    the same nodes, in one numba pass), on customers merged into distinct weighted rows.
    Default priors: log-normals with log-scale sd 2 around the maximum-likelihood starting
    point.

    Parameters
    ----------
    priors : dict, optional
        Replacement priors by parameter name (unnamed PyMC distributions, positive support).
    """

    family = GGOMPERTZ_NBD
