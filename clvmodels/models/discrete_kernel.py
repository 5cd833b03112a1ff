"""The compiled likelihoods of the discrete-time families, for sampling: the BG/BB and the
contractual sBG and BdW, each with its gradient in one pass, and nutpie's C callbacks.

The mathematics of :meth:`clvmodels.models.beta_geo_beta_binom.BetaGeoBetaBinomFamily.
log_likelihood_gradient` (per row ``c + logsumexp`` of the alive term and the dropout terms of
the periods after the last transaction, each term's derivatives weighted by its share of the
sum, accumulated in one pass and rescaled whenever a larger term appears) and of
:mod:`clvmodels.models.beta_discrete_weibull` (``log_survival``, ``log_survival_step``, the
churn terms and their gradients, with the same guards at the edges; two parameters are the
sBG with its closed-form churn, three the BdW), written as numba functions compiled once and
cached on disk, and cross-checked against the families' NumPy likelihoods in the tests.
Without them nutpie ran the NumPy likelihoods from Python, 5-13 ms a gradient on a few
distinct rows (the donations' 22, a cohort's 8): 30-150 s of a 4 x 1,000-draw fit.

The two families share one module so that nutpie's log-density callback is written once and
dispatches on the family's code in the packed data: numba cannot cache a callback that takes
its log density as an argument (a first-class function), and every function a cached callback
calls must be defined here (numba's disk cache notices edits to the file that defines a
cached function, not to the files of the functions it calls; the one exception is the BG/NBD
kernel's ``digamma``, a fixed special function: after editing it, clear numba's cache). The
packed data is one float array (:meth:`clvmodels.models.compiled_kernel.CompiledKernel.
packed`)::

    [length, k, family, prior means (k), prior sds (k), centre (k), factor (k * k), data...]

the data being the family's arrays of distinct rows one after the other. The sampler's
log-parameters are ``theta = centre + factor @ z`` at its coordinates z (see
:func:`clvmodels.bayes.native.compile_native`). Imported only by the Bayesian models (numba is
in the ``bayes`` extra).
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from clvmodels.models.beta_geometric_kernel import compiled, digamma
from clvmodels.models.gamma_gamma_kernel import c_callbacks

#: The packed data's header before the priors: its length, the number of parameters and the
#: family's code (``BGBB`` or ``CONTRACT``).
PRIORS = 3
BGBB, CONTRACT = 0.0, 1.0
#: The data arrays (of one length, the distinct rows) of each family, after the header.
ARRAYS_BGBB, ARRAYS_CONTRACT = 4, 3
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
# Stirling's series of log Gamma is used from this argument on (as clvmodels._numerics).
_STIRLING_FROM = 10.0


@compiled
def data_start(k: int) -> int:
    """Where the data begins in the packed array of a ``k``-parameter posterior."""
    return PRIORS + 3 * k + k * k


@compiled
def packed_view(user_data):
    """The packed array behind nutpie's user-data pointer, its length read from its head."""
    head = numba.carray(user_data, (1,), np.float64)
    return numba.carray(user_data, (int(head[0]),), np.float64)


@compiled
def unwhiten(z, packed):
    """The log-parameters at whitened coordinates z, and the whitening factor."""
    k = len(z)
    centre = packed[PRIORS + 2 * k:PRIORS + 3 * k]
    factor = packed[PRIORS + 3 * k:data_start(k)].reshape((k, k))
    return centre + factor @ z, factor


# ----------------------------------------------------------------------------- log-gamma
@compiled
def stirling_correction(x: float) -> float:
    """``log Gamma(x) - ((x - 1/2) log x - x + log(2 pi) / 2)``, as
    :func:`clvmodels._numerics.stirling_correction`: from x = 10 on its asymptotic series to
    the x**-11 term (the next is below 7e-16 there), below it the direct difference."""
    if x < _STIRLING_FROM:
        return math.lgamma(x) - ((x - 0.5) * math.log(x) - x + _LOG_SQRT_2PI)
    inverse = 1.0 / x
    square = inverse * inverse
    return inverse * (1 / 12 - square * (1 / 360 - square * (
        1 / 1260 - square * (1 / 1680 - square * (1 / 1188 - square * 691 / 360360)))))


