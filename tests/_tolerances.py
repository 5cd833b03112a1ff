"""Tolerances the tests share, each derived from the algorithm whose result it bounds.

Two fits found the same maximum
-------------------------------
Near a maximum theta* the log-likelihood is ``LL(theta) ~ LL* - z'z / 2`` with
``z = L^-1 (theta - theta*)``, ``L L'`` the covariance (the inverse observed information): z is
theta measured in standard errors. A point whose log-likelihood is within ``delta`` of the
maximum has ``||z|| <= sqrt(2 delta)``, and so each parameter is within ``sqrt(2 delta)`` of its
own standard errors of theta* (the largest ``|theta_i - theta*_i| / se_i`` over
``z'z <= 2 delta`` is ``sqrt(2 delta)``: ``se_i`` is the length of row i of L). Two points
within ``delta_1`` and ``delta_2`` of the maximum are within ``sqrt(2 delta_1) + sqrt(2 delta_2)``
standard errors of each other, and log-likelihoods reported to within those gaps of ``LL*``
differ by at most ``delta_1 + delta_2``. So a fit-versus-fit test compares the log-likelihoods
tightly and the parameters in standard errors (:func:`assert_same_maximum`), never the
parameters at a relative tolerance: along a flat direction (Pareto/NBD's s and beta, correlated
0.999) the optimisers' stopping points differ by ~1e-6 relative between machines while the
log-likelihood does not change in its sixteenth digit.

How far below the maximum a clvmodels fit stops (:func:`stopping_gap`), in log-likelihood:

- Rounding of the objective. Each row's log-likelihood is evaluated to ~1e-13 relative
  (``ROW_RTOL``: the Pareto/NBD's dropout integral reaches ~1e-13 in log I, see
  tests/test_pareto_nbd_numerics.py; the log-gamma and logarithm terms are a few ulps each of
  parts at most ~100 times the row's value). Every row's log-likelihood is negative on the data
  sets of these tests (measured: sum of magnitudes = |LL|), and a sum of m terms of one sign in
  any order is within (m - 1) * 2**-53 of the exact sum, relative; clvmodels sums the rows in
  blocks of at most ``_BLOCK_ROWS`` (dot products) and then the block totals, so a total of n
  distinct rows is within ``rho = ROW_RTOL + (min(n, _BLOCK_ROWS) + blocks) * 2**-53`` of exact.
  An optimiser comparing values each off by rho can settle where the true value is 2 rho below
  the best it saw, and the value it reports is off by rho more: 3 rho.
- The stopping rules. L-BFGS-B stops once an iteration gains less than ftol = 1e-15 of the
  mean objective (or its projected gradient is below gtol = 1e-10); its gains shrink
  superlinearly near the maximum, so what is left is below ten such gains: ``STOP_RTOL =
  1e-14``. The Newton steps of large fits stop below 1e-9 in log-parameters (a gap of
  ~(1e-9 / se)**2 / 2, far smaller), Nelder-Mead at fatol = 1e-14 per customer. Both terms are
  taken relative to ``max(|LL|, n_customers)`` (the mean objective is at least 1 per customer in
  magnitude on these data sets, so this only covers the case where it is not).

For CDNOW (2,357 customers, 1,016 distinct rows, LL = -9582) the gap is 6.2e-9: two fits agree
to 1.2e-8 in log-likelihood and 2.2e-4 standard errors in every parameter (6e-5 relative in the
BG/NBD's b, whose standard error is 29% of it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from clvmodels.estimation.fitdata import BLOCK_ROWS as _BLOCK_ROWS

UNIT_ROUNDOFF = 2.0**-53
ROW_RTOL = 1e-13
STOP_RTOL = 1e-14


def log_likelihood_rounding(n_rows: float) -> float:
    """Relative error bound of a clvmodels log-likelihood total over ``n_rows`` distinct rows
    (see the module docstring)."""
    n_rows = int(np.ceil(n_rows))
    blocks = -(-n_rows // _BLOCK_ROWS)
    return ROW_RTOL + (min(n_rows, _BLOCK_ROWS) + blocks) * UNIT_ROUNDOFF


def stopping_gap(log_likelihood: float, n_customers: float, n_rows: float) -> float:
    """How far from the maximum a clvmodels fit may stop and report its log-likelihood: three
    roundings of the objective plus the stopping rules' remainder (see the module docstring)."""
    scale = max(abs(log_likelihood), n_customers)
    return (3 * log_likelihood_rounding(n_rows) + STOP_RTOL) * scale


def gradient_stop_gap(fit, gtol: float) -> float:
    """The gap left by an optimiser that stops once every component of the mean objective's
    gradient in log-parameters is at most ``gtol`` (BFGS's rule: lifetimes' BG/NBD and
    Gamma-Gamma fits, tol = 1e-7).

    The total gradient G then has ``|G_i| <= n gtol`` and ``LL* - LL ~ G' C G / 2 <=
    k (n gtol)**2 lambda_max(C) / 2``, with C the covariance of the k log-parameters (taken
    from ``fit``, a clvmodels fit of the same likelihood); plus the rounding of our evaluation
    of the likelihood there (:func:`stopping_gap`).
    """
    params = fit.params_.to_numpy(dtype=float)
    log_covariance = fit.covariance_.to_numpy() / np.outer(params, params)
    largest = float(np.linalg.eigvalsh(log_covariance).max())
    n = fit.n_customers_
    return (0.5 * len(params) * (n * gtol) ** 2 * largest
            + stopping_gap(fit.log_likelihood_, n, _rows_of(fit)))


