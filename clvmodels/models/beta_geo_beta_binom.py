"""BG/BB: the beta-geometric / beta-Bernoulli model of repeat transactions in discrete time
(Fader, Hardie & Shang 2010, "Customer-base analysis in a discrete-time noncontractual
setting", Marketing Science 29(6)).

A customer has ``n`` transaction opportunities (periods) after the first transaction. While
alive, they transact in each period with probability p ~ Beta(alpha, beta); at the start of
each period a living customer becomes inactive with probability theta ~ Beta(gamma, delta).
The data are ``frequency`` (x, periods with a repeat transaction), ``recency`` (t_x, the
period of the last one, 0 if none) and ``periods`` (n), all whole numbers.

The likelihood (paper eq. 5) is ``LL = c + logaddexp(u, v)`` as for every
:class:`~clvmodels.estimation.family.PurchaseFamily`, with ``c = log (alpha)_x`` (rising
factorials, from which the beta functions are built without their cancellation) and

- ``u = log B(alpha + x, beta + n - x) / B(alpha, beta) - log (alpha)_x
  + log B(gamma, delta + n) / B(gamma, delta)``: alive through the n-th period;
- ``v = logsumexp_{k = t_x}^{n - 1} [log B(alpha + x, beta + k - x) / B(alpha, beta)
  - log (alpha)_x + log B(gamma + 1, delta + k) / B(gamma, delta)]``: alive for k periods,
  gone at the start of period k + 1 (``-inf`` when t_x = n).

So ``probability_alive`` is P(alive at the end of period n) (lifetimes' value at
``m_periods_in_future=0``); the paper's eq. 11, P(alive in period n + 1), is that times
``(delta + n) / (gamma + delta + n)`` (the chance of surviving one more opportunity). An alive
customer's future is a new customer's with the updated parameters
``(alpha + x, beta + n - x, gamma, delta + n)`` (the dropout process is memoryless), so every
conditional prediction follows from the unconditional ones (eqs. 7, 8).

How it plugs in: a discrete-time :class:`PurchaseFamily` whose "future" is in whole periods.
The shared :class:`~clvmodels.estimation.predictions.PurchasePredictions` evaluate it
unchanged; the family refuses horizons that are not whole numbers of periods (a
ValidationError), and it overrides
:meth:`~clvmodels.estimation.family.PurchaseFamily.future_discounted` to discount a sum over
periods (a transaction in the k-th future period is worth ``(1 + d) ** -k``, paper eq. 14)
instead of integrating a purchase rate. Nothing is rescaled: the columns are counts.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln, zeta

from clvmodels._numerics import log_hyp2f1_forms, log_rising
from clvmodels.estimation.bayesian import BayesianModel
from clvmodels.estimation.family import CovariateLink, Parameter, Params, PurchaseFamily
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.mle import MLEModel
from clvmodels.estimation.predictions import PurchasePredictions
from clvmodels.models.compiled_kernel import CompiledBetaGeoBetaBinom
from clvmodels.validation import ValidationError, check_rfm, invalid_rows

# Within this distance of gamma = 1 the closed form of the expected survived periods is 0/0
# to rounding; its Taylor series in gamma - 1 (three terms, truncation ~1e-12 relative) is
# used instead.
_GAMMA_NEAR_ONE = 1e-4
# Discounted sums over at most this many periods are summed term by term; longer ones (and
# the whole remaining lifetime) come from the Gauss hypergeometric closed form of eq. 14.
_DIRECT_SUM_PERIODS = 1_000
# A discounted sum stops where the remaining terms are below this share of it (below double
# precision's resolution).
_NEGLIGIBLE_SHARE = 1e-17
# Sums over periods are vectorised along a trailing axis, in chunks of at most this many
# elements (bounded memory whatever the number of periods).
_CHUNK_ELEMENTS = 2**20

BETA_GEO_BETA_BINOM_PARAMETERS = (
    Parameter("alpha", "transaction probability per period p ~ Beta(alpha, beta)"),
    Parameter("beta", "transaction probability per period p ~ Beta(alpha, beta)"),
    Parameter("gamma", "dropout probability per period theta ~ Beta(gamma, delta)"),
    Parameter("delta", "dropout probability per period theta ~ Beta(gamma, delta)"),
)


def whole_periods(t: object, name: str = "t") -> np.ndarray:
    """``t`` as floats, refusing numbers of periods that are not whole (inf passes through
    for the caller's own checks).

    Raises
    ------
    ValidationError
        Naming ``name`` and the first value that is not a whole number.
    """
    array = np.asarray(t, dtype=float)
    finite = np.isfinite(array)
    broken = finite & (array != np.round(array))
    if broken.any():
        raise ValidationError(
            f"{name}: the BG/BB model is in discrete time and counts whole periods; got "
            f"{float(array[broken].flat[0])!r}, expected a whole number of periods"
        )
    return array


def log_survived(gamma, delta, k) -> np.ndarray:
    """log E[(1 - theta)^k], theta ~ Beta(gamma, delta): alive through k opportunities."""
    return log_rising(delta, k) - log_rising(gamma + delta, k)


def log_dropped_at(gamma, delta, k) -> np.ndarray:
    """log E[theta (1 - theta)^k]: alive through k opportunities, gone at the next one."""
    return np.log(gamma) + log_rising(delta, k) - log_rising(gamma + delta, k + 1.0)


def log_transactions(alpha, beta, x, k) -> np.ndarray:
    """log E[p^x (1 - p)^(k - x)] - log (alpha)_x, p ~ Beta(alpha, beta): a given pattern of
    x transactions in k periods, without the factor shared by every term of a customer."""
    return log_rising(beta, k - x) - log_rising(alpha + beta, k)


def expected_survived_periods(gamma, delta, t) -> np.ndarray:
    """``sum_{k=1}^t E[(1 - theta)^k]``: the expected periods alive among the next t.

    The closed form of eq. 7, ``delta / (gamma - 1) * (1 - (1 + delta)_t / (gamma + delta)_t)``
    (the log-ratio summed factor by factor up to ``_DIRECT_SUM_PERIODS`` periods; beyond, a
    difference of rising factorials, which loses ~``delta log(delta) / |gamma - 1|`` units of
    rounding), and within ``_GAMMA_NEAR_ONE`` of gamma = 1 (where it is 0/0) the Taylor series
    of the log-ratio in ``gamma - 1`` (polygamma differences).
    """
    gamma, delta, t = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                            for v in (gamma, delta, t)))
    eps = gamma - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = log_rising(delta + 1.0, t) - log_rising(gamma + delta, t)
        short = t <= _DIRECT_SUM_PERIODS
        if short.any():
            # The difference of rising factorials of size t log(delta) cancels to
            # (1 - gamma) t / delta; summed factor by factor, each log1p is exact.
            log_ratio = np.array(log_ratio, dtype=float)
            log_ratio[short] = _log_ratio_by_factors(gamma[short], delta[short], t[short])
        closed = delta * -np.expm1(log_ratio) / eps
    near = np.abs(eps) < _GAMMA_NEAR_ONE
    if not near.any():
        return closed
    e, d, n = eps[near], delta[near], t[near]
    start, end = d + 1.0, d + 1.0 + n
    # -log_ratio = eps * slope, slope = [psi] + eps / 2 [psi_1] + eps^2 / 6 [psi_2] + O(eps^3),
    # [f] = f(1 + delta + t) - f(1 + delta); psi_1 = zeta(2, .), psi_2 = -2 zeta(3, .).
    slope = (digamma(end) - digamma(start) + e / 2 * (zeta(2, end) - zeta(2, start))
             - e**2 / 3 * (zeta(3, end) - zeta(3, start)))
    z = e * slope
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(z == 0, 1.0, -np.expm1(-z) / z)  # (1 - e^-z) / z
    result = np.array(closed, dtype=float)
    result[near] = d * slope * share
    return result


def _log_ratio_by_factors(gamma, delta, t) -> np.ndarray:
    """``log (1 + delta)_t / (gamma + delta)_t`` as ``sum_{j<t} log1p((1 - gamma) /
    (gamma + delta + j))`` (t whole, at most ``_DIRECT_SUM_PERIODS``)."""
    total = np.zeros(np.shape(t))
    for j in range(int(t.max()) if t.size else 0):
        total = total + np.where(j < t, np.log1p((1.0 - gamma) / (gamma + delta + j)), 0.0)
    return total


def discounted_survival_sum(gamma, delta, horizon: float, q: float) -> np.ndarray:
    """``sum_{k=1}^{horizon} q^k E[(1 - theta)^k]`` term by term, stopping where the
    remaining terms are a negligible share (terms fall at least as fast as q^k)."""
    gamma, delta = np.broadcast_arrays(np.asarray(gamma, dtype=float),
                                       np.asarray(delta, dtype=float))
    periods = horizon
    if q < 1:
        # The tail after K terms is below q^K / (1 - q) of the sum.
        needed = (np.log(1 / _NEGLIGIBLE_SHARE) - np.log1p(-q)) / -np.log(q)
        periods = min(horizon, float(np.ceil(needed)))
    total = np.zeros(gamma.shape)
    log_term = np.zeros(gamma.shape)
    log_q = np.log(q)
    for k in range(1, int(periods) + 1):
        # E[(1 - theta)^k] = prod_{j<k} (delta + j) / (gamma + delta + j)
        log_term = log_term + log_q + np.log1p(-gamma / (gamma + delta + (k - 1)))
        total = total + np.exp(log_term)
    return total


def discounted_survival_hyp2f1(gamma, delta, horizon: float, q: float) -> np.ndarray:
    """The same sum from eq. 14's closed form: ``F(delta) = q delta / (gamma + delta)
    2F1(1, delta + 1; gamma + delta + 1; q)`` for the whole lifetime, less
    ``q^h E[(1 - theta)^h] F(delta + h)`` (the periods after h) for a finite horizon h.

    2F1 from SciPy, or its Euler transform, or mpmath (bounded); where all fail (NaN) the
    caller sums term by term.
    """
    gamma, delta = np.broadcast_arrays(np.asarray(gamma, dtype=float),
                                       np.asarray(delta, dtype=float))

    def log_lifetime(g, d):
        offset = np.log(q) + np.log(d) - np.log(g + d)
        c = g + d + 1.0
        return log_hyp2f1_forms(
            (offset, np.ones_like(d), d + 1.0, c, np.full_like(d, q)),
            (offset + (g - 1.0) * np.log1p(-q), g + d, g, c, np.full_like(d, q)),
        )

    whole = np.exp(log_lifetime(gamma, delta))
    if np.isinf(horizon):
        return whole
    # The periods after h: q^h E[(1 - theta)^h] F(delta + h), where F(delta + h) <= q / (1 - q);
    # evaluated only where that bound is not negligible (its 2F1 has large arguments).
    log_prefix = horizon * np.log(q) + log_survived(gamma, delta, horizon)
    matters = log_prefix + np.log(q) - np.log1p(-q) > np.log(_NEGLIGIBLE_SHARE * whole)
    later = np.zeros(whole.shape)
    if matters.any():
        later[matters] = np.exp(log_prefix[matters]
                                + log_lifetime(gamma[matters], delta[matters] + horizon))
    return whole - later


def discounted_survival(gamma, delta, horizon: float, discount_rate: float) -> np.ndarray:
    """``sum_{k=1}^{horizon} (1 + discount_rate)^-k E[(1 - theta)^k]`` (``horizon`` whole or
    inf): term by term when few terms matter, else by the closed form (see the functions
    above; ``tests/test_bgbb.py`` checks one against the other)."""
    q = 1.0 / (1.0 + discount_rate)
    needed = np.inf if q == 1 else (np.log(1 / _NEGLIGIBLE_SHARE) - np.log1p(-q)) / -np.log(q)
    if min(horizon, needed) <= _DIRECT_SUM_PERIODS:
        return discounted_survival_sum(gamma, delta, horizon, q)
    result = discounted_survival_hyp2f1(gamma, delta, horizon, q)
    failed = ~np.isfinite(result) | (result < 0)
    if failed.any():
        gamma, delta = np.broadcast_arrays(gamma, delta)
        result = np.array(result, dtype=float)
        result[failed] = discounted_survival_sum(gamma[failed], delta[failed], horizon, q)
    return result


def trailing(values) -> np.ndarray:
    """``values`` with a trailing axis of length 1 (to broadcast against periods)."""
    return np.asarray(values, dtype=float)[..., None]


def period_chunks(first, count, shape: tuple):
    """The periods ``first, ..., first + count - 1`` of every element of ``shape``, a chunk
    at a time along a trailing axis: ``(k, inside)``, ``inside`` flagging the periods that
    belong to the element (the counts differ). Chunks hold at most ``_CHUNK_ELEMENTS``."""
    first = np.broadcast_to(np.asarray(first, dtype=float), shape)
    count = np.broadcast_to(np.asarray(count, dtype=float), shape)
    longest = int(count.max()) if count.size else 0
    width = max(1, _CHUNK_ELEMENTS // max(int(np.prod(shape)), 1))
    for start in range(0, longest, width):
        offsets = np.arange(start, min(start + width, longest), dtype=float)
        yield first[..., None] + offsets, offsets < count[..., None]


def log_sum_exp(terms: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """log of the sum of ``exp(terms)`` over the trailing axis where ``inside`` (-inf for
    none)."""
    terms = np.where(inside, terms, -np.inf)
    peak = terms.max(axis=-1)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(terms - safe[..., None]).sum(axis=-1))


class BetaGeoBetaBinomFamily(PurchaseFamily):
    """The BG/BB declaration (see the module docstring)."""

    name: ClassVar[str] = "bgbb"
    title: ClassVar[str] = "BG/BB"
    aliases: ClassVar[tuple[str, ...]] = ("betageobetabinom",)
    parameters = BETA_GEO_BETA_BINOM_PARAMETERS
    discrete_time: ClassVar[bool] = True
    rfm_columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "periods")
    # Counts of periods: nothing in a unit to rescale.
    unit_columns: ClassVar[tuple[str, ...]] = ()
    #: Static covariates shift the log-odds of the mean probabilities: ``alpha_i = alpha
    #: exp(g_purchase' z)`` makes ``logit E[p_i] = log(alpha_i / beta) = log(alpha / beta) +
    #: g_purchase' z``, and ``gamma_i = gamma exp(g_dropout' z)`` does the same for the
    #: dropout probability theta. (CLVTools' BG/BB has no covariates. Scaling both
    #: parameters of a beta, as the BG/NBD's a and b in Fader & Hardie's note 019, would
    #: leave the mean unchanged and move only its spread.)
    covariate_links: ClassVar[tuple[CovariateLink, ...]] = (
        CovariateLink("purchase", ("alpha",), 1, "transacting in more periods"),
        CovariateLink("dropout", ("gamma",), 1, "leaving sooner"),
    )

    # ------------------------------------------------------------------------- data
    def history(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Checked ``(x, t_x, n)`` of a discrete-time table (``frequency``, ``recency``,
        ``periods``, whole numbers with ``frequency <= recency <= periods``)."""
        if isinstance(data, pd.DataFrame) and "periods" not in data.columns:
            found = ("; this table has 'T' (continuous time since the first purchase): build a "
                     "discrete-time summary with discrete_rfm_summary(...)"
                     if "T" in data.columns else "")
            raise ValidationError(
                f"missing column 'periods': the {self.title} model reads frequency, recency "
                f"and periods (whole transaction opportunities){found}"
            )
        periods = data["periods"] if isinstance(data, pd.DataFrame) else None
        if periods is not None and pd.api.types.is_numeric_dtype(periods.dtype):
            none = (periods <= 0).to_numpy()
            if none.any():
                raise invalid_rows(
                    "periods", int(none.sum()), data.index[np.flatnonzero(none)[0]],
                    "periods > 0 (a customer first seen in the last period has had no "
                    "transaction opportunity yet: leave them out, or end the observation later)")
        check_rfm(data, T_col="periods")
        x, t_x, n = (data[column].to_numpy(dtype=float) for column in self.rfm_columns)
        for column, broken, expected in (
            ("recency", t_x != np.round(t_x), "whole numbers (the period of the last "
             "transaction)"),
            ("periods", n != np.round(n), "whole numbers (transaction opportunities)"),
            ("recency", x > t_x, "recency >= frequency (one transaction at most per period)"),
        ):
            if broken.any():
                raise invalid_rows(column, int(broken.sum()), data.index[np.flatnonzero(
                    broken)[0]], expected)
        return x, t_x, n

    def data_scale(self, fit_data: FitData) -> float:
        return 1.0

    def log_likelihood_offset(self, fit_data: FitData, scale: float) -> float:
        return 0.0

    def initial_params(self, fit_data: FitData) -> np.ndarray:
        return np.ones(4)

    # ------------------------------------------------------------------------- likelihood
    def likelihood_parts(self, params: Params, x, t_x, T, x_levels=None):
        alpha, beta, gamma, delta = params
        c = log_rising(alpha, x)
        u = log_transactions(alpha, beta, x, T) + log_survived(gamma, delta, T)
        shape = np.broadcast_shapes(np.shape(c), np.shape(u), np.shape(t_x))
        v = np.full(shape, -np.inf)
        for k, inside in period_chunks(t_x, T - t_x, shape):
            v = np.logaddexp(v, log_sum_exp(self._dropout_terms(params, x, k), inside))
        return c, u, v

    @staticmethod
    def _dropout_terms(params: Params, x, k) -> np.ndarray:
        """The terms of v at the periods ``k`` (a trailing axis over periods)."""
        alpha, beta, gamma, delta = (trailing(value) for value in params)
        return log_transactions(alpha, beta, trailing(x), k) + log_dropped_at(gamma, delta, k)

    def log_likelihood_gradient(self, params: Params, fit_data: FitData):
        """Per row, the derivatives of ``c + logaddexp(u, v)``: ``c'`` plus the average of the
        terms' derivatives (u and each term of v), weighted by their shares of the sum. The
        digamma terms shared by every term (psi(alpha + beta), psi(beta), psi(gamma + delta),
        psi(delta)) are taken out of the average, whose weights sum to 1."""
        alpha, beta, gamma, delta = params
        x, t_x, T = fit_data["x"], fit_data["t_x"], fit_data["T"]
        c, u, v = self.likelihood_parts(params, x, t_x, T)
        total = np.logaddexp(u, v)
        share = np.exp(u - total)
        # Per parameter: the share-weighted averages of psi(alpha + beta + k),
        # psi(beta + k - x), psi(gamma + delta + k') (k' = k + 1 for a dropout, n if alive),
        # psi(delta + k), and the share of the dropout terms (each with 1 / gamma).
        ab_k = share * digamma(alpha + beta + T)
        b_k = share * digamma(beta + T - x)
        gd_k = share * digamma(gamma + delta + T)
        d_k = share * digamma(delta + T)
        dropped = np.zeros(total.shape)
        a, b, g, d = (trailing(value) for value in params)
        for k, inside in period_chunks(t_x, T - t_x, total.shape):
            terms = self._dropout_terms(params, x, k)
            weight = np.where(inside, np.exp(terms - trailing(total)), 0.0)
            ab_k = ab_k + (weight * digamma(a + b + k)).sum(axis=-1)
            b_k = b_k + (weight * digamma(b + k - trailing(x))).sum(axis=-1)
            gd_k = gd_k + (weight * digamma(g + d + k + 1.0)).sum(axis=-1)
            d_k = d_k + (weight * digamma(d + k)).sum(axis=-1)
            dropped = dropped + weight.sum(axis=-1)
        psi_ab, psi_gd = digamma(alpha + beta), digamma(gamma + delta)
        shape = np.broadcast_shapes(np.shape(total), *map(np.shape, params))
        gradient = np.empty((4, *shape))
        gradient[0] = digamma(alpha + x) - digamma(alpha) + psi_ab - ab_k
        gradient[1] = psi_ab - digamma(beta) + b_k - ab_k
        gradient[2] = psi_gd + dropped / gamma - gd_k
        gradient[3] = psi_gd - digamma(delta) + d_k - gd_k
        return c + total, gradient

    def compiled_likelihood(self, fit_data: FitData) -> CompiledBetaGeoBetaBinom:
        """The numba kernel of the weighted likelihood on ``fit_data`` (for the samplers)."""
        return CompiledBetaGeoBetaBinom.of(fit_data["x"], fit_data["t_x"], fit_data["T"],
                                           fit_data.weights)

    # ------------------------------------------------------------------------- the future
    def updated_params(self, params: Params, x, T) -> tuple:
        alpha, beta, gamma, delta = params
        # + zeros: gamma broadcasts over draws and rows like the others
        return alpha + x, beta + T - x, gamma + np.zeros_like(x), delta + T

    def future_expected(self, updated: tuple, t) -> np.ndarray:
        """Expected transactions in the next t periods of a customer alive now (eq. 7 with
        the updated parameters; eq. 13 is P(alive) times this)."""
        alpha, beta, gamma, delta = updated
        t = whole_periods(t, "t")
        return alpha / (alpha + beta) * expected_survived_periods(gamma, delta, t)

    def future_discounted(self, updated: tuple, horizon: float, discount_rate: float,
                          per_draw: bool = False) -> np.ndarray:
        """Transactions in the next ``horizon`` periods (whole, or inf), the k-th period's
        discounted by ``(1 + discount_rate) ** -k``: with horizon inf the DERT of eq. 14."""
        alpha, beta, gamma, delta = updated
        horizon = float(whole_periods(horizon, "horizon"))
        return alpha / (alpha + beta) * discounted_survival(gamma, delta, horizon,
                                                            discount_rate)

    def future_pmf(self, updated: tuple, n: int, t) -> np.ndarray:
        """P(n transactions in the next t periods) of a customer alive now (eq. 8): alive
        through the t periods, or gone at the start of period i + 1 for i = n, ..., t - 1."""
        alpha, beta, gamma, delta = updated
        t = whole_periods(t, "t")
        t, alpha, beta, gamma, delta = np.broadcast_arrays(t, alpha, beta, gamma, delta)
        with np.errstate(divide="ignore", invalid="ignore"):
            shared = log_rising(alpha, n) - gammaln(n + 1.0)

            def log_pattern(k, alpha, beta, shared):  # n transactions in k periods, any order
                return (shared + gammaln(k + 1.0) - gammaln(k - n + 1.0)
                        + log_transactions(alpha, beta, n, k))

            log_p = np.where(t >= n, log_pattern(t, alpha, beta, shared)
                             + log_survived(gamma, delta, t), -np.inf)
            a, b, g, d, sh = (trailing(value) for value in (alpha, beta, gamma, delta, shared))
            for k, inside in period_chunks(float(n), t - n, t.shape):
                terms = log_pattern(k, a, b, sh) + log_dropped_at(g, d, k)
                log_p = np.logaddexp(log_p, log_sum_exp(terms, inside))
        return np.exp(log_p)

    def future_log_rate(self, updated: tuple, t) -> np.ndarray:
        raise ValidationError(
            f"the {self.title} model is in discrete time: it has no purchase rate at an "
            "instant, only expected transactions per period"
        )

    def future_rate_scale(self, updated: tuple) -> np.ndarray:
        return updated[3]

    # ------------------------------------------------------------------------- simulation
    def simulate(self, params: Params, T: np.ndarray, holdout: float,
                 rng: np.random.Generator):
        """Histories over ``T`` whole periods (and transactions in ``holdout`` more)."""
        alpha, beta, gamma, delta = params
        T = whole_periods(T, "T").astype(np.int64)
        holdout = int(whole_periods(holdout, "holdout"))
        n_customers = len(T)
        p = rng.beta(alpha, beta, n_customers)
        theta = rng.beta(gamma, delta, n_customers)
        # Periods alive: the opportunities survived before the first dropout.
        alive = rng.geometric(np.clip(theta, 1e-300, 1.0)) - 1
        x = np.zeros(n_customers, dtype=np.int64)
        t_x = np.zeros(n_customers, dtype=np.int64)
        chunk = max(1, 2**22 // max(int(T.max()), 1))
        for start in range(0, n_customers, chunk):
            rows = slice(start, start + chunk)
            periods = np.arange(1, int(T[rows].max()) + 1)
            active = periods[None, :] <= np.minimum(alive[rows], T[rows])[:, None]
            bought = active & (rng.random(active.shape) < p[rows, None])
            x[rows] = bought.sum(axis=1)
            t_x[rows] = np.where(bought, periods[None, :], 0).max(axis=1)
        x_holdout = rng.binomial(np.clip(alive - T, 0, holdout), p)
        return x.astype(float), t_x.astype(float), x_holdout


BETA_GEO_BETA_BINOM = BetaGeoBetaBinomFamily()


class BetaGeoBetaBinomModel(PurchasePredictions, MLEModel):
    """BG/BB model (discrete time) fitted by maximum likelihood.

    Fits a table of ``frequency`` (periods with a repeat transaction), ``recency`` (the last
    such period, 0 if none) and ``periods`` (opportunities), e.g. from
    :func:`clvmodels.discrete_rfm_summary`; pass ``weights`` for a table of distinct
    patterns. Horizons are whole numbers of periods; ``discount_rate`` is per period.

    Static covariates (``purchase_covariates=``, ``dropout_covariates=``) shift the log-odds
    of the mean transaction and dropout probabilities: ``alpha_i = alpha exp(g_purchase'
    z_i)`` (positive: transacting in more periods), ``gamma_i = gamma exp(g_dropout' z_i)``
    (positive: leaving sooner).

    Attributes
    ----------
    params_ : Series
        ``alpha``, ``beta`` (transaction probability per period ~ Beta(alpha, beta)),
        ``gamma``, ``delta`` (dropout probability per period ~ Beta(gamma, delta)).

    Examples
    --------
    >>> from clvmodels import BetaGeoBetaBinomModel, load_donations
    >>> donations = load_donations()
    >>> model = BetaGeoBetaBinomModel().fit(donations, weights=donations["weights"])
    >>> model.params_.round(3).tolist()
    [1.204, 0.75, 0.657, 2.783]
    """

    family = BETA_GEO_BETA_BINOM


class BayesianBetaGeoBetaBinomModel(PurchasePredictions, BayesianModel):
    """BG/BB model with a posterior over its parameters (PyMC; the ``bayes`` extra).

    The likelihood is :class:`BetaGeoBetaBinomModel`'s; default priors are log-normal
    around 1 (see :class:`~clvmodels.estimation.bayesian.BayesianModel`).

    Parameters
    ----------
    priors : dict, optional
        Replacement priors by parameter name (unnamed PyMC distributions, positive support).
    """

    family = BETA_GEO_BETA_BINOM


__all__ = ["BETA_GEO_BETA_BINOM", "BayesianBetaGeoBetaBinomModel", "BetaGeoBetaBinomFamily",
           "BetaGeoBetaBinomModel", "discounted_survival", "expected_survived_periods",
           "whole_periods"]
