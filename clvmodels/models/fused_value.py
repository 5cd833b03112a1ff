"""The fused route of the CLV over posterior draws: one compiled pass per block of customers.

:func:`clvmodels.clv.valuation` takes it for a BG/NBD or MBG/NBD with a Gamma-Gamma, both with
posterior draws of parameters shared by every customer (no covariates), when neither the draws
nor the parts' intervals are asked for and numba is installed; the general NumPy route stands
for everything else and is the reference the tests compare this one with. The mathematics
stays the families': their compiled per-element P(alive) and conditional mean spend, and the
purchase family's own discounted future (its compiled kernel, with the NumPy fallback where the
kernel leaves an element), evaluated once per group of rows and draw
(:func:`clvmodels.estimation.predictions.group_future_values`).
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

from clvmodels.display import progress_bar
from clvmodels.estimation.draws import BLOCK_VALUES, DistinctRows, Summary
from clvmodels.estimation.family import PurchaseFamily, SpendFamily
from clvmodels.estimation.predictions import Draws, Future, group_future_values
from clvmodels.models.beta_geometric import BetaGeometricFamily
from clvmodels.models.gamma_gamma import GammaGammaFamily

# Rows per parallel chunk at least (each chunk adds a row of per-draw totals).
_ROWS_PER_CHUNK = 16


def fused_kernel(family: PurchaseFamily, spend_family: SpendFamily, purchase_params: Draws,
                 spend_params: Draws, n_draws: int) -> ModuleType | None:
    """The compiled kernel module when the fused route applies (see the module docstring),
    else None."""
    shared = all(np.shape(value) == (n_draws, 1) for value in (*purchase_params, *spend_params))
    if not (n_draws > 1 and shared and isinstance(family, BetaGeometricFamily)
            and isinstance(spend_family, GammaGammaFamily)):
        return None
    try:
        from clvmodels.models import fused_value_kernel
    except ImportError:  # numba is in the bayes extra
        return None
    return fused_value_kernel


def quantile_positions(n_draws: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The ranks and fractions of the virtual indices of the ``(1 - level) / 2`` and ``(1 +
    level) / 2`` quantiles of ``n_draws`` values, computed as ``numpy.quantile``'s linear rule
    computes them (``(n - 1) q``, its floor and the remainder)."""
    ranks, fractions = np.empty(2, dtype=np.int64), np.empty(2)
    for side, quantile in enumerate(((1 - level) / 2, (1 + level) / 2)):
        virtual = (n_draws - 1) * quantile
        rank = min(math.floor(virtual), n_draws - 1)
        ranks[side], fractions[side] = rank, virtual - rank
    return ranks, fractions


def fused_valuation(kernel: ModuleType, family: BetaGeometricFamily, purchase_params: Draws,
                    spend_params: Draws, rows: DistinctRows, future: Future, *, margin: float,
                    level: float, progress: bool | None
                    ) -> tuple[Summary, dict[str, np.ndarray]]:
    """The CLV summary of ``rows`` (columns x, t_x, T, t, spend, grouped by (x, T, t)) over
    the paired draws, and the means of its parts ("alive", "purchases", "spend").

    The rows go in blocks of ``BLOCK_VALUES`` draws x rows (the discounted future of a
    block's groups is the one such matrix held), each block in one parallel pass.
    """
    n_draws = len(purchase_params[0])
    purchase = np.ascontiguousarray(np.hstack(purchase_params).T, dtype=float)
    spend_draws = np.ascontiguousarray(np.hstack(spend_params).T, dtype=float)
    ranks, fractions = quantile_positions(n_draws, level)
    columns = {name: np.ascontiguousarray(rows[name], dtype=float)
               for name in ("x", "t_x", "T", "spend")}
    n_rows = len(rows)
    summary = Summary(np.empty(n_rows), np.empty(n_rows), np.empty(n_rows), np.zeros(n_draws))
    means = {name: np.empty(n_rows) for name in ("alive", "purchases", "spend")}
    block = max(1, BLOCK_VALUES // n_draws)
    n_blocks = -(-n_rows // block)
    threads = kernel.thread_count()
    if progress is None and n_blocks < 2:
        progress = False  # one block: nothing to follow (as summarise)
    with progress_bar(f"{n_rows:,} distinct rows x {n_draws:,} draws", n_blocks,
                      progress) as advance:
        for start in range(0, n_rows, block):
            rows_block = slice(start, min(start + block, n_rows))
            size = rows_block.stop - start
            values, codes = group_future_values(family, purchase_params, rows, rows_block,
                                                future)
            n_chunks = max(1, min(4 * threads, size // _ROWS_PER_CHUNK))
            block_means, bounds, totals = kernel.beta_geometric_gamma_gamma(
                purchase, float(family.shift), spend_draws,
                *(column[rows_block] for column in columns.values()),
                codes.astype(np.int64), np.ascontiguousarray(values.T, dtype=float),
                float(margin), np.ascontiguousarray(rows.counts[rows_block], dtype=float),
                ranks, fractions, n_chunks)
            summary.mean[rows_block] = block_means[0]
            for name, part in zip(means, block_means[1:], strict=True):
                means[name][rows_block] = part
            summary.lower[rows_block], summary.upper[rows_block] = bounds
            summary.total_draws += totals.sum(axis=0)
            advance()
    return summary, means
