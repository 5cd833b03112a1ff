"""The maximum-likelihood estimator of any family: fitting, standard errors, summaries,
save/load. A fit is one parameter draw: its estimate."""

from __future__ import annotations

import json
import math
import os
import warnings
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from clvmodels.display import progress_bar, recorded_warnings
from clvmodels.errors import DegenerateFitWarning
from clvmodels.estimation.base import FittedModel, check_weights, package_version
from clvmodels.estimation.covariate_fit import (
    COLUMN_PREFIX,
    customer_params,
    fit_with_covariates,
    held_out_log_likelihood,
    summary_table,
)
from clvmodels.estimation.covariates import CovariateDesign, CovariateSpec
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.modelfile import check_header, header, read_json, require
from clvmodels.estimation.optimise import (
    covariance,
    degenerate_fit_message,
    fit_maximum_likelihood,
)
from clvmodels.files.atomic import write_text
from clvmodels.timeunit import TimeUnit, check_same_unit
from clvmodels.validation import ValidationError

# A fit on at least this many distinct rows shows a spinner by default (where someone watches):
# smaller ones take seconds.
PROGRESS_ROWS = 100_000
FORMAT_NAME = "clvmodels.model"
# Version 2 adds the covariates, version 3 their time-varying kind (the names of the covariate
# table's columns); files without them are still written as the lowest version they need.
FORMAT_VERSION = 3
_TIME_VARYING_FIELDS = ("customer_col", "date_col")
_SETTINGS = ("penalizer",)


