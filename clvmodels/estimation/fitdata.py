"""The data a likelihood reads: a table's columns compressed to distinct rows with weights.

Customers who agree on every column a model's likelihood reads contribute identical terms, so
every model fits (and every Bayesian model samples) the distinct rows, each weighted by the
number of customers it stands for; see :meth:`FitData.compress`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Likelihoods are evaluated in blocks of this many distinct rows: a block's temporaries stay in
# the CPU cache instead of streaming through memory, and its dot products stay below the size
# at which OpenBLAS spreads them over threads (which, on a busy machine, can make a fit ten
# times slower). The totals and gradients are sums over blocks.
BLOCK_ROWS = 8_192

# Row keys combine column codes below this bound (int64 holds up to 2**63 - 1).
_KEY_LIMIT = 2**62
# Whole-number columns spanning fewer values than this are coded by offset from their minimum.
_SPAN_LIMIT = 2**31


def _column_codes(column: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes of a column's values, and a bound on them.

    Whole numbers over a short span (counts, times in days) are their offsets from the minimum,
    which is much cheaper than a hash table; other values are coded by a hash table.
    """
    column = np.asarray(column)
    if column.dtype.kind in "iuf" and len(column):
        low, high = column.min(), column.max()
        if float(high) - float(low) < _SPAN_LIMIT and np.array_equal(column, np.floor(column)):
            return (column - low).astype(np.int64), int(high - low) + 1
    codes, values = pd.factorize(column)
    return codes, len(values)


def row_codes(columns: list[np.ndarray]) -> np.ndarray:
    """Code each row by its values in ``columns``: 0, 1, ... in order of first appearance.

    Each column's codes are combined into one integer key, which is re-coded only when it
    could otherwise overflow.
    """
    key = np.zeros(len(columns[0]), dtype=np.int64)
    key_range = 1
    for column in columns:
        codes, n_codes = _column_codes(column)
        if key_range * n_codes >= _KEY_LIMIT:
            key, distinct = pd.factorize(key)
            key_range = len(distinct)
        key = key * n_codes + codes
        key_range *= n_codes
    return pd.factorize(key)[0]


def first_rows(codes: np.ndarray) -> np.ndarray:
    """The first row of each code, for codes numbered in order of first appearance."""
    return np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)


@dataclass(frozen=True)
class FitData:
    """Columns a likelihood reads, already compressed to distinct rows with weights.

    ``columns`` maps a name (``x``, ``t_x``, ``T``, ``m`` ...) to one array per distinct row,
    ``weights`` counts the customers each row stands for.
    """

    columns: dict[str, np.ndarray]
    weights: np.ndarray
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, run once per FitData: for quantities of the data alone that a
        likelihood would otherwise recompute at every evaluation."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def levels(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Distinct values of a column and each row's position among them (computed once).

        Lets a likelihood evaluate costly terms that depend on one column only (e.g. log-gamma
        of the purchase count) once per distinct value instead of once per row.
        """

        def factorize():
            codes, values = pd.factorize(self.columns[name])
            return np.asarray(values, dtype=float), codes

        return self.cached(f"levels:{name}", factorize)

    @classmethod
    def compress(cls, columns: dict[str, np.ndarray], weights: np.ndarray) -> FitData:
        """Merge rows that agree on every column, summing their weights.

        Distinct rows keep their order of first appearance.
        """
        key = row_codes(list(columns.values()))
        first = first_rows(key)
        total = np.bincount(key, weights, len(first))
        keep = total > 0
        rows = first[keep]
        return cls(
            {name: np.asarray(column, dtype=float)[rows] for name, column in columns.items()},
            total[keep],
        )

    @property
    def n_rows(self) -> int:
        return len(self.weights)

    def blocks(self) -> list[FitData]:
        """The rows in consecutive blocks of at most ``BLOCK_ROWS`` (made once, each with its
        own cache), whose likelihoods add up to this one's."""

        def split():
            if self.n_rows <= BLOCK_ROWS:
                return [self]
            # Each block has its own levels (at most BLOCK_ROWS of them), so that terms
            # computed per level cost no more than per row even when every row is distinct.
            return [
                FitData({name: column[start:start + BLOCK_ROWS]
                         for name, column in self.columns.items()},
                        self.weights[start:start + BLOCK_ROWS])
                for start in range(0, self.n_rows, BLOCK_ROWS)
            ]

        return self.cached("blocks", split)

    def subsample(self, n_rows: int, seed: int = 0) -> FitData:
        """A reproducible random subset of ``n_rows`` rows, with their weights."""
        rows = np.sort(np.random.default_rng(seed).choice(self.n_rows, n_rows, replace=False))
        return FitData({name: column[rows] for name, column in self.columns.items()},
                       self.weights[rows])
