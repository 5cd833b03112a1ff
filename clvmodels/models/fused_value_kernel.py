"""The CLV of many posterior draws in one compiled pass per block of customers.

:func:`clvmodels.clv.valuation` in general builds, per block of rows, the draws x rows
matrices of P(alive), discounted purchases and spend, multiplies them, then takes means and
quantiles over the draws: a dozen passes over arrays of 16 MiB. Here each row (in parallel)
visits its draws once: P(alive) and the spend from the families' compiled per-element
functions (``alive_probability`` of :mod:`clvmodels.models.beta_geometric_future_kernel`,
``conditional_mean_spend`` of :mod:`clvmodels.models.gamma_gamma_spend_kernel`), times the
alive customer's discounted purchases (given per row group and draw: the family's future
kernel computes them), into one buffer of the row's CLV draws, whose sums give the means and
the per-draw total, and whose two order statistics (selected in place) give the interval by
NumPy's default (linear) quantile rule.

numba's disk cache notices edits to this file, not to the files of the functions it calls:
after editing ``alive_probability`` or ``conditional_mean_spend``, delete this module's
``__pycache__/fused_value_kernel*.nb*`` files.
"""

from __future__ import annotations

import numba
import numpy as np

from clvmodels.models.beta_geometric_future_kernel import alive_probability
from clvmodels.models.gamma_gamma_spend_kernel import conditional_mean_spend

compiled = numba.njit(cache=True, error_model="numpy", nogil=True)

# Ranges longer than this take a sampled pivot in :func:`select`.
_SAMPLED = 600


def thread_count() -> int:
    """The threads numba's parallel loops run on (the chunks to split a block into)."""
    return numba.get_num_threads()


@compiled
def partition(values, lo, hi, pivot, k):
    """Hoare's partition of ``values[lo:hi]`` around the value ``pivot`` (one of them), then
    the range left holding rank ``k``: ``(lo, j + 1)`` or ``(i, hi)`` where
    ``values[lo:j + 1] <= pivot <= values[i:hi]``, or ``(k, k + 1)`` when ``values[k]`` is
    in between (equal to the pivot: in place)."""
    i, j = lo, hi - 1
    while i <= j:
        while values[i] < pivot:
            i += 1
        while values[j] > pivot:
            j -= 1
        if i <= j:
            values[i], values[j] = values[j], values[i]
            i += 1
            j -= 1
    if k <= j:
        return lo, j + 1
    if k >= i:
        return i, hi
    return k, k + 1