class MLEModel(FittedModel):
    """Base of the maximum-likelihood models (a subclass only names its ``family``).

    Parameters
    ----------
    penalizer : float, default 0.0
        Coefficient of an L2 penalty ``penalizer * sum(params ** 2)`` added to the mean negative
        log-likelihood, as in ``lifetimes``; shrinks parameters on small or degenerate data.
        With covariates it applies to the base parameters (those of z = 0).
    purchase_covariates, dropout_covariates, spend_covariates : list of str, optional
        Static covariates: columns of the table given to :meth:`fit` (and to every
        prediction), indexed by customer, that scale the parameters the family links to
        each process (``family.covariate_links``; e.g. Pareto/NBD ``alpha_i = alpha
        exp(-g' z_i)`` for the purchase process). Numeric or boolean columns enter as they
        are; a categorical or string column is expanded into indicators of its levels but
        the first (``purchase.Channel[offline]``). Coefficients appear in ``params_`` and
        :meth:`summary` as ``<process>.<column>``. See
        :mod:`clvmodels.estimation.covariates`.
    covariate_penalizer : float or dict, optional
        L2 penalty ``lambda * sum(g ** 2)`` on the coefficients, one for every process or by
        process (``{"purchase": 0.1, "dropout": 0.0}``); none by default.
    constrain : list of str, optional
        Columns whose coefficient is the same in every process they enter.
    standardize : bool, default False
        Put the covariate penalty on the coefficients of the columns divided by their
        standard deviations (the coefficients are still reported on the columns' own scale).

    Attributes
    ----------
    params_ : Series
        The estimates by parameter name.
    covariance_ : DataFrame
        Inverse observed information of the parameters (NaN when it is singular).
    log_likelihood_ : float
        Log-likelihood at the estimate (NaN after :meth:`set_params_`).
    n_customers_, n_distinct_rows_, time_unit_, excluded_customers_
        See :class:`~clvmodels.estimation.base.FittedModel`.
    """

    point_estimate: ClassVar[bool] = True

    def __init__(self, penalizer: float = 0.0, *, purchase_covariates: list[str] | None = None,
                 dropout_covariates: list[str] | None = None,
                 spend_covariates: list[str] | None = None,
                 covariate_penalizer: float | dict[str, float] | None = None,
                 constrain: list[str] | None = None, standardize: bool = False) -> None:
        self.penalizer = penalizer
        self.purchase_covariates = purchase_covariates
        self.dropout_covariates = dropout_covariates
        self.spend_covariates = spend_covariates
        self.covariate_penalizer = covariate_penalizer
        self.constrain = constrain
        self.standardize = standardize

    def covariate_spec(self) -> CovariateSpec:
        """The covariates this estimator was given, checked against its family."""
        return CovariateSpec.check(
            self.family, type(self).__name__,
            {"purchase": self.purchase_covariates, "dropout": self.dropout_covariates,
             "spend": self.spend_covariates},
            self.covariate_penalizer, self.constrain, self.standardize)

    @property
    def covariate_design(self) -> CovariateDesign | None:
        """The fitted model's covariates (None without)."""
        return getattr(self, "covariates_", None)

    # ----------------------------------------------------------------------------- fitting
    def fit(
        self,
        data: pd.DataFrame,
        weights: pd.Series | np.ndarray | None = None,
        initial_params: dict[str, float] | None = None,
        progress: bool | None = None,
    ) -> Self:
        """Fit the model by maximum likelihood.

        The fit runs on the data rescaled to a typical ``T`` (or spend) near 1, which makes it
        independent of the data's unit (see
        :func:`~clvmodels.estimation.optimise.fit_maximum_likelihood`). An estimate on the edge
        of the search box, without finite standard errors, or with a parameter whose standard
        error in log exceeds 5 is a degenerate fit: it is kept, with a
        :class:`~clvmodels.DegenerateFitWarning` naming the problem; a
        fit that does not converge raises ``ConvergenceError``.

        Parameters
        ----------
        data : DataFrame
            An RFM table as returned by :func:`clvmodels.rfm_summary`, one row per customer.
        weights : array-like, optional
            Number of customers each row stands for (e.g. a pre-aggregated table). Whole or
            fractional, non-negative.
        initial_params : dict, optional
            Starting values by parameter name; a data-driven guess by default. With
            covariates, of the family's parameters only (the coefficients start at 0).
        progress : bool, optional
            Show a spinner with the elapsed time while the optimiser runs; by default on a
            table of at least 100,000 distinct rows, when someone watches (a terminal, or
            Jupyter with ipywidgets: see :func:`clvmodels.display.show_progress`).

        Returns
        -------
        self
        """
        if not (isinstance(self.penalizer, (int, float)) and math.isfinite(self.penalizer)
                and self.penalizer >= 0):
            raise ValueError(f"penalizer must be a finite number >= 0, got {self.penalizer!r}")
        spec = self.covariate_spec()
        # The warnings of the fit are kept for its display (and shown as they were).
        with recorded_warnings() as shown:
            if spec.active:
                self._fit_covariates(spec, data, weights, initial_params, progress)
            else:
                self._fit_plain(data, weights, initial_params, progress)
        self.fit_warnings_ = tuple(shown)
        return self

    def _fit_plain(self, data: pd.DataFrame, weights: Any,
                   initial_params: dict[str, float] | None, progress: bool | None) -> None:
        """:meth:`fit` without covariates."""
        fit_data = self.fit_data(data, weights, stacklevel=4)
        start = (self.family.initial_params(fit_data) if initial_params is None
                 else self.family.params_from_mapping(initial_params, "initial_params"))
        owner = type(self).__name__
        self.covariates_ = None
        # The optimiser (scipy's BLAS) and the likelihood (numpy's BLAS) take turns thousands
        # of times; with both multi-threaded OpenBLAS libraries in one process, each call waits
        # for the other's still-spinning threads (a 5,000-customer fit ran 15x slower on two
        # cores). Blocked evaluation keeps every product small, so one thread loses nothing.
        with threadpool_limits(limits=1, user_api="blas"), fit_progress(owner, fit_data,
                                                                         progress):
            result = fit_maximum_likelihood(self.family, fit_data, start, self.penalizer, owner)
        self.params_ = pd.Series(result.params, index=list(self.param_names), name="estimate")
        self.log_likelihood_ = result.log_likelihood
        self.convergence_ = dict(result.convergence)
        self.record_data(data, fit_data)
        self.covariance_ = covariance(result.params, result.information, self.param_names)
        if result.problems:
            warnings.warn(degenerate_fit_message(owner, result.problems), DegenerateFitWarning,
                          stacklevel=3)

    def _fit_covariates(self, spec: CovariateSpec, data: pd.DataFrame, weights: Any,
                        initial_params: dict[str, float] | None,
                        progress: bool | None = None) -> Self:
        """:meth:`fit` with covariates: the base parameters start as without (or at
        ``initial_params``), the coefficients at 0."""
        designs = []

        def design_columns(rows: np.ndarray, row_weights: np.ndarray) -> dict:
            designs.append(CovariateDesign.fit(spec, data, rows, row_weights))
            matrix = designs[0].matrix(data[rows])
            return {COLUMN_PREFIX + name: matrix[:, k]
                    for k, name in enumerate(designs[0].columns)}

        fit_data = self.fit_data(data, weights, design_columns, stacklevel=4)
        start = (self.family.initial_params(fit_data) if initial_params is None
                 else self.family.params_from_mapping(initial_params, "initial_params"))
        owner = type(self).__name__
        with threadpool_limits(limits=1, user_api="blas"), fit_progress(owner, fit_data,
                                                                         progress):
            result = fit_with_covariates(self.family, designs[0], fit_data, start,
                                         self.penalizer, owner)
        self.convergence_ = {}  # the covariate fit does not report its optimiser's trace
        self.covariates_ = designs[0]
        self.params_ = result.params
        self.covariance_ = result.covariance
        self.log_likelihood_ = result.log_likelihood
        self.record_data(data, fit_data)
        if result.problems:
            warnings.warn(degenerate_fit_message(owner, result.problems), DegenerateFitWarning,
                          stacklevel=3)
        return self

    @property
    def covariate_columns(self) -> tuple[str, ...]:
        design = self.covariate_design
        return () if design is None else tuple(design.levels)

    def customer_parameters(self, data: pd.DataFrame) -> dict[str, np.ndarray]:
        """The covariate-linked parameters of each customer of ``data`` (whose covariate
        columns are checked), by name; none without covariates."""
        design = self.covariate_design
        if design is None:
            return {}
        return customer_params(self.family, design, self.params_, data)

    def customer_params(self, n_customers: int, rng: np.random.Generator
                        ) -> tuple[np.ndarray, ...]:
        if self.covariate_design is not None:
            raise ValidationError(
                f"{type(self).__name__}: simulate() draws every customer from one set of "
                "parameters, which a model with covariates does not have; simulate with "
                "model.family.simulate and the per-customer parameters of "
                "customer_parameters(table)")
        return super().customer_params(n_customers, rng)

    def log_likelihood(self, data: pd.DataFrame, weights: Any = None) -> float:
        """Log-likelihood of a table at the estimate, with each customer's covariates when
        the model has them (see :meth:`FittedModel.log_likelihood`)."""
        design = self.covariate_design
        if design is None:
            return super().log_likelihood(data, weights)
        self.check_fitted()
        check_same_unit(type(self).__name__, self.time_unit_, data)
        return held_out_log_likelihood(self.family, design, self.params_, data,
                                       check_weights(data, weights))

    @property
    def n_params(self) -> int:
        """Free parameters: the family's, plus the coefficients (a constrained one once)."""
        design = self.covariate_design
        base = len(self.family.parameters)
        return base if design is None else base + len(design.free_coefficients(self.family)[0])

    def parameter_draws(self, max_draws: int | None = None,
                        random_seed: int | None = 0) -> pd.DataFrame:
        """The estimate as one draw (a one-row table), for the predictions over draws."""
        self.check_fitted()
        table = self.params_.to_frame().T.reset_index(drop=True)
        table.index.name = "draw"
        return table

    # ----------------------------------------------------------------------------- results
    @property
    def aic_(self) -> float:
        self.check_fitted()
        return 2 * self.n_params - 2 * self.log_likelihood_

    @property
    def bic_(self) -> float:
        self.check_fitted()
        return self.n_params * np.log(self.n_customers_) - 2 * self.log_likelihood_

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Parameter table: estimate, standard error and a confidence interval.

        The interval is built on the log scale (``exp(log(estimate) +/- z * se / estimate)``),
        which keeps it inside the positive parameter space; standard errors are NaN when the
        observed information is singular. Covariate coefficients (real numbers) get the
        symmetric interval ``estimate +/- z * se``.
        """
        self.check_fitted()
        if self.covariate_design is not None:
            return summary_table(self.family, self.params_, self.covariance_, level)
        estimate = self.params_
        std_error = pd.Series(np.sqrt(np.diag(self.covariance_)), index=estimate.index)
        z = stats.norm.ppf(0.5 + level / 2)
        with np.errstate(over="ignore"):  # a ridge's huge standard error: the interval (0, inf)
            spread = np.exp(z * std_error / estimate)
        return pd.DataFrame(
            {
                "estimate": estimate,
                "std_error": std_error,
                f"lower_{level:.0%}": estimate / spread,
                f"upper_{level:.0%}": estimate * spread,
            }
        )

    def set_params_(self, params: dict[str, float], time_unit: str | None = None) -> Self:
        """Use given parameter values instead of fitting (e.g. published estimates).

        The model then predicts and simulates, but has no likelihood or covariance. Not for a
        model with covariates (fit it, or load a saved fit).
        """
        if self.covariate_spec().active:
            raise ValidationError(
                f"{type(self).__name__}: set_params_ takes the parameters of a model without "
                "covariates; this one was given covariates (fit it, or load a saved fit)")
        self.covariates_ = None
        values = self.family.params_from_mapping(params)
        self.params_ = pd.Series(values, index=list(self.param_names), name="estimate")
        self.covariance_ = pd.DataFrame(np.full((self.n_params, self.n_params), np.nan),
                                        index=list(self.param_names),
                                        columns=list(self.param_names))
        self.log_likelihood_ = float("nan")
        self.n_customers_ = float("nan")
        self.n_distinct_rows_ = 0
        self.excluded_customers_ = {}
        self.n_customers_excluded_ = 0
        self.time_unit_ = None if time_unit is None else TimeUnit.parse(time_unit)
        return self

    # ----------------------------------------------------------------------------- save/load
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to a small, human-readable JSON file (atomically)."""
        self.check_fitted()
        design = self.covariate_design
        time_varying = getattr(self, "time_varying_covariates_", None)
        version = 1 if design is None else 2 if time_varying is None else 3
        document = {
            **header(FORMAT_NAME, version, type(self).__name__, package_version()),
            "settings": {"penalizer": float(self.penalizer)},
            "params": {name: float(value) for name, value in self.params_.items()},
            "covariance": _nulls(self.covariance_.to_numpy().tolist()),
            "log_likelihood": _null(self.log_likelihood_),
            "n_customers": _null(self.n_customers_),
            "n_distinct_rows": int(self.n_distinct_rows_),
            "excluded_customers": {k: float(v) for k, v in self.excluded_customers_.items()},
            "time_unit": None if self.time_unit_ is None else self.time_unit_.value,
        }
        if design is not None:
            document["covariates"] = design.to_document()
        if time_varying is not None:
            document["time_varying_covariates"] = dict(time_varying)
        write_text(path, json.dumps(document, indent=2, allow_nan=False))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Self:
        """Read a model written by :meth:`save`, checking every field.

        Raises
        ------
        ValidationError
            If the file is not a clvmodels model file, holds another model, was written by a
            newer format version than this package reads, or a field is missing, of the wrong
            type or outside the model's constraints (e.g. a negative parameter).
        """
        document = read_json(path)
        check_header(document, path, format_name=FORMAT_NAME, version=FORMAT_VERSION,
                     model=cls.__name__, package=package_version())
        settings = require(document, "settings", dict, path)
        unknown = sorted(set(settings) - set(_SETTINGS))
        if unknown:
            raise ValidationError(f"{path}: unknown settings {unknown}; expected {_SETTINGS}")
        penalizer = require(settings, "penalizer", (int, float), path) if settings else 0.0
        if penalizer < 0:
            raise ValidationError(f"{path}: penalizer must be >= 0, got {penalizer}")
        params = require(document, "params", dict, path)
        if "covariates" in document:
            model, values = load_covariates(cls, document["covariates"], params,
                                            float(penalizer), path)
        else:
            model = cls(penalizer=float(penalizer))
            model.covariates_ = None
            values = model.family.params_from_mapping(params, f"{path}: params")
        names = list(values.index) if isinstance(values, pd.Series) else list(
            cls.family.param_names)
        model.params_ = pd.Series(np.asarray(values, dtype=float), index=names,
                                  name="estimate")
        model.covariance_ = pd.DataFrame(_matrix(document, len(names), path), index=names,
                                         columns=names)
        model.log_likelihood_ = _float_or_nan(
            require(document, "log_likelihood", (int, float), path, nullable=True))
        model.time_varying_covariates_ = _time_varying(cls, document, path)
        model.n_customers_ = _float_or_nan(
            require(document, "n_customers", (int, float), path, nullable=True))
        model.n_distinct_rows_ = (require(document, "n_distinct_rows", int, path)
                                  if "n_distinct_rows" in document else 0)
        excluded = document.get("excluded_customers", {})
        if not isinstance(excluded, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                and v >= 0 for v in excluded.values()):
            raise ValidationError(f"{path}: excluded_customers must map reasons to counts")
        model.excluded_customers_ = {str(k): float(v) for k, v in excluded.items()}
        model.n_customers_excluded_ = float(sum(model.excluded_customers_.values()))
        unit = require(document, "time_unit", str, path, nullable=True)
        try:
            model.time_unit_ = None if unit is None else TimeUnit.parse(unit)
        except ValueError as error:
            raise ValidationError(f"{path}: {error}") from None
        return model


