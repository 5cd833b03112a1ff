"""What every maximum-likelihood model shares: fitting, standard errors, summaries, save/load.

A model module only defines its parameters and its formulas; see :class:`MLEModel` for the
hooks it implements.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy import optimize, stats
from threadpoolctl import threadpool_limits

from clvmodels.validation import ValidationError

# Models with an analytic gradient, on more than four times this many distinct rows, start
# from a fit of a random subset of this size (see MLEModel._subsample_newton) ...
_WARM_START_ROWS = 50_000
# ... which, with an analytic Hessian, is itself found from a subset this many times smaller
# (Newton steps on the larger subset cost less than a quasi-Newton search on it), down to
# subsets of the smallest size.
_WARM_START_LADDER = 10
_SMALLEST_WARM_START_ROWS = 5_000
_NEWTON_STEPS = 20
# Converged when a Newton step moves every log-parameter by less than this (relative change
# 1e-9 of each parameter, far below its standard error).
_NEWTON_TOLERANCE = 1e-9
# With the exact Hessian, Newton's error is squared by each step (quadratic convergence): a
# step below this is taken without another evaluation, leaving an error of order step**2,
# below the tolerance above.
_NEWTON_LAST_STEP = 1e-5
# Likelihoods are evaluated in blocks of this many distinct rows: a block's temporaries stay in
# the CPU cache instead of streaming through memory, and its dot products stay below the size
# at which OpenBLAS spreads them over threads (which, on a busy machine, can make a fit ten
# times slower). The totals and gradients are sums over blocks.
_BLOCK_ROWS = 8_192

FORMAT_NAME = "clvmodels.model"
FORMAT_VERSION = 1


class ConvergenceError(RuntimeError):
    """Raised when the optimiser cannot find a maximum of the likelihood."""


def package_version() -> str:
    try:
        return version("clvmodels")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


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


def derivative_hooks(derivatives: Callable) -> tuple[staticmethod, staticmethod]:
    """A model's two likelihood-derivative hooks (see :class:`MLEModel`) from one function
    ``derivatives(params, fit_data, hessian) -> (total, gradient, hessian or None)``."""

    def and_gradient(params, fit_data: FitData) -> tuple[float, np.ndarray]:
        return derivatives(params, fit_data, hessian=False)[:2]

    def gradient_hessian(params, fit_data: FitData) -> tuple[float, np.ndarray, np.ndarray]:
        return derivatives(params, fit_data, hessian=True)

    return staticmethod(and_gradient), staticmethod(gradient_hessian)


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
        """The rows in consecutive blocks of at most ``_BLOCK_ROWS`` (made once, each with its
        own cache), whose likelihoods add up to this one's."""

        def split():
            if self.n_rows <= _BLOCK_ROWS:
                return [self]
            # Each block has its own levels (at most _BLOCK_ROWS of them), so that terms
            # computed per level cost no more than per row even when every row is distinct.
            return [
                FitData({name: column[start:start + _BLOCK_ROWS]
                         for name, column in self.columns.items()},
                        self.weights[start:start + _BLOCK_ROWS])
                for start in range(0, self.n_rows, _BLOCK_ROWS)
            ]

        return self.cached("blocks", split)

    def subsample(self, n_rows: int, seed: int = 0) -> FitData:
        """A reproducible random subset of ``n_rows`` rows, with their weights."""
        rows = np.sort(np.random.default_rng(seed).choice(self.n_rows, n_rows, replace=False))
        return FitData({name: column[rows] for name, column in self.columns.items()},
                       self.weights[rows])


