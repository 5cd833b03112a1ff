"""What every Bayesian model shares: priors, sampling, convergence checks, summaries, save/load.

A model module defines the PyTensor log-likelihood of the distinct, weighted rows (the same
mathematics as its maximum-likelihood twin, cross-checked in the tests) and its default priors;
:class:`BayesianModel` does the rest.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from scipy import optimize

from clvmodels.models._base import FitData, MLEModel, package_version
from clvmodels.validation import ValidationError

FORMAT_NAME = "clvmodels.bayesian_model"
FORMAT_VERSION = 1
# Convergence: Vehtari et al. (2021) recommend R-hat below 1.01 before using a posterior.
_RHAT_LIMIT = 1.01
# The scale of a weakly informative log-normal prior: 95% of its mass within a factor
# e**(1.96 * 2) ~ 50 either side of its median.
PRIOR_SIGMA = 2.0
SAMPLERS = ("nutpie", "pymc")


def default_sampler() -> str:
    """``"nutpie"`` when installed (it compiles the model to machine code), else ``"pymc"``."""
    try:
        import nutpie  # noqa: F401
    except ImportError:
        return "pymc"
    return "nutpie"


def log_normal(median: float) -> pm.Distribution:
    """The default prior: log-normal with the given median and log-scale sd ``PRIOR_SIGMA``."""
    return pm.LogNormal.dist(mu=np.log(median), sigma=PRIOR_SIGMA)


class BayesianModel:
    """Base of the Bayesian models.

    Subclasses set ``mle_class`` (the maximum-likelihood twin whose input checks, compression
    and prediction formulas they share) and implement ``_default_priors(fit_data)`` (a dict of
    unnamed PyMC distributions by parameter name) and ``_log_likelihood_rows(params,
    fit_data)`` (the PyTensor log-likelihood of each distinct row), or ``_log_likelihood``
    (the weighted total directly, e.g. as a compiled Op with its own gradient).

    Parameters
    ----------
    priors : dict, optional
        Prior per parameter name, as an unnamed PyMC distribution (e.g.
        ``{"r": pm.Gamma.dist(alpha=2, beta=4)}``), replacing the default for that parameter.
        Priors must have positive support.
    """

    mle_class: ClassVar[type[MLEModel]]
    _bayesian: ClassVar[bool] = True

    def __init__(self, priors: dict[str, Any] | None = None) -> None:
        self.priors = dict(priors or {})
        unknown = set(self.priors) - set(self.param_names)
        if unknown:
            raise ValueError(
                f"priors given for unknown parameter(s) {sorted(unknown)}; "
                f"{type(self).__name__} has {list(self.param_names)}"
            )

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.mle_class.param_names

    # ----------------------------------------------------------------------------- model
    def _fit_data(self, data: pd.DataFrame, weights=None) -> FitData:
        formulas = self.mle_class()
        columns, row_mask = formulas._fit_columns(data)
        weights = formulas._check_weights(data, weights)[row_mask]
        fit_data = FitData.compress(columns, weights)
        if fit_data.n_rows == 0:
            raise ValidationError(f"{type(self).__name__}: no customer rows to fit")
        if hasattr(formulas, "n_customers_excluded_"):
            self.n_customers_excluded_ = formulas.n_customers_excluded_
        return fit_data

    def build_model(self, data: pd.DataFrame, weights=None) -> pm.Model:
        """The PyMC model of ``data``: the priors and the likelihood as a potential.

        Customers sharing every column the likelihood reads are merged into one row weighted
        by their number, so the cost grows with the number of distinct rows, not customers.
        """
        return self._pymc_model(self._fit_data(data, weights))

    def _pymc_model(self, fit_data: FitData) -> pm.Model:
        priors = {**self._default_priors(fit_data), **self.priors}
        with pm.Model() as model:
            params = {
                name: model.register_rv(priors[name], name) for name in self.param_names
            }
            pm.Potential("log_likelihood", self._log_likelihood(params, fit_data))
        return model

    def _log_likelihood(self, params: dict, fit_data: FitData) -> pt.TensorVariable:
        """The weighted total log-likelihood: the rows' log-likelihoods times their weights."""
        return pt.dot(fit_data.weights, self._log_likelihood_rows(params, fit_data))

    def _prior_description(self, fit_data: FitData) -> str:
        priors = {**self._default_priors(fit_data), **self.priors}
        return "; ".join(f"{name} ~ {_describe(priors[name])}" for name in self.param_names)

    # ----------------------------------------------------------------------------- fitting
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
        weights: pd.Series | np.ndarray | None = None,
        progressbar: bool = False,
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
        weights : array-like, optional
            Number of customers each row stands for (a pre-aggregated table).
        progressbar : bool, default False
            Show the sampler's progress.

        Returns
        -------
        self

        Warns
        -----
        UserWarning
            When a parameter's R-hat exceeds 1.01 or the sampler reports divergent transitions:
            the draws are then not a reliable picture of the posterior.
        """
        if method not in ("nuts", "map"):
            raise ValueError(f"method must be 'nuts' or 'map', got {method!r}")
        for name, value, least in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
            if int(value) != value or value < least:
                raise ValueError(f"{name} must be a whole number >= {least}, got {value!r}")
        sampler = default_sampler() if sampler is None else sampler
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        fit_data = self._fit_data(data, weights)
        model = self._pymc_model(fit_data)
        seed = int(np.random.SeedSequence(random_seed).generate_state(1)[0])
        timings: dict[str, float] = {}
        if method == "map":
            idata = self._laplace(model, draws, chains, seed, timings)
        elif sampler == "nutpie":
            idata = self._sample_nutpie(model, fit_data, draws, tune, chains, seed, progressbar,
                                        timings)
        else:
            start = time.perf_counter()
            idata = pm.sample(
                draws=draws, tune=tune, chains=chains, cores=min(chains, os.cpu_count() or 1),
                random_seed=seed, progressbar=progressbar, compute_convergence_checks=False,
                model=model,
            )
            timings["sampling_seconds"] = time.perf_counter() - start
        idata = az.InferenceData(
            posterior=idata.posterior[list(self.param_names)],
            **({"sample_stats": idata.sample_stats} if "sample_stats" in idata.groups() else {}),
        )
        idata.posterior.attrs = {
            "clvmodels_format": FORMAT_NAME,
            "clvmodels_format_version": FORMAT_VERSION,
            "clvmodels_model": type(self).__name__,
            "clvmodels_version": package_version(),
            "method": method,
            "sampler": "laplace" if method == "map" else sampler,
            "priors": self._prior_description(fit_data),
            "time_unit": data.attrs.get("time_unit") or "",
            "n_customers": float(fit_data.weights.sum()),
            "n_distinct_rows": fit_data.n_rows,
            "n_customers_excluded": getattr(self, "n_customers_excluded_", 0),
            "random_seed": seed,
            **timings,
        }
        self._set_posterior(idata)
        if method == "nuts":
            self._check_convergence()
        return self

    def _compile_nutpie(self, model: pm.Model, fit_data: FitData) -> Any:
        """nutpie's compiled form of the model (a subclass may build a faster one)."""
        import nutpie

        with warnings.catch_warnings():
            # Ops without a compiled form (the Pareto/NBD integral) run in object mode, by design.
            warnings.filterwarnings("ignore", "Numba will use object mode", UserWarning)
            return nutpie.compile_pymc_model(model)

    def _sample_nutpie(self, model, fit_data, draws, tune, chains, seed, progressbar, timings):
        import nutpie

        start = time.perf_counter()
        compiled = self._compile_nutpie(model, fit_data)
        timings["compile_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        idata = nutpie.sample(
            compiled, draws=draws, tune=tune, chains=chains, seed=seed,
            cores=min(chains, os.cpu_count() or 1), progress_bar=progressbar,
        )
        timings["sampling_seconds"] = time.perf_counter() - start
        return idata

    def _laplace(self, model: pm.Model, draws: int, chains: int, seed: int, timings):
        """Draws from a Gaussian at the posterior mode with the inverse Hessian as covariance,
        in the model's unconstrained parameters.

        Mode and Hessian are both of the density of the unconstrained (log) parameters, Jacobian
        included: ``pm.find_MAP`` maximises the density of the natural parameters, whose mode
        sits elsewhere (for BG/NBD's skewed a and b, half a posterior sd away), so its point only
        starts the search.

        See :func:`gaussian_at_mode` for the mode and the Hessian.
        """
        start = time.perf_counter()
        value_vars = model.value_vars
        point = pm.find_MAP(model=model, progressbar=False, seed=seed)
        shapes = [np.shape(point[v.name]) for v in value_vars]
        sizes = [int(np.prod(shape)) for shape in shapes]
        log_density, gradient = model.compile_logp(), model.compile_dlogp()

        def as_point(vector):
            parts = np.split(vector, np.cumsum(sizes)[:-1])
            return {v.name: part.reshape(shape)
                    for v, part, shape in zip(value_vars, parts, shapes, strict=True)}

        try:
            mode, covariance = gaussian_at_mode(
                lambda vector: (float(log_density(as_point(vector))),
                                gradient(as_point(vector))),
                np.concatenate([np.ravel(point[v.name]) for v in value_vars]),
            )
        except np.linalg.LinAlgError:
            raise ValidationError(
                f"{type(self).__name__}: the posterior mode has a singular or non-negative "
                "curvature, so the Laplace approximation does not exist; use method='nuts'"
            ) from None
        rng = np.random.default_rng(seed)
        unconstrained = rng.multivariate_normal(mode, covariance, size=(chains, draws))
        posterior = {}
        offsets = np.cumsum([0, *sizes])
        for i, value_var in enumerate(value_vars):
            rv = model.values_to_rvs[value_var]
            transform = model.rvs_to_transforms[rv]
            values = unconstrained[..., offsets[i]:offsets[i + 1]].reshape(
                (chains, draws, *shapes[i]))
            posterior[rv.name] = (
                transform.backward(pt.as_tensor(values), *rv.owner.inputs).eval()
                if transform else values
            )
        timings["sampling_seconds"] = time.perf_counter() - start
        return az.from_dict(posterior=posterior)

    def _set_posterior(self, idata: az.InferenceData) -> None:
        self.idata = idata
        attrs = idata.posterior.attrs
        self.time_unit_ = attrs["time_unit"] or None
        self.n_customers_ = float(attrs["n_customers"])
        self.n_distinct_rows_ = int(attrs["n_distinct_rows"])
        means = [float(idata.posterior[name].mean()) for name in self.param_names]
        self.params_ = pd.Series(means, index=list(self.param_names), name="posterior_mean")

    def _check_convergence(self) -> None:
        posterior = self.idata.posterior
        name = type(self).__name__
        if posterior.sizes["chain"] > 1:
            rhat = az.rhat(self.idata, var_names=list(self.param_names))
            for param in self.param_names:
                value = float(rhat[param])
                if not value <= _RHAT_LIMIT:
                    warnings.warn(
                        f"{name}: R-hat of {param} is {value:.4f} > {_RHAT_LIMIT}: the chains "
                        "disagree, so the draws may not represent the posterior. Run more "
                        "tune/draws, or check the data and priors.",
                        UserWarning,
                        stacklevel=3,
                    )
        stats = getattr(self.idata, "sample_stats", None)
        if stats is not None and "diverging" in stats:
            divergences = int(stats["diverging"].sum())
            if divergences > 0:
                warnings.warn(
                    f"{name}: {divergences} divergent transition(s) after tuning: the sampler "
                    "missed part of the posterior. Try more tune steps or stronger priors.",
                    UserWarning,
                    stacklevel=3,
                )

    # ----------------------------------------------------------------------------- results
    def _check_fitted(self) -> None:
        if not hasattr(self, "idata"):
            raise RuntimeError(
                f"this {type(self).__name__} is not fitted yet; call fit() or load() first"
            )

    @property
    def n_draws(self) -> int:
        self._check_fitted()
        sizes = self.idata.posterior.sizes
        return sizes["chain"] * sizes["draw"]

    def posterior_parameters(
        self, max_draws: int | None = None, random_seed: int | None = None
    ) -> pd.DataFrame:
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
            Columns the parameter names (as in the maximum-likelihood model).
        """
        self._check_fitted()
        posterior = self.idata.posterior
        table = pd.DataFrame(
            {name: posterior[name].to_numpy().ravel() for name in self.param_names}
        )
        if max_draws is not None:
            if int(max_draws) != max_draws or max_draws < 1:
                raise ValueError(f"max_draws must be a whole number >= 1, got {max_draws!r}")
            if max_draws < len(table):
                rows = np.random.default_rng(random_seed).choice(
                    len(table), int(max_draws), replace=False
                )
                table = table.iloc[np.sort(rows)].reset_index(drop=True)
        table.index.name = "draw"
        return table

    def _param_draws(self, max_draws: int | None, random_seed: int | None = 0) -> np.ndarray:
        """Parameter draws as a (draws, 1) array per parameter, for broadcasting over rows."""
        table = self.posterior_parameters(max_draws, random_seed).to_numpy()
        return tuple(table[:, [j]] for j in range(table.shape[1]))

    def summary(self, **kwargs: Any) -> pd.DataFrame:
        """ArviZ's summary of the parameters: mean, sd, HDI, MCSE, ``ess_bulk``, ``ess_tail``
        and ``r_hat``; keyword arguments go to :func:`arviz.summary`."""
        self._check_fitted()
        return az.summary(self.idata, var_names=list(self.param_names), **kwargs)

    def __repr__(self) -> str:
        if not hasattr(self, "idata"):
            return f"{type(self).__name__}(priors={self.priors or 'default'})"
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return (f"{type(self).__name__}(posterior mean {values}; {self.n_draws} draws, "
                f"fitted on {self.n_customers_:,.0f} customers)")

    # ----------------------------------------------------------------------------- save/load
    def save(self, path: str | os.PathLike) -> None:
        """Write the posterior and the fit's settings to a netCDF file."""
        self._check_fitted()
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        self.idata.to_netcdf(str(tmp))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Self:
        """Read a model written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a clvmodels Bayesian model file, holds another model type, or
            was written by a newer format version than this package reads.
        """
        try:
            idata = az.from_netcdf(str(path))
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a netCDF model file ({error})") from None
        attrs = idata.posterior.attrs if "posterior" in idata.groups() else {}
        if attrs.get("clvmodels_format") != FORMAT_NAME:
            raise ValueError(f"{path}: not a clvmodels Bayesian model file")
        if attrs["clvmodels_format_version"] > FORMAT_VERSION:
            raise ValueError(
                f"{path}: written in format version {attrs['clvmodels_format_version']} by "
                f"clvmodels {attrs.get('clvmodels_version')}; this clvmodels "
                f"({package_version()}) reads versions up to {FORMAT_VERSION}. Upgrade clvmodels."
            )
        if attrs["clvmodels_model"] != cls.__name__:
            raise ValueError(
                f"{path}: holds a {attrs['clvmodels_model']}, not a {cls.__name__}; "
                f"load it with {attrs['clvmodels_model']}.load()"
            )
        idata.posterior.load()
        model = cls()
        model._set_posterior(idata)
        return model