@compiled
def select_small(values, lo, hi, k):
    """:func:`select` with median-of-three pivots (quickselect)."""
    while hi - lo > 1:
        first, middle, last = values[lo], values[(lo + hi - 1) // 2], values[hi - 1]
        lo, hi = partition(values, lo, hi,
                           max(min(first, middle), min(max(first, middle), last)), k)


@compiled
def select(values, lo, hi, k):
    """Reorder ``values[lo:hi]`` in place so that ``values[k]`` (``lo <= k < hi``) is the
    value of rank ``k - lo`` among them, those before it no larger, those after no smaller
    (no NaN).

    Over many values the pivot is a sample's order statistic at k's relative rank (as
    Floyd and Rivest's selection): for the tails' ranks of an interval it falls near the
    k-th value, so one partition, whose comparisons then go mostly one way (predictably),
    leaves a short range for quickselect (:func:`select_small`)."""
    while hi - lo > _SAMPLED:
        size = hi - lo
        sample = int(size ** (2.0 / 3.0)) // 2
        # The sample, spread over the range (draws come in chains: neighbours correlate),
        # gathered around k at its relative rank.
        start = min(max(k - (k - lo) * sample // size, lo), hi - sample)
        step = size // sample
        for m in range(sample):
            source = lo + m * step
            values[start + m], values[source] = values[source], values[start + m]
        select_small(values, start, start + sample, min(max(k, start), start + sample - 1))
        lo, hi = partition(values, lo, hi, values[min(max(k, start), start + sample - 1)], k)
    select_small(values, lo, hi, k)


@compiled
def smallest(values, lo, hi):
    """The smallest of ``values[lo:hi]`` (nonempty)."""
    least = values[lo]
    for i in range(lo + 1, hi):
        least = min(least, values[i])
    return least


@compiled
def interpolate(below, above, fraction):
    """NumPy's linear interpolation between two order statistics (``numpy.quantile``'s
    ``_lerp``: from the nearer end, so that ``fraction`` 0 and 1 give the ends exactly)."""
    step = above - below
    if fraction >= 0.5:
        return above - step * (1.0 - fraction)
    return below + step * fraction


@compiled
def interval_in_place(values, lower_rank, lower_fraction, upper_rank, upper_fraction):
    """The two quantiles of ``values`` (reordered in place) at the virtual indices
    ``rank + fraction`` (``lower_rank <= upper_rank``), as ``numpy.quantile`` interpolates
    them; NaN if any value is NaN (as NumPy)."""
    n = len(values)
    for value in values:
        if np.isnan(value):
            return np.nan, np.nan
    bounds = np.empty(2)
    start = 0
    for side in range(2):
        rank, fraction = ((lower_rank, lower_fraction) if side == 0
                          else (upper_rank, upper_fraction))
        select(values, start, n, rank)
        below = values[rank]
        above = smallest(values, rank + 1, n) if rank + 1 < n else below
        bounds[side] = interpolate(below, above, fraction)
        # Everything after ``rank`` is no smaller: the upper rank is found among those.
        start = rank + 1 if rank + 1 < n else rank
        if side == 0 and upper_rank == lower_rank:
            bounds[1] = interpolate(below, above, upper_fraction)
            break
    return bounds[0], bounds[1]


@numba.njit(cache=True, error_model="numpy", nogil=True, parallel=True)
def beta_geometric_gamma_gamma(purchase, shift, spend_params, x, t_x, T, spend, group,
                               future, margin, counts, ranks, fractions, n_chunks):
    """Per row: the means over the draws of CLV, P(alive), discounted purchases and spend,
    and the CLV's quantiles; per chunk of rows the per-draw total ``sum(counts * CLV)``.

    ``purchase`` holds the BG/NBD or MBG/NBD draws as rows ``(r, alpha, a, b)`` and
    ``spend_params`` the Gamma-Gamma's ``(p, q, gamma)`` (4 x draws and 3 x draws),
    ``shift`` the family's; ``x, t_x, T, spend`` and ``group`` (the row's column of
    ``future``) one value per row; ``future`` (groups x draws) the alive customer's
    discounted purchases; ``ranks`` and ``fractions`` the two quantiles' virtual indices
    (see :func:`interval_in_place`). The CLV of a draw is ``margin * spend * (alive *
    future)``, the order of the general route.
    """
    n_rows, n_draws = len(x), purchase.shape[1]
    means = np.empty((4, n_rows))  # CLV, alive, purchases, spend
    bounds = np.empty((2, n_rows))
    totals = np.zeros((n_chunks, n_draws))
    for chunk in numba.prange(n_chunks):
        values = np.empty(n_draws)
        total = totals[chunk]
        for i in range(chunk * n_rows // n_chunks, (chunk + 1) * n_rows // n_chunks):
            value_sum = alive_sum = purchases_sum = spend_sum = 0.0
            row_future = future[group[i]]
            for d in range(n_draws):
                alive = alive_probability(purchase[0, d], purchase[1, d], purchase[2, d],
                                          purchase[3, d], shift, x[i], t_x[i], T[i])
                purchases = alive * row_future[d]
                per_purchase = conditional_mean_spend(spend_params[0, d], spend_params[1, d],
                                                      spend_params[2, d], x[i], spend[i])
                value = margin * per_purchase * purchases
                values[d] = value
                value_sum += value
                alive_sum += alive
                purchases_sum += purchases
                spend_sum += per_purchase
                total[d] += counts[i] * value
            means[0, i] = value_sum / n_draws
            means[1, i] = alive_sum / n_draws
            means[2, i] = purchases_sum / n_draws
            means[3, i] = spend_sum / n_draws
            bounds[0, i], bounds[1, i] = interval_in_place(values, ranks[0], fractions[0],
                                                           ranks[1], fractions[1])
    return means, bounds, totals
