"""Summaries over parameter draws of per-customer quantities, in bounded memory.

Every prediction is a model's formula evaluated at each draw of its parameters (a
maximum-likelihood fit is one draw, a Bayesian posterior thousands), a matrix of draws x
customers. For a million customers and 4,000 draws that is 32 GB, so it is never built (unless
the caller asks for the draws): the customers are reduced to their distinct rows, the rows are
processed in blocks whose size shrinks as the number of draws grows, and each block is
summarised (mean, equal-tailed interval, and its contribution to the per-draw total over all
customers) before the next is computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvmodels.display import progress_bar
from clvmodels.estimation.fitdata import first_rows, row_codes

# Values in one block of draws x rows: 2**21 doubles are 16 MiB per temporary array, and a
# prediction formula holds a few dozen of them at once (a few hundred MiB at most).
BLOCK_VALUES = 2**21


class DistinctRows:
    """The distinct rows of some per-customer columns, ordered by a coarser grouping key.

    Customers sharing every column get one row; rows sharing the ``group`` columns are adjacent,
    so a block of rows touches few groups (formulas that depend on the group columns alone are
    evaluated once per group in a block). With ``merge=False`` every customer keeps a row of
    their own, in order, with its group code: for a single parameter draw (one block of
    rows), where finding and ordering the distinct rows costs more than evaluating them.

    Attributes
    ----------
    columns : dict of ndarray
        One value per distinct row.
    codes : ndarray of int
        Each customer's distinct row.
    counts : ndarray
        Customers per distinct row.
    group_codes : ndarray of int
        Each distinct row's group (non-decreasing when merged).
    """

    def __init__(self, columns: dict[str, np.ndarray], group: tuple[str, ...] = (),
                 merge: bool = True) -> None:
        if not merge:
            n = len(next(iter(columns.values())))
            self.codes = np.arange(n)
            self.columns = {name: np.asarray(col) for name, col in columns.items()}
            self.group_codes = (row_codes([self.columns[name] for name in group]) if group
                                else self.codes)
            self.counts = np.ones(n)
            return
        codes = row_codes(list(columns.values()))
        first = first_rows(codes)
        if group:
            # Sorted by the group columns, then the others: rows sharing any leading subset of
            # columns are adjacent too (e.g. (x, T, t) groups and, within them, equal t_x).
            keys = [*group, *(name for name in columns if name not in group)]
            order = np.lexsort([np.asarray(columns[name])[first] for name in reversed(keys)])
            group_codes = row_codes([np.asarray(columns[name])[first[order]] for name in group])
        else:
            order = np.arange(len(first))
            group_codes = order
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        self.codes = rank[codes]
        self.columns = {name: np.asarray(col)[first[order]] for name, col in columns.items()}
        self.group_codes = group_codes
        self.counts = np.bincount(self.codes, minlength=len(order)).astype(float)

    def __len__(self) -> int:
        return len(self.counts)

    def subset(self, selector: slice | np.ndarray) -> DistinctRows:
        """The selected rows (in order), without the customers' codes."""
        part = object.__new__(DistinctRows)
        part.columns = {name: column[selector] for name, column in self.columns.items()}
        part.group_codes = self.group_codes[selector]
        part.counts = self.counts[selector]
        part.codes = None
        return part

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]


@dataclass
class Summary:
    """Posterior summary per distinct row, and optionally the per-draw total and the draws."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    total_draws: np.ndarray | None = None
    draws: np.ndarray | None = None

    def frame(self, rows: DistinctRows, index: pd.Index) -> pd.DataFrame:
        """The summary per customer (``mean``, ``lower``, ``upper``), indexed by customer."""
        codes = rows.codes
        return pd.DataFrame(
            {"mean": self.mean[codes], "lower": self.lower[codes], "upper": self.upper[codes]},
            index=index,
        )

    def draws_frame(self, rows: DistinctRows, index: pd.Index) -> pd.DataFrame:
        """The draws per customer: one row per draw, one column per customer."""
        frame = pd.DataFrame(self.draws[:, rows.codes], columns=index)
        frame.index.name = "draw"
        return frame


def summarise(
    evaluate: Callable[[slice], np.ndarray],
    n_rows: int,
    n_draws: int,
    *,
    level: float,
    counts: np.ndarray | None = None,
    keep_draws: bool = False,
    block_values: int = BLOCK_VALUES,
    progress: bool | None = None,
) -> Summary:
    """Mean and equal-tailed interval over draws of ``evaluate(rows) -> (draws, len(rows))``.

    Parameters
    ----------
    evaluate : callable
        Maps a slice of rows to the matrix of values, draws by rows (a row of shape
        ``(1, rows)`` stands for a quantity without uncertainty).
    n_rows, n_draws : int
        Number of rows and of draws.
    level : float
        Mass of the interval, e.g. 0.9 for the 5% and 95% quantiles.
    counts : ndarray, optional
        Customers per row; when given, the per-draw total ``sum(counts * values)`` is
        accumulated (the posterior of a sum over customers).
    keep_draws : bool, default False
        Also return the full draws x rows matrix (memory ``8 * n_draws * n_rows`` bytes).
    progress : bool, optional
        Show a bar advancing per block (see :func:`clvmodels.display.progress_bar`); by
        default where someone watches, when there is more than one block.
    """
    mean, lower, upper = (np.empty(n_rows) for _ in range(3))
    total = np.zeros(n_draws) if counts is not None else None
    draws = np.empty((n_draws, n_rows)) if keep_draws else None
    block = max(1, block_values // max(n_draws, 1))
    n_blocks = -(-n_rows // block)
    if progress is None and n_blocks < 2:
        progress = False  # one block: nothing to follow
    with progress_bar(f"{n_rows:,} distinct rows x {n_draws:,} draws", n_blocks,
                      progress) as advance:
        for start in range(0, n_rows, block):
            rows = slice(start, min(start + block, n_rows))
            values = np.broadcast_to(evaluate(rows), (n_draws, rows.stop - rows.start))
            mean[rows] = values.mean(axis=0)
            lower[rows], upper[rows] = interval(values, level)
            if total is not None:
                total += values @ counts[rows]
            if draws is not None:
                draws[:, rows] = values
            advance()
    return Summary(mean, lower, upper, total, draws)


def interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The equal-tailed interval of mass ``level`` over the draws (rows) of ``values``, per
    column: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (the value itself for a
    single draw, a point estimate)."""
    if len(values) == 1:
        return values[0], values[0]
    lower, upper = np.quantile(values, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return lower, upper


def block_levels(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a block's column and each row's index into them."""
    codes, values = pd.factorize(column)
    return np.asarray(values, dtype=float), codes