@compiled
def log_rising(x: float, n: float) -> float:
    """``log Gamma(x + n) - log Gamma(x)`` for x > 0, n >= 0, as
    :func:`clvmodels._numerics.log_rising`: below x = 10 the difference of log-gammas, from
    there Stirling's series, each term accurate relative to itself (no cancellation)."""
    if x < _STIRLING_FROM:
        return math.lgamma(x + n) - math.lgamma(x)
    return ((x - 0.5) * math.log1p(n / x) + n * math.log(x + n) - n
            + stirling_correction(x + n) - stirling_correction(x))


# ----------------------------------------------------------------------------- sBG / BdW
# As the NumPy module: beyond y = t**c = e**600 the beta-function ratio is alpha log y alone.
_LOG_Y_ASYMPTOTIC = 600.0


@compiled
def _log_y(c, t):
    """log(t ** c), -inf at t = 0."""
    return c * math.log(t) if t > 0 else -math.inf


@compiled
def _log_beta_ratio(alpha, start, step, log_end):
    """log B(alpha, start + step) - log B(alpha, start), step >= 0, in the form whose terms
    are of the size of the smaller of step and alpha (no cancellation), and ``alpha
    log_end`` for the last term beyond e**600."""
    if not log_end <= _LOG_Y_ASYMPTOTIC:
        return log_rising(start, alpha) - alpha * log_end
    if step < alpha:
        return log_rising(start, step) - log_rising(alpha + start, step)
    return log_rising(start, alpha) - log_rising(start + step, alpha)


@compiled
def _log_survival(alpha, beta, c, t):
    """log S(t) = log B(alpha, beta + t ** c) - log B(alpha, beta)."""
    log_y = _log_y(c, t)
    y = math.exp(log_y)
    log_beta = math.log(beta)  # log_end = log(beta + y), y possibly beyond a double
    if log_y > log_beta:
        log_end = log_y + math.log1p(math.exp(log_beta - log_y))
    else:
        log_end = log_beta + math.log1p(math.exp(log_y - log_beta))
    return _log_beta_ratio(alpha, beta, y, log_end)


@compiled
def _survival_gradient(alpha, beta, c, t, out, scale):
    """Add ``scale`` times the derivatives of log S(t) in (alpha, beta[, c]) to ``out``."""
    log_y = _log_y(c, t)
    y = math.exp(log_y)
    total = digamma(alpha + beta + y)
    d_alpha = digamma(alpha + beta) - total
    out[0] += scale * d_alpha
    out[1] += scale * (digamma(beta + y) - digamma(beta) + d_alpha)
    if len(out) == 3 and t > 0:
        # d/dc = d/dy * dy/dc, dy/dc = y log t.
        out[2] += scale * (digamma(beta + y) - total) * y * log_y / c


@compiled
def _log_survival_step(alpha, beta, c, n):
    """log S(n + 1) - log S(n) without the cancellation of the difference (see the NumPy
    ``log_survival_step``: the step of y by ``n ** c expm1(c log1p(1 / n))``)."""
    log_y = _log_y(c, n)
    if log_y > _LOG_Y_ASYMPTOTIC:
        return -alpha * c * math.log1p(1.0 / n)
    if c * math.log1p(n) > _LOG_Y_ASYMPTOTIC:
        return _log_survival(alpha, beta, c, n + 1.0) - _log_survival(alpha, beta, c, n)
    y = math.exp(log_y)
    step = y * math.expm1(c * math.log1p(1.0 / n)) if n > 0 else 1.0
    start = beta + y
    return _log_beta_ratio(alpha, start, step, math.log(start + step))


