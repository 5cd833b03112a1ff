"""The Bayesian estimator of any family: a posterior of the parameters, sampled with PyMC.

This module imports no PyMC: a Bayesian class is declared (and importable) without the
``bayes`` extra, and :meth:`BayesianModel.fit` / :meth:`BayesianModel.load` say which extra to
install. The sampling itself lives in :mod:`clvmodels.bayes`; the likelihood is the family's
own (the maximum-likelihood model's mathematics), so the two fits cannot disagree on it.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from clvmodels.display import bayesian_model_html, recorded_warnings, show_progress
from clvmodels.errors import DependencyError
from clvmodels.estimation.base import FittedModel, check_weights, package_version
from clvmodels.estimation.covariate_posterior import (
    check_prior_names,
    covariate_draws,
    design_columns,
    log_likelihood_with_covariates,
)
from clvmodels.estimation.covariates import CovariateDesign, CovariateSpec
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.modelfile import check_header
from clvmodels.files.atomic import atomic_file
from clvmodels.timeunit import TimeUnit
from clvmodels.validation import ValidationError

FORMAT_NAME = "clvmodels.bayesian_model"
# Version 2 adds the covariates (the posterior attribute ``clvmodels_covariates``).
FORMAT_VERSION = 2
_METHODS = ("nuts", "map")
SAMPLERS = ("nutpie", "pymc")
"""The NUTS samplers ``fit(sampler=...)`` accepts (nutpie is the default when installed)."""


def bayes_backend():
    """:mod:`clvmodels.bayes` (PyMC, ArviZ), or a DependencyError naming the extra."""
    try:
        from clvmodels import bayes
    except ImportError as error:
        raise DependencyError(
            f"the Bayesian models need PyMC and ArviZ ({error}); install them with "
            'pip install "clvmodels[bayes]"'
        ) from None
    return bayes


class BayesianModel(FittedModel):
    """Base of the Bayesian models (a subclass only names its ``family``).

    Parameters
    ----------
    priors : dict, optional
        Prior per parameter name, as an unnamed PyMC distribution with positive support (e.g.
        ``{"r": pm.Gamma.dist(alpha=2, beta=4)}``), replacing the default for that parameter.
        The defaults are weakly informative log-normals with log-scale sd 2 (95% of the mass
        within a factor ~50 of the median), centred on the data-driven starting point of the
        maximum-likelihood fit, so scale parameters follow the data's time unit or currency.
        With covariates, a coefficient's prior is given by its reported name
        (``{"purchase.Gender": pm.Normal.dist(0, 0.5)}``, a distribution on the real line, of
        the coefficient on the column's own scale); the default is Normal(0, 1) on the
        standardised column (Normal(0, 1 / column sd) on its own scale; see
        :data:`~clvmodels.estimation.covariate_posterior.COEFFICIENT_PRIOR_SIGMA`). The base
        parameters' priors are of their values at z = 0, as reported.
    purchase_covariates, dropout_covariates, spend_covariates : list of str, optional
        Static covariates, as for the maximum-likelihood model
        (:class:`~clvmodels.estimation.mle.MLEModel`): columns of the table that scale the
        parameters the family links to each process, ``theta_i = theta exp(sign g' z_i)``.
        The posterior then holds the coefficients ``<process>.<column>`` too, and every
        prediction evaluates each customer's parameters at every draw.

    Attributes
    ----------
    idata : arviz.InferenceData
        Posterior draws of the parameters and the sampler's statistics; its ``posterior.attrs``
        record the method, sampler, priors, timings and the data's size.
    params_ : Series
        Posterior means, by parameter name.
    time_unit_, n_customers_, n_distinct_rows_, excluded_customers_
        See :class:`~clvmodels.estimation.base.FittedModel`.
    """

    point_estimate: ClassVar[bool] = False

    def __init__(self, priors: dict[str, Any] | None = None, *,
                 purchase_covariates: list[str] | None = None,
                 dropout_covariates: list[str] | None = None,
                 spend_covariates: list[str] | None = None) -> None:
        self.priors = dict(priors or {})
        self.purchase_covariates = purchase_covariates
        self.dropout_covariates = dropout_covariates
        self.spend_covariates = spend_covariates
        spec = self.covariate_spec()
        # A coefficient's name depends on the data (a categorical's levels): checked at fit.
        unknown = sorted(name for name in self.priors if name not in self.param_names
                         and name.split(".", 1)[0] not in spec.processes)
        if unknown:
            processes = [f"{process}.<column>" for process in spec.processes]
            raise ValidationError(
                f"priors given for unknown parameter(s) {unknown}; "
                f"{type(self).__name__} has {list(self.param_names) + processes}"
            )

    def covariate_spec(self) -> CovariateSpec:
        """The covariates this estimator was given, checked against its family (a posterior
        takes no penalty or constraint: priors play their part)."""
        return CovariateSpec.check(
            self.family, type(self).__name__,
            {"purchase": self.purchase_covariates, "dropout": self.dropout_covariates,
             "spend": self.spend_covariates}, None, None, False)

    @property
    def covariate_design(self) -> CovariateDesign | None:
        """The fitted model's covariates (None without)."""
        return getattr(self, "covariates_", None)

    @property
    def posterior_names(self) -> list[str]:
        """The parameters of the posterior: the family's, then the coefficients."""
        design = self.covariate_design
        if design is None:
            return list(self.param_names)
        return [*self.param_names, *(name for name, _, _ in design.coefficients(self.family))]

    # ----------------------------------------------------------------------------- fitting
    def build_model(self, data: pd.DataFrame, weights: Any = None):
        """The PyMC model of ``data``: the priors and the likelihood as a potential.

        Customers sharing every column the likelihood reads are merged into one row weighted
        by their number, so the cost grows with the number of distinct rows, not customers.
        """
        return bayes_backend().pymc_model(self.family, self.fit_data(data, weights),
                                          self.priors)

    def fit(
        self,
        data: pd.DataFrame,
        *,
        method: str = "nuts",
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int | None = None,
        sampler: str | None = None,
        target_accept: float | None = None,
        weights: pd.Series | np.ndarray | None = None,
        progressbar: bool | None = None,
    ) -> Self:
        """Draw from the posterior of the parameters given an RFM table.

        Parameters
        ----------
        data : DataFrame
            An RFM table as returned by :func:`clvmodels.rfm_summary`, one row per customer.
        method : {"nuts", "map"}, default "nuts"
            ``"nuts"`` samples the posterior with the No-U-Turn sampler. ``"map"`` is a fast
            approximation: the posterior mode (MAP) and a Gaussian (Laplace) approximation of
            the posterior around it in the sampler's unconstrained (log) parameters, from which
            ``chains * draws`` independent draws are taken.
        draws, tune, chains : int
            Draws kept per chain, tuning steps per chain, number of chains.
        random_seed : int, optional
            Seed for reproducible draws.
        sampler : {"nutpie", "pymc"}, optional
            NUTS implementation; nutpie (compiled with numba) when installed, PyMC's otherwise.
        target_accept : float, optional
            NUTS's target acceptance rate, in (0, 1): raise it (e.g. 0.95) when the fit warns
            of divergent transitions. Default: the family's (0.8; 0.9 for the BdW; for the
            GGompertz/NBD 0.8 where nutpie samples its compiled kernel's coordinates, the
            default priors without covariates, else 0.95).
        weights : array-like, optional
            Number of customers each row stands for (a pre-aggregated table).
        progressbar : bool, optional
            Show the sampler's progress (nutpie's or PyMC's own bar); by default only where
            someone watches: a terminal, or Jupyter with ipywidgets (see
            :func:`clvmodels.display.show_progress`).

        Returns
        -------
        self

        Raises
        ------
        ValidationError
            A bad covariate (naming the column: missing, not varying, collinear, ...; see
            :class:`~clvmodels.estimation.covariates.CovariateDesign`), or a prior for a
            coefficient the design does not have (naming it and listing the parameters).

        Warns
        -----
        UserWarning
            When a parameter's R-hat exceeds 1.01 or the sampler reports divergent transitions:
            the draws are then not a reliable picture of the posterior.
        """
        if method not in _METHODS:
            raise ValueError(f"method must be 'nuts' or 'map', got {method!r}")
        for name, value, least in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
            if isinstance(value, bool) or int(value) != value or value < least:
                raise ValueError(f"{name} must be a whole number >= {least}, got {value!r}")
        if target_accept is not None and (isinstance(target_accept, bool)
                                          or not 0.0 < float(target_accept) < 1.0):
            raise ValueError(f"target_accept must be a number in (0, 1), got {target_accept!r}")
        if sampler is not None and sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        bayes = bayes_backend()
        # The warnings of the fit are kept for its display (and shown as they were).
        with recorded_warnings() as shown:
            fit_data, design = self.covariate_fit_data(data, weights)
            idata = bayes.sample_posterior(
                self.family, fit_data, self.priors, method=method, draws=int(draws),
                tune=int(tune), chains=int(chains), random_seed=random_seed, sampler=sampler,
                target_accept=None if target_accept is None else float(target_accept),
                progressbar=show_progress(progressbar),
                design=design,
            )
            self.covariates_ = design
            self.record_data(data, fit_data)
            idata.posterior.attrs.update(
                clvmodels_format=FORMAT_NAME,
                # Files without covariates are still written as version 1.
                clvmodels_format_version=1 if design is None else FORMAT_VERSION,
                clvmodels_model=type(self).__name__,
                clvmodels_version=package_version(),
                time_unit="" if self.time_unit_ is None else self.time_unit_.value,
                n_customers=self.n_customers_,
                n_distinct_rows=self.n_distinct_rows_,
                n_customers_excluded=self.n_customers_excluded_,
                **{f"excluded_{reason}": count for reason, count in
                   self.excluded_customers_.items()},
                **({} if design is None else
                   {"clvmodels_covariates": json.dumps(design.to_document())}),
            )
            self.set_posterior(idata)
            if method == "nuts":
                bayes.warn_unconverged(idata, tuple(self.posterior_names), type(self).__name__)
        self.fit_warnings_ = tuple(shown)
        return self

    def covariate_fit_data(self, data: pd.DataFrame, weights: Any
                           ) -> tuple[FitData, CovariateDesign | None]:
        """The distinct rows of ``data`` the likelihood reads (with the design columns when
        the model has covariates) and the covariate design (None without); a prior naming a
        coefficient the design does not have is refused (ValidationError)."""
        spec = self.covariate_spec()
        # A warning about the rows points at the user's call of fit(), two frames up.
        if not spec.active:
            return self.fit_data(data, weights, stacklevel=4), None
        designs: list[CovariateDesign] = []

        def covariate_columns(rows: np.ndarray, row_weights: np.ndarray) -> dict:
            designs.append(CovariateDesign.fit(spec, data, rows, row_weights))
            return design_columns(designs[0], data[rows])

        fit_data = self.fit_data(data, weights, covariate_columns, stacklevel=4)
        coefficients = [name for name, _, _ in designs[0].coefficients(self.family)]
        check_prior_names(type(self).__name__, [*self.param_names, *coefficients],
                          self.priors)
        return fit_data, designs[0]

    def set_posterior(self, idata: Any) -> None:
        """Take ``idata`` (a posterior of this model's parameters, with the attributes
        :meth:`fit` records) as the fitted state."""
        attrs = idata.posterior.attrs
        self.idata = idata
        unit = attrs.get("time_unit") or None
        self.time_unit_ = None if unit is None else TimeUnit.parse(unit)
        self.n_customers_ = float(attrs["n_customers"])
        self.n_distinct_rows_ = int(attrs["n_distinct_rows"])
        self.excluded_customers_ = {key.removeprefix("excluded_"): float(value)
                                    for key, value in attrs.items()
                                    if key.startswith("excluded_")}
        self.n_customers_excluded_ = float(attrs.get("n_customers_excluded", 0))
        names = self.posterior_names
        means = [float(idata.posterior[name].mean()) for name in names]
        self.params_ = pd.Series(means, index=names, name="posterior_mean")

    # ----------------------------------------------------------------------------- results
    def parameter_draws(self, max_draws: int | None = None,
                        random_seed: int | None = 0) -> pd.DataFrame:
        """The posterior draws of the parameters, one row per draw (chains stacked).

        Parameters
        ----------
        max_draws : int, optional
            Return at most this many draws, chosen at random without replacement.
        random_seed : int, optional
            Seed of that choice.

        Returns
        -------
        DataFrame
            Columns the parameter names (as in the maximum-likelihood model: with covariates,
            the coefficients ``<process>.<column>`` after the family's parameters).
        """
        self.check_fitted()
        posterior = self.idata.posterior
        table = pd.DataFrame(
            {name: posterior[name].to_numpy().ravel() for name in self.posterior_names}
        )
        if max_draws is not None:
            if isinstance(max_draws, bool) or int(max_draws) != max_draws or max_draws < 1:
                raise ValueError(f"max_draws must be a whole number >= 1, got {max_draws!r}")
            if max_draws < len(table):
                rows = np.random.default_rng(random_seed).choice(
                    len(table), int(max_draws), replace=False
                )
                table = table.iloc[np.sort(rows)].reset_index(drop=True)
        table.index.name = "draw"
        return table

    def draw_arrays(self, max_draws: int | None = None, random_seed: int | None = 0
                    ) -> tuple[np.ndarray, ...]:
        """The draws as one ``(draws, 1)`` array per family parameter; with covariates a
        :class:`~clvmodels.estimation.covariate_posterior.CovariateDraws`, which also holds
        the coefficients' draws (each customer's parameters follow per block of rows)."""
        design = self.covariate_design
        if design is None:
            return super().draw_arrays(max_draws, random_seed)
        return covariate_draws(self.family, design, self.parameter_draws(max_draws,
                                                                         random_seed))

    @property
    def covariate_columns(self) -> tuple[str, ...]:
        design = self.covariate_design
        return () if design is None else tuple(design.levels)

    def customer_parameters(self, data: pd.DataFrame) -> dict[str, np.ndarray]:
        """What each customer's parameters depend on besides the draws: with covariates,
        the customer's design columns (``covariate:<column>``, checked), from which the
        predictions make every draw's parameters (see :meth:`draw_arrays`); none without."""
        design = self.covariate_design
        return {} if design is None else design_columns(design, data)

    def customer_params(self, n_customers: int, rng: np.random.Generator
                        ) -> tuple[np.ndarray, ...]:
        if self.covariate_design is not None:
            raise ValidationError(
                f"{type(self).__name__}: simulate() draws customers from the parameters "
                "alone, which a model with covariates does not have; simulate with "
                "model.family.simulate and per-customer parameters")
        return super().customer_params(n_customers, rng)

    def log_likelihood(self, data: pd.DataFrame, weights: Any = None) -> float:
        """Log-likelihood of a table at the posterior mean, with each customer's covariates
        when the model has them (see :meth:`FittedModel.log_likelihood`)."""
        if self.covariate_design is None:
            return super().log_likelihood(data, weights)
        return log_likelihood_with_covariates(self, data, check_weights(data, weights))

    @property
    def n_draws(self) -> int:
        self.check_fitted()
        sizes = self.idata.posterior.sizes
        return sizes["chain"] * sizes["draw"]

    def summary(self, **kwargs: Any) -> pd.DataFrame:
        """ArviZ's summary of the parameters: mean, sd, HDI, MCSE, ``ess_bulk``, ``ess_tail``
        and ``r_hat``; keyword arguments go to :func:`arviz.summary`. With covariates the
        coefficients follow as ``<process>.<column>``, on the columns' own scale."""
        self.check_fitted()
        return bayes_backend().summary(self.idata, tuple(self.posterior_names), **kwargs)

    def _repr_html_(self) -> str:
        """Jupyter's display: ArviZ's summary (posterior mean, sd, HDI, R-hat, ESS), the
        draws, divergences, sampler and time (see
        :func:`clvmodels.display.bayesian_model_html`)."""
        return bayesian_model_html(self)

    def __repr__(self) -> str:
        if not hasattr(self, "idata"):
            covariates = self.covariate_spec().processes
            shown = f", covariates={covariates}" if covariates else ""
            return f"{type(self).__name__}(priors={self.priors or 'default'}{shown})"
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return (f"{type(self).__name__}(posterior mean {values}; {self.n_draws} draws, "
                f"fitted on {self.n_customers_:,.0f} customers)")

    # ----------------------------------------------------------------------------- save/load
    def save(self, path: str | os.PathLike) -> None:
        """Write the posterior and the fit's settings to a netCDF file (atomically)."""
        self.check_fitted()
        with atomic_file(path) as temporary:
            self.idata.to_netcdf(str(temporary))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Self:
        """Read a model written by :meth:`save`.

        Raises
        ------
        ValidationError
            If the file is not a clvmodels Bayesian model file, holds another model, was
            written by a newer format version than this package reads, or its draws are not
            valid parameters (missing, not finite, not positive).
        """
        idata = bayes_backend().read_netcdf(path)
        attrs = dict(idata.posterior.attrs) if "posterior" in idata.groups() else {}
        check_header(
            {"format": attrs.get("clvmodels_format"),
             "format_version": _int_or_none(attrs.get("clvmodels_format_version")),
             "model": attrs.get("clvmodels_model"),
             "package_version": attrs.get("clvmodels_version")},
            path, format_name=FORMAT_NAME, version=FORMAT_VERSION, model=cls.__name__,
            package=package_version(),
        )
        model = _model_of(cls, attrs, path)
        _check_draws(model, idata.posterior, path)
        for key in ("n_customers", "n_distinct_rows"):
            if key not in attrs:
                raise ValidationError(f"{path}: missing attribute {key!r}")
        idata.posterior.load()
        try:
            model.set_posterior(idata)
        except (TypeError, ValueError) as error:
            raise ValidationError(f"{path}: {error}") from None
        return model


def _model_of(cls: type[BayesianModel], attrs: dict, path: Any) -> BayesianModel:
    """The model of a saved posterior: with the covariates its attributes record (their
    design checked as untrusted input), else without."""
    document = attrs.get("clvmodels_covariates")
    if document is None:
        model = cls()
        model.covariates_ = None
        return model
    if _int_or_none(attrs.get("clvmodels_format_version")) != FORMAT_VERSION:
        raise ValidationError(f"{path}: covariates are recorded from format version "
                              f"{FORMAT_VERSION} on, the file says version "
                              f"{attrs.get('clvmodels_format_version')!r}")
    try:
        document = json.loads(document) if isinstance(document, str) else None
    except (json.JSONDecodeError, RecursionError):
        document = None
    if document is None:
        raise ValidationError(f"{path}: the covariates attribute must be a JSON document")
    design = CovariateDesign.from_document(cls.family, document, f"{path}")
    if design.spec.constrain:
        raise ValidationError(f"{path}: covariates.constrain must be empty for a posterior")
    model = cls(**{f"{process}_covariates": list(names)
                   for process, names in design.spec.processes.items()})
    model.covariates_ = design
    return model


def _check_draws(model: BayesianModel, posterior: Any, path: Any) -> None:
    """Every draw of a saved posterior, checked against the family's parameter constraints
    (as a maximum-likelihood file's estimates are), and the coefficients finite: one
    (chain, draw) grid per parameter."""
    columns = []
    for name in model.posterior_names:
        if name not in posterior:
            raise ValidationError(f"{path}: the posterior has no draws of {name!r}")
        variable = posterior[name]
        if variable.dims != ("chain", "draw"):
            raise ValidationError(f"{path}: the draws of {name!r} must have dimensions "
                                  f"(chain, draw), not {variable.dims}")
        try:
            columns.append(np.asarray(variable, dtype=float).ravel())
        except (TypeError, ValueError):
            raise ValidationError(f"{path}: the draws of {name!r} are not numbers") from None
    if columns[0].size == 0:
        raise ValidationError(f"{path}: the posterior holds no draws")
    if len({column.size for column in columns}) > 1:
        raise ValidationError(f"{path}: the parameters have different numbers of draws")
    n_base = len(model.param_names)
    table = np.column_stack(columns)
    for index, draw in enumerate(table[:, :n_base]):
        model.family.check_params(draw, f"{path}: draw {index}")
    bad = ~np.isfinite(table[:, n_base:])
    if bad.any():
        draw, column = np.argwhere(bad)[0]
        raise ValidationError(f"{path}: draw {draw}: coefficient "
                              f"{model.posterior_names[n_base + column]!r} is not finite")


def _int_or_none(value: Any) -> int | None:
    """A netCDF attribute read back as a whole number (numpy integer types included)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    return None


__all__ = ["BayesianModel", "SAMPLERS"]
