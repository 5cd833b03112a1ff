"""What every fitted model shares, maximum-likelihood or Bayesian: a family and parameter draws.

A maximum-likelihood fit is one draw (its estimate), a Bayesian fit its posterior draws; every
prediction, CLV, evaluation and plot works from :meth:`FittedModel.draw_arrays`, so none of them
asks which kind a model is.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clvmodels.display import fitted_model_html
from clvmodels.estimation.draws import DistinctRows, Summary
from clvmodels.estimation.family import Family
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.predictions import present
from clvmodels.timeunit import check_same_unit, table_time_unit
from clvmodels.validation import ValidationError


def package_version() -> str:
    try:
        return version("clvmodels")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def check_weights(data: pd.DataFrame, weights: Any) -> np.ndarray:
    """One finite, non-negative weight per row of ``data`` (ones by default)."""
    if weights is None:
        return np.ones(len(data))
    if isinstance(weights, pd.Series) and not weights.index.equals(data.index):
        weights = weights.reindex(data.index)
    array = np.asarray(weights, dtype=float)
    if array.shape != (len(data),):
        raise ValidationError(
            f"weights: expected one weight per row ({len(data)}), got shape {array.shape}"
        )
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        example = data.index[np.flatnonzero(bad)[0]]
        raise ValidationError(
            f"weights: {int(bad.sum())} row(s) invalid (e.g. customer {example!r}); "
            "expected finite, non-negative numbers"
        )
    return array


class FittedModel:
    """Base of the estimators: the family, the fitted state, the draws and the presentation.

    Subclasses set ``family`` and ``point_estimate`` (True: predictions are Series of point
    values; False: DataFrames with posterior means and intervals) and implement
    :meth:`parameter_draws`.

    Attributes
    ----------
    params_ : Series
        The estimate (posterior mean of a Bayesian model), by parameter name.
    time_unit_ : TimeUnit or None
        Unit of the data the model was fitted on; tables in another unit are refused.
    n_customers_ : float
        Customers the fit used (sum of the weights).
    n_distinct_rows_ : int
        Distinct rows the likelihood was evaluated on.
    excluded_customers_ : dict
        Customers of the table left out of the fit, by reason (e.g. spend models leave out
        customers without repeat purchases), and ``n_customers_excluded_`` their total.
    fit_warnings_ : tuple of str
        The warnings shown during the fit (``DegenerateFitWarning: ...``, customers left out,
        unconverged chains), also shown by the model's notebook display; empty for a model
        loaded or with parameters set.
    """

    family: ClassVar[Family]
    point_estimate: ClassVar[bool]
    # A fit sets its own; a model loaded or with parameters set has shown none.
    fit_warnings_: tuple[str, ...] = ()

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.family.param_names

    @property
    def n_params(self) -> int:
        return len(self.family.parameters)

    def check_fitted(self) -> None:
        """Raise unless the model is fitted (or loaded, or has parameters set)."""
        if not hasattr(self, "params_"):
            raise RuntimeError(
                f"this {type(self).__name__} is not fitted yet; call fit() or load() first"
            )

    # ------------------------------------------------------------------------- data
    def fit_data(self, data: pd.DataFrame, weights: Any = None,
                 extra_columns: Callable[[np.ndarray, np.ndarray], dict] | None = None,
                 stacklevel: int = 3) -> FitData:
        """The distinct rows the likelihood reads from ``data``, with their weights.

        Records the customers the family leaves out, by reason (``excluded_customers_``, sums
        of their weights), and announces those the family lists in ``announced_exclusions``
        with a UserWarning that counts them and names one. ``extra_columns(rows, weights)``
        (the mask of the rows that take part and their weights) adds columns to the rows,
        e.g. covariates. ``stacklevel`` points the warning at the user's call (3: the caller
        of the method that calls this one).
        """
        selection = self.family.fit_columns(data)
        all_weights = check_weights(data, weights)
        columns = dict(selection.columns)
        if extra_columns is not None:
            columns.update(extra_columns(selection.rows, all_weights[selection.rows]))
        fit_data = FitData.compress(columns, all_weights[selection.rows])
        if fit_data.n_rows == 0:
            raise ValidationError(f"{type(self).__name__}: no customer rows to fit")
        self.excluded_customers_ = {reason: float(all_weights[mask].sum())
                                    for reason, mask in selection.excluded.items()}
        self.n_customers_excluded_ = float(sum(self.excluded_customers_.values()))
        # A table of distinct rows (e.g. collected from Spark) has row numbers, not customers.
        ids = not (isinstance(data.index, pd.RangeIndex) and data.index.name is None)
        for reason, message in self.family.announced_exclusions.items():
            mask = selection.excluded.get(reason)
            if mask is not None and mask.any():
                example = data.index[np.flatnonzero(mask)[0]]
                example = example.item() if isinstance(example, np.generic) else example
                warnings.warn(message.format(
                    owner=type(self).__name__, count=self.excluded_customers_[reason],
                    example=f" (e.g. customer {example!r})" if ids else ""),
                    UserWarning, stacklevel=stacklevel)
        return fit_data

    def record_data(self, data: pd.DataFrame, fit_data: FitData) -> None:
        """The fitted state every estimator keeps about the data."""
        self.n_customers_ = float(fit_data.weights.sum())
        self.n_distinct_rows_ = fit_data.n_rows
        self.time_unit_ = table_time_unit(data)

    def log_likelihood(self, data: pd.DataFrame, weights: Any = None) -> float:
        """Log-likelihood of a table at the model's estimate (the posterior mean of a Bayesian
        model): on held-out data, a score for comparing models.

        Customers the family leaves out of a fit (see ``excluded_customers_``) are left out
        here too.
        """
        self.check_fitted()
        check_same_unit(type(self).__name__, self.time_unit_, data)
        selection = self.family.fit_columns(data)
        weights = check_weights(data, weights)[selection.rows]
        fit_data = FitData.compress(selection.columns, weights)
        params = self.params_.to_numpy(dtype=float)
        with np.errstate(all="ignore"):
            return float(sum(self.family.total_log_likelihood(params, block)
                             for block in fit_data.blocks()))

    # ------------------------------------------------------------------------- draws
    def parameter_draws(self, max_draws: int | None = None,
                        random_seed: int | None = 0) -> pd.DataFrame:
        """The parameter draws, one row per draw: the estimate alone for a maximum-likelihood
        model, the posterior draws (chains stacked) for a Bayesian one.

        Parameters
        ----------
        max_draws : int, optional
            At most this many draws, chosen at random without replacement.
        random_seed : int, optional
            Seed of that choice.
        """
        raise NotImplementedError

    def draw_arrays(self, max_draws: int | None = None, random_seed: int | None = 0
                    ) -> tuple[np.ndarray, ...]:
        """The draws as one ``(draws, 1)`` array per parameter, for broadcasting over rows."""
        # The family's parameters only: a fit with covariates also has coefficients, which
        # enter through customer_parameters.
        table = self.parameter_draws(max_draws, random_seed)[list(self.param_names)]
        table = table.to_numpy(dtype=float)
        return tuple(table[:, [j]] for j in range(table.shape[1]))

    @property
    def covariate_columns(self) -> tuple[str, ...]:
        """The table columns the model's predictions read besides the history (its
        covariates): none unless it was fitted with covariates."""
        return ()

    def customer_parameters(self, data: pd.DataFrame) -> dict[str, np.ndarray]:
        """The parameters that vary by customer (from covariates), by name, one value per row
        of ``data``: none unless the model was fitted with covariates."""
        return {}

    @property
    def n_draws(self) -> int:
        return len(self.parameter_draws())

    def customer_params(self, n_customers: int, rng: np.random.Generator
                        ) -> tuple[np.ndarray, ...]:
        """Parameters for ``n_customers`` simulated customers: a random draw for each."""
        table = self.parameter_draws(random_seed=None).to_numpy(dtype=float)
        rows = rng.integers(len(table), size=n_customers) if len(table) > 1 else np.zeros(
            n_customers, dtype=np.int64)
        return tuple(table[rows, j] for j in range(table.shape[1]))

    def present(self, summary: Summary, rows: DistinctRows, index: pd.Index, name: str,
                return_draws: bool = False):
        """A per-customer summary as this model returns predictions (see
        :func:`clvmodels.estimation.predictions.present`)."""
        return present(summary, rows, index, name, self.point_estimate, return_draws)

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}()"
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        fitted = (f"fitted on {self.n_customers_:,.0f} customers"
                  if np.isfinite(getattr(self, "n_customers_", np.nan)) else "parameters set")
        return f"{type(self).__name__}({values}; {fitted})"

    def _repr_html_(self) -> str:
        """Jupyter's display: parameter table, likelihood, data, convergence and the fit's
        warnings (see :func:`clvmodels.display.fitted_model_html`)."""
        return fitted_model_html(self)


__all__ = ["FittedModel", "check_weights", "package_version"]