def gaussian_at_mode(
    value_and_gradient: Callable[[np.ndarray], tuple[float, np.ndarray]], start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The mode of a log density and the inverse of its negative Hessian there.

    The mode is found by BFGS from ``start`` (gradient tolerance 1e-8). The Hessian is taken
    by central differences of the analytic gradient (step 1e-5: error ~1e-10 relative, far
    below what a Gaussian approximation or a preconditioner needs), which works for
    likelihoods whose gradient has no derivative of its own.

    Raises
    ------
    numpy.linalg.LinAlgError
        When the curvature at the mode is singular or not negative definite.
    """
    found = optimize.minimize(
        lambda vector: tuple(-np.asarray(v) for v in value_and_gradient(vector)),
        start, jac=True, method="BFGS", options={"gtol": 1e-8},
    )
    mode = found.x
    step = 1e-5
    hessian = np.column_stack([
        (value_and_gradient(mode + e)[1] - value_and_gradient(mode - e)[1]) / (2 * step)
        for e in np.eye(len(mode)) * step
    ])
    covariance = np.linalg.inv(-(hessian + hessian.T) / 2)
    np.linalg.cholesky(covariance)  # raises unless positive definite
    return mode, covariance


def _describe(distribution) -> str:
    """``LogNormal(-1.2, 2)`` for an unnamed PyMC distribution: its name and parameters."""
    node = distribution.owner
    name = type(node.op).__name__.removesuffix("RV")
    try:
        # Constant folding runs the Ops in Python: eval() would compile C code, ~1 s a fit.
        values = [np.asarray(value).tolist()
                  for value in pm.pytensorf.constant_fold(node.op.dist_params(node))]
    except Exception:  # symbolic parameters: name the distribution only
        return f"{name}(...)"
    shown = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values)
    return f"{name}({shown})"