@compiled
def _log1mexp(x):
    """log(1 - exp(x)) for x <= 0 (Maechler 2012)."""
    return math.log(-math.expm1(x)) if x > -math.log(2.0) else math.log1p(-math.exp(x))


@compiled(nogil=True)
def contract_value_and_gradient(params, data):
    """The sBG / BdW weighted log-likelihood and its gradient in (alpha, beta) (sBG) or
    (alpha, beta, c) (BdW, three parameters): per row log S(n) for a customer still active,
    log P(T = n + 1) for one who left. ``data`` holds n, churned (1 or 0) and the weight of
    each distinct row. Returns ``(value, gradient)``."""
    k = len(params)
    alpha, beta = params[0], params[1]
    c = params[2] if k == 3 else 1.0
    n, churned, weight = data[0], data[1], data[2]
    total = 0.0
    gradient = np.zeros(k)
    for i in range(len(n)):
        w, periods = weight[i], n[i]
        log_s = _log_survival(alpha, beta, c, periods)
        if churned[i] == 0:
            total += w * log_s
            _survival_gradient(alpha, beta, c, periods, gradient, w)
        elif k == 2:
            inverse = 1.0 / (alpha + beta + periods)
            total += w * (math.log(alpha) - math.log(alpha + beta + periods) + log_s)
            _survival_gradient(alpha, beta, c, periods, gradient, w)
            gradient[0] += w * (1.0 / alpha - inverse)
            gradient[1] -= w * inverse
        else:
            # log(S(n) - S(n + 1)) = log S(n) + log(1 - e^D), D = log S(n + 1) - log S(n);
            # its gradient g(n) + (g(n + 1) - g(n)) / (1 - e^-D).
            step = min(_log_survival_step(alpha, beta, c, periods), 0.0)
            total += w * (log_s + _log1mexp(step))
            share = -1.0 / math.expm1(-step)
            _survival_gradient(alpha, beta, c, periods, gradient, w * (1.0 - share))
            _survival_gradient(alpha, beta, c, periods + 1.0, gradient, w * share)
    return total, gradient


# ----------------------------------------------------------------------------- BG/BB
@compiled
def _term(alpha, beta, gamma, delta, x, k, dropped, out):
    """One term of the sum: alive through k periods and then (``dropped``) gone at the next
    one, or alive through the last (k = n). Writes the parts of its derivatives that vary
    between terms to ``out`` (psi(alpha + beta + k), psi(beta + k - x), psi(gamma + delta +
    k'), psi(delta + k), 1 / gamma if dropped) and returns its log."""
    ab, gd = alpha + beta, gamma + delta
    later = k + 1.0 if dropped else k
    value = (log_rising(beta, k - x) - log_rising(ab, k)
             + log_rising(delta, k) - log_rising(gd, later))
    out[0] = digamma(ab + k)
    out[1] = digamma(beta + k - x)
    out[2] = digamma(gd + later)
    out[3] = digamma(delta + k)
    out[4] = 0.0
    if dropped:
        value += math.log(gamma)
        out[4] = 1.0 / gamma
    return value