def fit_progress(owner: str, fit_data: FitData, progress: bool | None):
    """The spinner of a fit (see :meth:`MLEModel.fit`'s ``progress``)."""
    if progress is None and fit_data.n_rows < PROGRESS_ROWS:
        progress = False
    return progress_bar(f"{owner}: maximum-likelihood fit on {fit_data.n_rows:,} distinct rows",
                        progress=progress)


def load_covariates(cls: type[MLEModel], document: Any, params: dict, penalizer: float,
                    path: Any) -> tuple[MLEModel, pd.Series]:
    """The model of a file with covariates (its design checked) and its parameters: the
    family's, checked, then exactly the design's coefficients, finite, equal where
    constrained."""
    design = CovariateDesign.from_document(cls.family, document, f"{path}")
    spec = design.spec
    model = cls(penalizer=penalizer, **{f"{process}_covariates": list(names)
                                        for process, names in spec.processes.items()},
                covariate_penalizer=dict(spec.penalizer), constrain=list(spec.constrain),
                standardize=spec.standardize)
    model.covariates_ = design
    base_names = list(cls.family.param_names)
    base = model.family.params_from_mapping({k: v for k, v in params.items()
                                             if k in base_names}, f"{path}: params")
    coefficient_names = [name for name, _, _ in design.coefficients(cls.family)]
    if set(params) != {*base_names, *coefficient_names}:
        raise ValidationError(f"{path}: params must name {base_names + coefficient_names}, "
                              f"got {sorted(params)}")
    coefficients = [params[name] for name in coefficient_names]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in coefficients):
        raise ValidationError(f"{path}: params: covariate coefficients must be finite numbers")
    free, tie = design.free_coefficients(cls.family)
    for k in range(len(free)):
        tied = {coefficients[c] for c in np.flatnonzero(tie == k)}
        if len(tied) > 1:
            raise ValidationError(f"{path}: params: the coefficients of {free[k]} must be "
                                  f"equal (constrained), got {sorted(tied)}")
    values = pd.Series([*base, *map(float, coefficients)], index=base_names + coefficient_names)
    return model, values