@dataclass(frozen=True)
class Maximum:
    """Where an optimiser stopped: the parameters (in the model's order), the log-likelihood
    there, and ``gap``, how far from the maximum's log-likelihood it may be."""

    params: np.ndarray
    log_likelihood: float
    gap: float


def _rows_of(fit) -> float:
    # A model read from a file does not know its distinct rows: its customers bound them.
    return getattr(fit, "n_distinct_rows_", fit.n_customers_)


def maximum_of(fit) -> Maximum:
    """The :class:`Maximum` a clvmodels fit reports, with its :func:`stopping_gap`."""
    return Maximum(fit.params_.to_numpy(dtype=float), float(fit.log_likelihood_),
                   stopping_gap(fit.log_likelihood_, fit.n_customers_, _rows_of(fit)))


def separation_bound(found: Maximum, reference: Maximum) -> float:
    """How many standard errors apart two points within their gaps of one maximum can be."""
    return float(np.sqrt(2 * found.gap) + np.sqrt(2 * reference.gap))


def assert_same_maximum(found, reference, covariance=None) -> float:
    """Assert that two optimiser results are the same maximum of one likelihood.

    Parameters
    ----------
    found, reference : fitted clvmodels model or Maximum
        The two results; a model stands for :func:`maximum_of` it.
    covariance : array, optional
        Covariance of the parameters at the maximum; by default the reference's (else the
        found one's) ``covariance_``.

    Returns
    -------
    float
        The bound, in standard errors, the parameters were held to (for comparisons of
        quantities derived from the two fits, see :func:`assert_agrees_given_fits`).
    """
    if covariance is None:
        model = reference if hasattr(reference, "covariance_") else found
        covariance = model.covariance_
    found_max = found if isinstance(found, Maximum) else maximum_of(found)
    reference_max = reference if isinstance(reference, Maximum) else maximum_of(reference)
    allowed = found_max.gap + reference_max.gap
    difference = found_max.log_likelihood - reference_max.log_likelihood
    assert abs(difference) <= allowed, (
        f"log-likelihoods {found_max.log_likelihood!r} and {reference_max.log_likelihood!r} "
        f"differ by {difference:.3g}, more than the fits' gaps allow ({allowed:.3g})")
    std_errors = np.sqrt(np.diag(np.asarray(covariance, dtype=float)))
    assert np.all(np.isfinite(std_errors) & (std_errors > 0)), (
        f"no standard errors to compare in ({std_errors})")
    bound = separation_bound(found_max, reference_max)
    z = (found_max.params - reference_max.params) / std_errors
    assert np.all(np.abs(z) <= bound), (
        f"parameters {found_max.params} and {reference_max.params} are {z} standard errors "
        f"apart; two points within the fits' gaps of one maximum are within {bound:.3g}")
    return bound


def delta_method_std_errors(function: Callable, models: Sequence) -> list[np.ndarray]:
    """For each fitted model, the standard error its parameters' uncertainty gives to
    ``function(*models)`` (an array): ``sqrt(J C J')`` with C the model's covariance and J
    the function's derivatives in its parameters, by central differences over a thousandth of
    a standard error (truncation ~1e-6 relative, rounding ~1e-13 / 1e-3: both far below the
    accuracy a bound needs)."""
    models = list(models)
    std_errors = []
    for i, model in enumerate(models):
        params = model.params_.to_numpy(dtype=float)
        covariance = model.covariance_.to_numpy()
        steps = 1e-3 * np.sqrt(np.diag(covariance))
        columns = []
        for j, step in enumerate(steps):
            values = []
            for sign in (1.0, -1.0):
                moved = params.copy()
                moved[j] += sign * step
                twin = type(model)().set_params_(dict(zip(model.param_names, moved, strict=True)),
                                                 time_unit=model.time_unit_)
                values.append(np.asarray(function(*models[:i], twin, *models[i + 1:]),
                                         dtype=float))
            columns.append((values[0] - values[1]) / (2 * step))
        jacobian = np.stack(columns, axis=-1)
        std_errors.append(np.sqrt(np.einsum("...j,jk,...k->...", jacobian, covariance, jacobian)))
    return std_errors


def assert_agrees_given_fits(actual, expected, function: Callable, pairs: Sequence,
                             rtol: float = 0.0) -> None:
    """Assert that ``actual``, ``function`` of the found fits, differs from ``expected``,
    ``function(*references)``, by no more than the fits' separation allows.

    ``pairs`` holds (found, reference) fitted models, each pair a maximum of one likelihood.
    Each pair's parameters are within ``b`` standard errors of each other in every direction
    (||z|| <= b, :func:`separation_bound`), so to first order the function moves by at most
    ``b`` times its delta-method standard error (Cauchy-Schwarz: ``|J dtheta| <= sqrt(J C J')
    ||z||``); twice that covers the higher-order terms (smaller by a factor ~b, ~1e-4), and
    ``rtol`` the rounding between the two computations.
    """
    references = [reference for _, reference in pairs]
    bounds = [separation_bound(maximum_of(found), maximum_of(reference))
              for found, reference in pairs]
    std_errors = delta_method_std_errors(function, references)
    expected = np.asarray(expected, dtype=float)
    allowed = 2 * sum(se * b for se, b in zip(std_errors, bounds, strict=True))
    allowed = allowed + rtol * np.abs(expected)
    excess = np.ravel(np.abs(np.asarray(actual, dtype=float) - expected) - allowed)
    worst = int(np.argmax(excess))
    assert np.all(excess <= 0), (
        f"{int(np.sum(excess > 0))} value(s) differ by more than the fits' separation allows "
        f"(worst by {excess[worst]:.3g} beyond a bound of {np.ravel(allowed)[worst]:.3g})")