@compiled(nogil=True)
def bgbb_value_and_gradient(params, data):
    """The BG/BB weighted log-likelihood and its gradient in (alpha, beta, gamma, delta).
    ``data`` holds x, t_x, n (periods) and the weight of each distinct row. Returns
    ``(value, gradient)``."""
    alpha, beta, gamma, delta = params[0], params[1], params[2], params[3]
    psi_ab, psi_gd = digamma(alpha + beta), digamma(gamma + delta)
    psi_alpha, psi_beta, psi_delta = digamma(alpha), digamma(beta), digamma(delta)
    x, t_x, n, weight = data[0], data[1], data[2], data[3]
    total = 0.0
    gradient = np.zeros(4)
    parts, average = np.empty(5), np.empty(5)
    for i in range(len(x)):
        # log-sum-exp of the terms, and the share-weighted average of their parts, in one
        # pass: ``peak`` the largest log so far, ``mass`` the sum of exp(log - peak).
        peak = _term(alpha, beta, gamma, delta, x[i], n[i], False, average)
        mass = 1.0
        for period in range(int(t_x[i]), int(n[i])):
            value = _term(alpha, beta, gamma, delta, x[i], float(period), True, parts)
            if value > peak:
                scale = math.exp(peak - value)
                mass = mass * scale + 1.0
                average[:] = average * scale + parts
                peak = value
            else:
                share = math.exp(value - peak)
                mass += share
                average[:] = average + share * parts
        average[:] = average / mass
        w = weight[i]
        total += w * (log_rising(alpha, x[i]) + peak + math.log(mass))
        gradient[0] += w * (digamma(alpha + x[i]) - psi_alpha + psi_ab - average[0])
        gradient[1] += w * (psi_ab - psi_beta + average[1] - average[0])
        gradient[2] += w * (psi_gd + average[4] - average[2])
        gradient[3] += w * (psi_gd - psi_delta + average[3] - average[2])
    return total, gradient


# ----------------------------------------------------------------------------- the posterior
@compiled
def rows_of(packed, arrays):
    """The packed data's ``arrays`` arrays of distinct rows, as the rows of a 2-d view."""
    start = data_start(int(packed[1]))
    rows = (len(packed) - start) // arrays
    return packed[start:start + arrays * rows].reshape((arrays, rows))


@compiled
def log_density(theta, packed):
    """log posterior density (up to a constant) of the log-parameters and its gradient: the
    packed family's likelihood with the log-normal priors of the packed data (normal
    densities of the logs, the Jacobian of the log transform included)."""
    params = np.exp(theta)
    if packed[2] == BGBB:
        total, gradient = bgbb_value_and_gradient(params, rows_of(packed, ARRAYS_BGBB))
    else:
        total, gradient = contract_value_and_gradient(params,
                                                      rows_of(packed, ARRAYS_CONTRACT))
    gradient = gradient * params  # the chain rule to the log-parameters
    k = len(theta)
    for i in range(k):
        sd = packed[PRIORS + k + i]
        standardised = (theta[i] - packed[PRIORS + i]) / sd
        total -= 0.5 * standardised * standardised + math.log(sd) + _LOG_SQRT_2PI
        gradient[i] -= standardised / sd
    return total, gradient


# ----------------------------------------------------------------------------- nutpie callbacks
def _logp_callback(dim, z_, gradient_, logp_, user_data_):
    """nutpie's log-density callback at log-parameters centre + factor @ z, with the
    gradient in z (factor.T @ the gradient in log-parameters, the chain rule of a linear
    map): 0 on success, 3 or 4 for a non-finite gradient or value (nutpie's codes: the step
    is rejected, as an exception cannot leave the callback), -1 for a wrong dimension."""
    packed = packed_view(user_data_)
    if dim != int(packed[1]):
        return -1
    theta, factor = unwhiten(numba.carray(z_, (dim,)), packed)
    total, gradient = log_density(theta, packed)
    gradient = factor.T @ gradient
    numba.carray(gradient_, (dim,))[:] = gradient
    logp_[0] = total
    if not np.all(np.isfinite(gradient)):
        return 3
    return 0 if np.isfinite(total) else 4


def _expand_callback(dim, expanded, z_, draw_, user_data_):
    """The draw to store: the log-parameters, then the parameters (nutpie's PyMC layout)."""
    packed = packed_view(user_data_)
    if dim != int(packed[1]) or expanded != 2 * dim:
        return -1
    theta, _ = unwhiten(numba.carray(z_, (dim,)), packed)
    draw = numba.carray(draw_, (expanded,))
    draw[:dim] = theta
    draw[dim:] = np.exp(theta)
    return 0


@functools.cache
def compiled_callbacks():
    """The two callbacks as C functions: compiled at the first fit, not at import (from
    numba's disk cache after the first fit on the machine)."""
    return c_callbacks(_logp_callback, _expand_callback)