class MLEModel:
    """Base of the maximum-likelihood models.

    Subclasses set ``param_names`` and implement:

    - ``_fit_columns(data) -> (columns, row_mask)``: the arrays the likelihood reads, from a
      checked input table, and which rows of the table take part;
    - ``_log_likelihood(params, fit_data) -> ndarray``: the log-likelihood of each row;
    - optionally ``_log_likelihood_and_gradient(params, fit_data) -> (float, ndarray)``: the
      weighted total log-likelihood and its derivative with respect to the natural parameters
      in one pass, used by the optimiser and for the Hessian when present;
    - optionally ``_log_likelihood_gradient_hessian(params, fit_data) -> (float, ndarray,
      ndarray)``: the same with the Hessian, for exact Newton steps on large data and the
      standard errors in one evaluation;
    - ``_initial_params(fit_data) -> ndarray``: a starting point.

    Parameters
    ----------
    penalizer : float, default 0.0
        Coefficient of an L2 penalty ``penalizer * sum(params ** 2)`` added to the mean negative
        log-likelihood, as in ``lifetimes``; shrinks parameters on small or degenerate data.
    """

    param_names: ClassVar[tuple[str, ...]]

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    # ----------------------------------------------------------------------------- fitting
    def fit(
        self,
        data: pd.DataFrame,
        weights: pd.Series | np.ndarray | None = None,
        initial_params: dict[str, float] | None = None,
    ) -> Self:
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        data : DataFrame
            An RFM table as returned by :func:`clvmodels.rfm_summary`, one row per customer.
        weights : array-like, optional
            Number of customers each row stands for (e.g. a pre-aggregated table). Whole or
            fractional, non-negative.
        initial_params : dict, optional
            Starting values by parameter name; a data-driven guess by default.

        Returns
        -------
        self
        """
        if self.penalizer < 0:
            raise ValueError(f"penalizer must be >= 0, got {self.penalizer}")
        columns, row_mask = self._fit_columns(data)
        weights = self._check_weights(data, weights)[row_mask]
        fit_data = FitData.compress(columns, weights)
        if fit_data.n_rows == 0:
            raise ValidationError(f"{type(self).__name__}: no customer rows to fit")
        if initial_params is None:
            start = self._initial_params(fit_data)
        else:
            start = self._params_from_mapping(initial_params)
        # The optimiser (scipy's BLAS) and the likelihood (numpy's BLAS) take turns thousands
        # of times; with both multi-threaded OpenBLAS libraries in one process, each call waits
        # for the other's still-spinning threads (a 5,000-customer fit ran 15x slower on two
        # cores). Blocked evaluation keeps every product small, so one thread loses nothing.
        with threadpool_limits(limits=1, user_api="blas"):
            params, objective, hessian = self._optimise(fit_data, start)
        self.params_ = pd.Series(params, index=list(self.param_names), name="estimate")
        penalty = self.penalizer * np.sum(params**2)
        self.log_likelihood_ = float(fit_data.weights.sum() * (penalty - objective))
        self.n_customers_ = float(fit_data.weights.sum())
        self.n_distinct_rows_ = fit_data.n_rows
        self.time_unit_ = data.attrs.get("time_unit")
        self.covariance_ = self._covariance(params, fit_data.weights.sum() * hessian)
        return self

    def _optimise(self, fit_data: FitData, start: np.ndarray) -> tuple:
        """The maximum likelihood parameters, with the objective and its Hessian (in
        log-parameters) there."""
        params = evaluation = None
        if self._has_gradient and fit_data.n_rows > 4 * _WARM_START_ROWS:
            newton = self._subsample_newton(fit_data, start)
            if newton is not None:
                params, evaluation = newton
        if params is None:
            params = self._maximise(fit_data, start)
        # One evaluation at the maximum gives the likelihood and the Hessian, or the base of
        # its finite differences (the Newton steps end with one).
        log_params = np.log(params)
        objective, gradient, *hessian = evaluation or self._objective(
            log_params, fit_data, hessian=self._has_hessian)
        if not hessian:
            hessian = [self._objective_hessian(log_params, fit_data, gradient)]
        return params, objective, hessian[0]

    @staticmethod
    def _check_weights(data: pd.DataFrame, weights: Any) -> np.ndarray:
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

    def _params_from_mapping(self, mapping: dict[str, float]) -> np.ndarray:
        missing = set(self.param_names) - set(mapping)
        if missing:
            raise ValueError(f"parameters missing: {sorted(missing)}; needs {self.param_names}")
        params = np.array([float(mapping[name]) for name in self.param_names])
        if not np.all(np.isfinite(params) & (params > 0)):
            raise ValueError(f"parameters must all be positive and finite, got {mapping}")
        return params

    def _objective(
        self, log_params: np.ndarray, fit_data: FitData, hessian: bool = False
    ) -> tuple:
        """Mean negative log-likelihood plus penalty, and its gradient, in log-parameters;
        with ``hessian`` (models with an analytic one) also its Hessian."""
        params = np.exp(log_params)
        total_weight = fit_data.weights.sum()
        penalty = self.penalizer * np.sum(params**2)
        blocks = fit_data.blocks()
        with np.errstate(all="ignore"):
            if not self._has_gradient:
                total = sum(np.dot(block.weights, self._log_likelihood(params, block))
                            for block in blocks)
                return -total / total_weight + penalty, None
            derivatives = (self._log_likelihood_gradient_hessian if hessian
                           else self._log_likelihood_and_gradient)
            sums = [sum(parts) for parts in zip(*(derivatives(params, block)
                                                  for block in blocks), strict=True)]
            value = -sums[0] / total_weight + penalty
            grad_natural = -sums[1] / total_weight + 2.0 * self.penalizer * params
            # Chain rule for theta = exp(log_theta).
            gradient = grad_natural * params
            if not hessian:
                return value, gradient
            hess_natural = -sums[2] / total_weight + 2.0 * self.penalizer * np.eye(len(params))
            return value, gradient, params[:, None] * hess_natural * params + np.diag(gradient)

    @property
    def _has_gradient(self) -> bool:
        return hasattr(self, "_log_likelihood_and_gradient")

    @property
    def _has_hessian(self) -> bool:
        return hasattr(self, "_log_likelihood_gradient_hessian")

    def _maximise(self, fit_data: FitData, start: np.ndarray) -> np.ndarray:
        has_gradient = self._has_gradient

        def fun(log_params, with_gradient=has_gradient):
            value, grad = self._objective(log_params, fit_data)
            if not np.isfinite(value):
                value = np.inf
            return (value, grad) if with_gradient else value

        attempts = []
        x0 = np.log(start)
        for method in ("L-BFGS-B", "Nelder-Mead"):
            options = (
                {"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10}
                if method == "L-BFGS-B"
                else {"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-14}
            )
            result = optimize.minimize(
                fun if method == "L-BFGS-B" else partial(fun, with_gradient=False),
                x0,
                jac=(has_gradient or "3-point") if method == "L-BFGS-B" else None,
                method=method,
                options=options,
            )
            attempts.append(f"{method}: {result.message} (objective {result.fun:.6g})")
            if np.isfinite(result.fun) and np.all(np.abs(result.x) < 50) and (
                result.success or self._is_stationary(result.x, fit_data)
            ):
                return np.exp(result.x)
            if np.isfinite(result.fun) and np.all(np.isfinite(result.x)):
                x0 = result.x  # restart the next method from where this one got to
        raise ConvergenceError(
            f"{type(self).__name__}: the likelihood maximisation did not converge. Tried "
            + "; ".join(attempts)
            + f". Started from {dict(zip(self.param_names, start, strict=True))}. Check that "
            "the data hold enough repeat buyers and consistent time units, try other "
            "initial_params, or add a small penalizer (e.g. 0.001)."
        )

    def _is_stationary(self, log_params: np.ndarray, fit_data: FitData) -> bool:
        """Whether the objective is flat to rounding at a point (L-BFGS-B's ABNORMAL exits)."""
        gradient = optimize.approx_fprime(
            log_params, lambda p: self._objective(p, fit_data)[0], 1e-7
        )
        return bool(np.all(np.abs(gradient) < 1e-5))

    def _objective_hessian(
        self, log_params: np.ndarray, fit_data: FitData, gradient: np.ndarray | None = None
    ) -> np.ndarray:
        """Hessian of the objective (mean penalised negative log-likelihood) in log-parameters.

        The model's analytic Hessian when it has one; else forward differences of the analytic
        gradient when the model has one (n + 1 evaluations; with h = 1e-6 the error is ~1e-6
        relative, truncation and rounding balanced, ample for standard errors), else central
        second differences of the objective itself (~2n**2 evaluations). ``gradient``, the
        objective's gradient at ``log_params`` when the caller has it, saves one evaluation.
        """
        n = len(log_params)
        if self._has_hessian:
            return self._objective(log_params, fit_data, hessian=True)[2]
        if self._has_gradient:
            h = 1e-6
            base = self._objective(log_params, fit_data)[1] if gradient is None else gradient
            columns = [self._objective(log_params + step, fit_data)[1] - base
                       for step in np.eye(n) * h]
            hessian = np.column_stack(columns) / h
            return 0.5 * (hessian + hessian.T)

        def value(lp):
            return self._objective(lp, fit_data)[0]

        h = 1e-4
        hessian = np.empty((n, n))
        eye = np.eye(n) * h
        for i in range(n):
            for j in range(i, n):
                hessian[i, j] = hessian[j, i] = (
                    value(log_params + eye[i] + eye[j])
                    - value(log_params + eye[i] - eye[j])
                    - value(log_params - eye[i] + eye[j])
                    + value(log_params - eye[i] - eye[j])
                ) / (4 * h * h)
        return hessian

    def _covariance(self, params: np.ndarray, information: np.ndarray) -> pd.DataFrame:
        """Inverse observed information, given in log-parameters.

        Working in log-parameters keeps finite-difference steps well scaled; at the maximum the
        gradient is zero, so the covariance of the natural parameters is ``J C J`` with
        ``J = diag(params)``.
        """
        n = len(params)
        try:
            cov_log = np.linalg.inv(information)
        except np.linalg.LinAlgError:
            cov_log = np.full((n, n), np.nan)
        if not np.all(np.isfinite(cov_log)) or np.any(np.diag(cov_log) <= 0):
            cov_log = np.full((n, n), np.nan)  # information singular: no standard errors
        jacobian = np.diag(params)
        names = list(self.param_names)
        return pd.DataFrame(jacobian @ cov_log @ jacobian, index=names, columns=names)

    def _subsample_newton(
        self, fit_data: FitData, start: np.ndarray, sample_rows: int = _WARM_START_ROWS
    ) -> tuple[np.ndarray, tuple] | None:
        """The maximum for data with very many distinct rows, in few full-data evaluations.

        Fits a random subset of ``sample_rows`` rows, then takes Newton steps on the full data:
        with the model's analytic Hessian when it has one (quadratic convergence from a start
        this close; the subset's own fit then comes the same way from a subset
        ``_WARM_START_LADDER`` times smaller), else starting from the subset's Hessian (the mean
        objectives of the two have nearly the same curvature) with BFGS updates, which converge
        superlinearly from the first step. Returns None unless they converge (the caller then
        runs the general optimiser); else the parameters and the objective's evaluation (value,
        gradient and, with an analytic Hessian, the Hessian) at the last point evaluated, which
        is within the tolerance of them.
        """
        exact = self._has_hessian
        sample = fit_data.subsample(sample_rows)
        smaller = sample_rows // _WARM_START_LADDER
        warm = (self._subsample_newton(sample, start, smaller)
                if exact and smaller >= _SMALLEST_WARM_START_ROWS else None)
        if warm is not None:
            log_params = np.log(warm[0])
        else:
            try:
                log_params = np.log(self._maximise(sample, start))
            except ConvergenceError:  # the full data may still be fine: leave it to the caller
                return None
        evaluation = self._objective(log_params, fit_data, hessian=exact)
        curvature = evaluation[2] if exact else self._objective_hessian(log_params, sample)
        for _ in range(_NEWTON_STEPS):
            value, gradient = evaluation[:2]
            try:
                step = np.linalg.solve(curvature, gradient)
            except np.linalg.LinAlgError:
                return None
            if np.max(np.abs(step)) < _NEWTON_TOLERANCE:
                # Converged: the point last evaluated is within the tolerance of the maximum.
                return np.exp(log_params), evaluation
            if exact and np.max(np.abs(step)) < _NEWTON_LAST_STEP:
                return np.exp(log_params - step), evaluation
            new = self._objective(log_params - step, fit_data, hessian=exact)
            if not new[0] <= value + 1e-12 * abs(value):  # also stops on NaN
                return None
            if exact:
                curvature = new[2]
            else:  # BFGS update: corrects the subset's curvature along the step just taken.
                change, curvature_step = new[1] - gradient, curvature @ step
                if change @ step < 0:  # (moving by -step)
                    curvature = (
                        curvature - np.outer(change, change) / (change @ step)
                        - np.outer(curvature_step, curvature_step) / (step @ curvature_step))
            log_params, evaluation = log_params - step, new
        return None

    # ----------------------------------------------------------------------------- results
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise RuntimeError(
                f"this {type(self).__name__} is not fitted yet; call fit() or load() first"
            )

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def aic_(self) -> float:
        self._check_fitted()
        return 2 * self.n_params - 2 * self.log_likelihood_

    @property
    def bic_(self) -> float:
        self._check_fitted()
        return self.n_params * np.log(self.n_customers_) - 2 * self.log_likelihood_

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Parameter table: estimate, standard error and a confidence interval.

        The interval is built on the log scale (``exp(log(estimate) +/- z * se / estimate)``),
        which keeps it inside the positive parameter space; standard errors are NaN when the
        observed information is singular.
        """
        self._check_fitted()
        estimate = self.params_
        std_error = pd.Series(np.sqrt(np.diag(self.covariance_)), index=estimate.index)
        z = stats.norm.ppf(0.5 + level / 2)
        spread = np.exp(z * std_error / estimate)
        return pd.DataFrame(
            {
                "estimate": estimate,
                "std_error": std_error,
                f"lower_{level:.0%}": estimate / spread,
                f"upper_{level:.0%}": estimate * spread,
            }
        )

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}(penalizer={self.penalizer})"
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"{type(self).__name__}({values}; fitted on {self.n_customers_:,.0f} customers)"

    def set_params_(self, params: dict[str, float], time_unit: str | None = None) -> Self:
        """Use given parameter values instead of fitting (e.g. published estimates).

        The model then predicts and simulates, but has no likelihood or covariance.
        """
        values = self._params_from_mapping(params)
        self.params_ = pd.Series(values, index=list(self.param_names), name="estimate")
        self.covariance_ = pd.DataFrame(
            np.full((self.n_params, self.n_params), np.nan),
            index=list(self.param_names),
            columns=list(self.param_names),
        )
        self.log_likelihood_ = float("nan")
        self.n_customers_ = float("nan")
        self.time_unit_ = time_unit
        return self

    # ----------------------------------------------------------------------------- save/load
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to a small, human-readable JSON file."""
        self._check_fitted()
        document = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "model": type(self).__name__,
            "package_version": package_version(),
            "settings": {"penalizer": self.penalizer},
            "params": self.params_.to_dict(),
            "covariance": self.covariance_.to_numpy().tolist(),
            "log_likelihood": self.log_likelihood_,
            "n_customers": self.n_customers_,
            "time_unit": self.time_unit_,
        }
        # NaN is not JSON; store it as null.
        text = json.dumps(document, indent=2, default=float).replace("NaN", "null")
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Self:
        """Read a model written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a clvmodels model file, holds another model type, or was written
            by a newer format version than this package reads.
        """
        try:
            document = json.loads(Path(path).read_text())
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path}: not a clvmodels model file (invalid JSON: {error})"
            ) from None
        if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
            raise ValueError(f"{path}: not a clvmodels model file")
        if document["format_version"] > FORMAT_VERSION:
            raise ValueError(
                f"{path}: written in model format version {document['format_version']} by "
                f"clvmodels {document.get('package_version')}; this clvmodels "
                f"({package_version()}) reads versions up to {FORMAT_VERSION}. Upgrade clvmodels."
            )
        if document["model"] != cls.__name__:
            raise ValueError(
                f"{path}: holds a {document['model']}, not a {cls.__name__}; "
                f"load it with {document['model']}.load()"
            )
        model = cls(**document["settings"])
        names = list(cls.param_names)
        model.params_ = pd.Series(
            [document["params"][n] for n in names], index=names, name="estimate"
        )
        covariance = np.array(document["covariance"], dtype=float)  # null -> nan
        model.covariance_ = pd.DataFrame(covariance, index=names, columns=names)
        model.log_likelihood_ = _float_or_nan(document["log_likelihood"])
        model.n_customers_ = _float_or_nan(document["n_customers"])
        model.time_unit_ = document["time_unit"]
        return model


def _float_or_nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def is_bayesian(model: object) -> bool:
    """Whether ``model`` is one of the Bayesian models of :mod:`clvmodels.bayes`."""
    return getattr(model, "_bayesian", False)


def check_time_unit(model: MLEModel, data: pd.DataFrame) -> None:
    """Refuse to score data measured in another time unit than the model was fitted in."""
    data_unit = data.attrs.get("time_unit")
    if model.time_unit_ and data_unit and data_unit != model.time_unit_:
        raise ValidationError(
            f"time units differ: the {type(model).__name__} was fitted on data in "
            f"{model.time_unit_!r} but this table is in {data_unit!r}; rebuild the table with "
            f"rfm_summary(..., time_unit={model.time_unit_!r})"
        )