def _time_varying(cls: type[MLEModel], document: dict, path: Any) -> dict[str, str] | None:
    """The column names of a fit with time-varying covariates (None for other fits)."""
    if "time_varying_covariates" not in document:
        return None
    names = document["time_varying_covariates"]
    if not hasattr(cls, "with_time_varying_covariates") or "covariates" not in document:
        raise ValidationError(f"{path}: time_varying_covariates needs a model that takes them "
                              "and its covariates block")
    if not (isinstance(names, dict) and set(names) == set(_TIME_VARYING_FIELDS)
            and all(isinstance(value, str) and value for value in names.values())):
        raise ValidationError(f"{path}: time_varying_covariates must map exactly "
                              f"{list(_TIME_VARYING_FIELDS)} to column names")
    return {field: names[field] for field in _TIME_VARYING_FIELDS}


def _matrix(document: dict, n: int, path: Any) -> np.ndarray:
    rows = require(document, "covariance", list, path)
    if len(rows) != n or not all(isinstance(row, list) and len(row) == n for row in rows):
        raise ValidationError(f"{path}: covariance must be a {n} x {n} list of lists")
    values = [value for row in rows for value in row]
    if not all(value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                 and math.isfinite(value)) for value in values):
        raise ValidationError(f"{path}: covariance must hold finite numbers or null")
    return np.array([[np.nan if v is None else float(v) for v in row] for row in rows])


def _null(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def _nulls(rows: list[list[float]]) -> list[list[float | None]]:
    return [[_null(value) for value in row] for row in rows]


def _float_or_nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


__all__ = ["MLEModel"]
