"""The BG/NBD and MBG/NBD log-likelihood per row at per-row parameters, compiled: what a fit
with covariates evaluates at every step (each customer at their own alpha_i, a_i, b_i), through
:meth:`clvmodels.models.beta_geometric.BetaGeometricFamily.compiled_row_gradient`.

The terms of :meth:`~clvmodels.models.beta_geometric.BetaGeometricFamily.
log_likelihood_gradient`, with its accuracy where the shapes a, b are huge (fits with
covariates reach a, b ~ 1e7): the surviving term ``log B(a, b + m) - log B(a, b)`` as a
difference of log-rising factorials (:func:`clvmodels.models.discrete_kernel.log_rising`,
Stirling's series from 10 on), and the dropped-out term's excess over it, ``log B(a + 1,
b + m - 1) - log B(a, b + m) = log a - log(b + m - 1)``, in closed form. (A difference of
log-gammas of 1e7 loses ~1e-7 nats a row, enough to stall the optimiser.)

numba's disk cache notices edits to this file, not to the functions it calls from
:mod:`clvmodels.models.beta_geometric_kernel` (``digamma``) and
:mod:`clvmodels.models.discrete_kernel` (``log_rising``): after editing those, clear numba's
cache (``__pycache__/*.nbi``).
"""

from __future__ import annotations

import math

import numpy as np

from clvmodels.estimation.family import per_row_arrays
from clvmodels.estimation.fitdata import FitData
from clvmodels.models.beta_geometric_kernel import compiled, digamma
from clvmodels.models.discrete_kernel import log_rising


@compiled(nogil=True)
def row_values_and_gradients(r, alpha, a, b, shift, x, t_x, T):
    """Per row: the log-likelihood and its derivatives in that row's (r, alpha, a, b), shape
    ``(4, rows)``, each parameter and data argument an array of one value per row;
    ``shift`` 0 for BG/NBD, 1 for MBG/NBD.

    ``LL = G + r log(alpha) + U + softplus(D)``, ``D = V - U``, with ``p = expit(D)`` the
    dropped-out share (0 without a dropout opportunity, m = x + shift = 0).
    """
    n = len(x)
    rows, gradient = np.empty(n), np.empty((4, n))
    for i in range(n):
        r_i, alpha_i, a_i, b_i, x_i = r[i], alpha[i], a[i], b[i], x[i]
        rx = r_i + x_i
        opportunities = x_i + shift
        log_T, inverse_T = math.log(alpha_i + T[i]), 1.0 / (alpha_i + T[i])
        row = (math.lgamma(rx) - math.lgamma(r_i) + r_i * math.log(alpha_i) - rx * log_T
               + log_rising(b_i, opportunities) - log_rising(a_i + b_i, opportunities))
        psi_ab, psi_abx = digamma(a_i + b_i), digamma(a_i + b_i + opportunities)
        g0 = digamma(rx) - digamma(r_i) + math.log(alpha_i) - log_T
        g1 = r_i / alpha_i - rx * inverse_T
        g2 = psi_ab - psi_abx  # digamma(a) cancels in the surviving term
        g3 = psi_ab - digamma(b_i) + digamma(b_i + opportunities) - psi_abx
        if opportunities > 0:
            log_t = math.log(alpha_i + t_x[i])
            later = b_i + opportunities - 1.0
            diff = math.log(a_i) - math.log(later) - rx * (log_t - log_T)
            if diff > 0:  # softplus(diff) and expit(diff) from the larger share
                tail = math.exp(-diff)
                row += diff + math.log1p(tail)
                dropped = 1.0 / (1.0 + tail)
            else:
                tail = math.exp(diff)
                row += math.log1p(tail)
                dropped = tail / (1.0 + tail)
            g0 += dropped * (log_T - log_t)
            g1 += dropped * rx * (inverse_T - 1.0 / (alpha_i + t_x[i]))
            # D's derivatives: 1 / a in a, -1 / (b + m - 1) in b.
            g2 += dropped / a_i
            g3 -= dropped / later
        rows[i] = row
        gradient[0, i], gradient[1, i], gradient[2, i], gradient[3, i] = g0, g1, g2, g3
    return rows, gradient


def row_log_likelihood_gradient(shift: int, params: tuple, fit_data: FitData
                                ) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`~clvmodels.models.beta_geometric.BetaGeometricFamily.log_likelihood_gradient`
    by the compiled kernel: per row of ``fit_data`` the log-likelihood and its derivatives in
    that row's parameters, shape ``(4, rows)``; each parameter a scalar or one value per
    row."""
    (r, alpha, a, b), data = per_row_arrays(params, fit_data, ("x", "t_x", "T"))
    return row_values_and_gradients(r, alpha, a, b, float(shift), *data)
