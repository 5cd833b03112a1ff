"""The expected repeat purchases of a cohort of new customers over calendar time (the tracking
forecast of :func:`clvmodels.evaluate.tracking`), in bounded work however long the span.

The forecast sums, over the cohort, the expected repeat purchases E[X(age)] of a customer just
acquired at each customer's age on each week end. :func:`expected_by_age` gives E[X] per
parameter draw at every whole day of age, evaluating at most ``EXACT_AGE_DAYS + 2 *
INTERPOLATION_AGES`` ages per draw; :func:`cohort_sums` adds it up over the cohort.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import signal

from clvmodels.estimation.family import PurchaseFamily

# Rows per call of the purchase-count formulas: the Pareto/NBD quadrature allocates about
# 1.3 kB per row, so this bounds a call's memory to ~10 MB.
CHUNK_ROWS = 8192
# The tracking forecast evaluates E[X(age)] of a new customer at every whole day of age up to
# this many days (11 years); a longer span (a mistyped date in 1700 makes 108,626 days) is
# interpolated beyond, from this many ages spaced evenly in log(age), so the work per draw is
# bounded (see expected_by_age).
EXACT_AGE_DAYS = 4096
INTERPOLATION_AGES = 513
# Weeks times first-purchase days summed directly per draw; beyond, the sum over the cohort
# is a convolution, taken by FFT.
DIRECT_SUM_TERMS = 1_000_000
# Draws x days of E[X(age)] held at once (16 MB).
AGE_BLOCK_VALUES = 2_000_000


def evaluate_rows(function: Callable[[tuple, np.ndarray], np.ndarray], draws: np.ndarray,
                  t: np.ndarray) -> np.ndarray:
    """``function(params, t)`` for every draw and every ``t``, shape (draws, len(t)).

    The formulas are elementwise in their arguments, so draws x times are flattened into rows
    and evaluated in chunks of bounded memory.
    """
    n_draws, n_t = len(draws), len(t)
    result = np.empty(n_draws * n_t)
    for start in range(0, len(result), CHUNK_ROWS):
        rows = np.arange(start, min(start + CHUNK_ROWS, len(result)))
        draw, time = np.divmod(rows, n_t)
        result[rows] = function(tuple(draws[draw].T), t[time])
    return result.reshape(n_draws, n_t)


def expected_by_age(family: PurchaseFamily, draws: np.ndarray, n_days: int,
                    unit_days: float) -> tuple[np.ndarray, float]:
    """E[X(age)] of a customer just acquired, per draw at ages 0, 1, ..., n_days days, and an
    estimate of the error of its interpolated part (0 when there is none).

    Up to ``EXACT_AGE_DAYS`` days every whole day is evaluated. Beyond, E[X] is interpolated by
    cubic Hermite polynomials in log(age) through ``INTERPOLATION_AGES`` ages spaced evenly in
    log(age), with its derivative (age times the purchase rate) there: the families' E[X] varies
    on scales of order 1 in log(age) beyond its time scales (a power of 1 + t / scale, or its
    average), where the interpolation's error is ~h**4 / 384 of that variation for a spacing h
    of at most 0.011 (ages up to 2,700 years): ~4e-11. The error is measured at the midpoints
    between the interpolation ages, where it is largest, relative to the largest E[X(age)].
    """
    exact_days = min(n_days, EXACT_AGE_DAYS)
    exact = evaluate_rows(family.expected_new, draws,
                          np.arange(exact_days + 1, dtype=float) / unit_days)
    if n_days <= EXACT_AGE_DAYS:
        return exact, 0.0
    log_ages = np.linspace(np.log(EXACT_AGE_DAYS), np.log(n_days), INTERPOLATION_AGES)
    ages = np.exp(log_ages) / unit_days
    values = evaluate_rows(family.expected_new, draws, ages)
    slopes = evaluate_rows(family.rate_new, draws, ages) * ages  # dE / dlog(age)
    later = hermite(log_ages, values, slopes,
                    np.log(np.arange(exact_days + 1, n_days + 1, dtype=float)))
    middles = 0.5 * (log_ages[1:] + log_ages[:-1])
    check = evaluate_rows(family.expected_new, draws, np.exp(middles) / unit_days)
    largest = np.max(np.abs(values))
    error = float(np.max(np.abs(hermite(log_ages, values, slopes, middles) - check))
                  / largest) if largest > 0 else 0.0
    return np.hstack([exact, later]), error


def hermite(nodes: np.ndarray, values: np.ndarray, slopes: np.ndarray, x: np.ndarray
            ) -> np.ndarray:
    """The cubic Hermite interpolant through ``values`` and ``slopes`` (draws by evenly
    spaced ``nodes``) at ``x`` (within the nodes), per draw."""
    spacing = nodes[1] - nodes[0]
    j = np.clip(((x - nodes[0]) // spacing).astype(np.int64), 0, len(nodes) - 2)
    s = (x - nodes[j]) / spacing
    return (values[:, j] * ((1 + 2 * s) * (1 - s) ** 2)
            + slopes[:, j] * (spacing * s * (1 - s) ** 2)
            + values[:, j + 1] * (s**2 * (3 - 2 * s))
            + slopes[:, j + 1] * (spacing * s**2 * (s - 1)))


def cohort_sums(by_age: np.ndarray, first_day: np.ndarray, cohort_size: np.ndarray,
                week_ends: np.ndarray) -> np.ndarray:
    """Per draw and week end, the sum over the cohort of E[X(week_end - first_day)].

    Directly for up to ``DIRECT_SUM_TERMS`` terms per draw; beyond, as the convolution of
    the customers per first day with E[X(age)] by FFT (rounding ~1e-16 of the largest sum
    times log of the span).
    """
    if len(week_ends) * len(first_day) <= DIRECT_SUM_TERMS:
        return np.column_stack([
            by_age[:, np.clip(week_end - first_day, 0, None)] @ cohort_size
            for week_end in week_ends
        ])  # (draws, weeks)
    acquired = np.bincount(first_day, weights=cohort_size)  # customers per day since start
    return signal.fftconvolve(by_age, acquired[None, :], axes=1)[:, week_ends]


__all__ = ["AGE_BLOCK_VALUES", "CHUNK_ROWS", "EXACT_AGE_DAYS", "INTERPOLATION_AGES",
           "cohort_sums", "evaluate_rows", "expected_by_age", "hermite"]
