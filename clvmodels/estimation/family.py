"""The declaration of a model family: what a model module writes, once.

A family is a stateless object holding a model's mathematics: its parameters and their
constraints, the columns it reads, the per-row log-likelihood and its derivatives with respect
to per-row parameters, the predictions and the simulator. Everything else (maximum-likelihood
fitting, Bayesian sampling, predictions over parameter draws, CLV, evaluation, plots, the CLI,
Spark scoring) is written once in terms of this interface; see ``ARCHITECTURE.md``.

Parameters travel as a tuple or array of per-parameter values, each a scalar, an array over
rows (per-row parameters, e.g. from covariates) or an array with a leading axis of posterior
draws (shape ``(draws, 1)``); every formula broadcasts.

Two kinds of families exist:

- :class:`PurchaseFamily` (BG/NBD, MBG/NBD, Pareto/NBD): repeat purchases and dropout from
  ``frequency``, ``recency`` and ``T``. Their likelihoods share the form
  ``LL = c + logaddexp(u, v)`` (``u``: alive at T, ``v``: gone since), so that
  ``P(alive) = exp(u - logaddexp(u, v))``, and an alive customer's future is a function of
  updated parameters alone (memorylessness of the dropout process). A new customer is the
  customer with an empty history.
- :class:`SpendFamily` (Gamma-Gamma): spend per purchase from ``frequency`` and
  ``monetary_value``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clvmodels._numerics import integrate_rate, integrate_rate_per_draw
from clvmodels.estimation.fitdata import FitData
from clvmodels.validation import ValidationError, check_rfm

Params = Any  # a tuple or array of per-parameter values (scalars or broadcastable arrays)


@dataclass(frozen=True)
class Parameter:
    """A model parameter: its name (as in the literature), what it means, and whether it is in
    the data's unit (a time scale or a money scale, multiplied by c when the data's times or
    spends are; the others are pure numbers).

    Every parameter of the current families is a positive real number; the optimiser and the
    samplers work with its logarithm.
    """

    name: str
    description: str
    in_data_unit: bool = False


@dataclass(frozen=True)
class CovariateLink:
    """Which parameters a process's covariates scale: per customer i, each parameter ``theta``
    named in ``parameters`` becomes ``theta_i = theta * exp(sign * g' z_i)``, with ``z_i`` the
    customer's covariates of ``process`` and ``g`` their coefficients (one vector per process,
    shared by its parameters, as in CLVTools).

    ``meaning`` says, for the documentation and the summary, what a positive coefficient does.
    """

    process: str
    parameters: tuple[str, ...]
    sign: int
    meaning: str


@dataclass(frozen=True)
class FitColumns:
    """The columns a likelihood reads, for the rows of a table that take part in the fit.

    ``columns`` holds one array per column for the rows flagged in ``rows`` (a mask over the
    table); ``excluded`` flags the rows left out, by reason (e.g.
    ``{"no_repeat_purchase": mask}``), so that the estimators count them (and announce those
    the family lists in ``announced_exclusions``).
    """

    columns: dict[str, np.ndarray]
    rows: np.ndarray
    excluded: dict[str, np.ndarray] = field(default_factory=dict)


def by_levels(function: Callable, x: np.ndarray, x_levels: tuple | None) -> tuple:
    """``function(x)`` (a tuple of arrays), evaluated once per distinct value when
    ``x_levels = (values, codes)`` is given.

    The values run along the last axis, so parameters with a leading axis of posterior draws
    (shape ``(draws, 1)``) give one row of results per draw. Per-row parameters (an array over
    the rows) must pass ``x_levels=None``: terms of x alone are then not shared between rows.
    """
    if x_levels is None:
        return function(x)
    values, codes = x_levels
    return tuple(part[..., codes] for part in function(values))


def per_row_arrays(params: Params, fit_data: FitData, columns: tuple[str, ...]
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each parameter as one float per row of ``fit_data`` (a scalar repeated) and the
    ``columns`` as floats, all contiguous: the arguments of a compiled per-row kernel
    (:meth:`Family.compiled_row_gradient`)."""
    data = [np.ascontiguousarray(fit_data[name], dtype=float) for name in columns]
    shape = (fit_data.n_rows,)
    values = [np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=float), shape))
              for value in params]
    return values, data


def scalar_params(params: Params) -> bool:
    """Whether every parameter is one number (not per row or per draw)."""
    return all(np.ndim(value) == 0 for value in params)


class Family:
    """Base of every model family's declaration.

    A subclass sets ``name`` (the command-line name, e.g. ``"bgnbd"``), ``title`` (e.g.
    ``"BG/NBD"``), ``parameters`` and ``rfm_columns``, and implements :meth:`fit_columns`,
    :meth:`initial_params`, :meth:`log_likelihood` and :meth:`log_likelihood_gradient`; it may
    override :meth:`derivatives` with a faster route to the weighted totals (and an analytic
    Hessian, ``has_hessian = True``), which the contract tests check against the per-row
    gradient.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    #: Other names the model goes by (lower case), e.g. ``("betageo",)``.
    aliases: ClassVar[tuple[str, ...]] = ()
    parameters: ClassVar[tuple[Parameter, ...]]
    rfm_columns: ClassVar[tuple[str, ...]]
    #: The likelihood's columns in the data's unit (times, or spends), which the
    #: maximum-likelihood fit divides by a common scale (see :meth:`rescaled`), and the one
    #: whose typical value sets that scale.
    unit_columns: ClassVar[tuple[str, ...]]
    scale_column: ClassVar[str]
    has_hessian: ClassVar[bool] = False
    #: Reasons for leaving customers out of a fit that a UserWarning announces, with its
    #: message (``{owner}``, ``{count}`` and ``{example}``, " (e.g. customer 42)" or empty,
    #: are filled in).
    announced_exclusions: ClassVar[dict[str, str]] = {}
    #: The processes whose covariates a maximum-likelihood fit accepts (``purchase_covariates=``,
    #: ``dropout_covariates=``, ``spend_covariates=``) and the parameters each scales; none by
    #: default (see :mod:`clvmodels.estimation.covariates`).
    covariate_links: ClassVar[tuple[CovariateLink, ...]] = ()
    #: Names of the families this one contains as a special case with one parameter fixed
    #: inside its range (e.g. the correlated Pareto/NBD at omega = 0 is the Pareto/NBD), so
    #: that a likelihood-ratio test may compare their fits.
    nested_families: ClassVar[tuple[str, ...]] = ()
    #: The NUTS samplers' target acceptance rate for this family's posterior (their default
    #: 0.8; higher means smaller steps, for posteriors with long curved tails).
    target_accept: ClassVar[float] = 0.8
    #: nutpie's target for the native model of the family's compiled kernel, which samples in
    #: the kernel's own coordinates (``sampling_point``), where those need less than
    #: ``target_accept`` (which the other routes, covariates and other priors, keep).
    native_target_accept: ClassVar[float | None] = None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(parameter.name for parameter in self.parameters)

    def __repr__(self) -> str:
        return f"<{self.title} family ({', '.join(self.param_names)})>"

    # ------------------------------------------------------------------------- parameters
    def check_params(self, values: Any, source: str = "parameters") -> np.ndarray:
        """``values`` (one per parameter, in order) as floats, refusing what the model cannot
        take: a wrong count, or a value that is not a finite positive number.

        Raises
        ------
        ValidationError
            Naming the parameter and the value found (``source`` says where they came from).
        """
        try:
            array = np.asarray(values, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise ValidationError(
                f"{source}: expected numbers for {list(self.param_names)}, got {values!r}"
            ) from None
        if len(array) != len(self.parameters):
            raise ValidationError(
                f"{source}: expected {len(self.parameters)} values "
                f"({', '.join(self.param_names)}), got {len(array)}"
            )
        for name, value in zip(self.param_names, array.tolist(), strict=True):
            if not (np.isfinite(value) and value > 0):
                raise ValidationError(
                    f"{source}: parameter {name!r} is {value!r}; the {self.title} model "
                    "needs a finite number > 0"
                )
        return array

    def params_from_mapping(self, mapping: Mapping[str, Any], source: str = "parameters"
                            ) -> np.ndarray:
        """Checked parameter values from a mapping by name (every name once, no others)."""
        if not isinstance(mapping, Mapping):
            raise ValidationError(f"{source}: expected a mapping of parameter names to values, "
                                  f"got {type(mapping).__name__}")
        names = set(self.param_names)
        unknown, missing = sorted(set(mapping) - names), sorted(names - set(mapping))
        if unknown or missing:
            raise ValidationError(
                f"{source}: the {self.title} model has parameters {list(self.param_names)}"
                + (f"; unknown {unknown}" if unknown else "")
                + (f"; missing {missing}" if missing else "")
            )
        values = [mapping[name] for name in self.param_names]
        if any(isinstance(value, (bool, str)) or value is None for value in values):
            bad = next(n for n, v in zip(self.param_names, values, strict=True)
                       if isinstance(v, (bool, str)) or v is None)
            raise ValidationError(f"{source}: parameter {bad!r} is {mapping[bad]!r}; expected "
                                  "a number")
        return self.check_params(values, source)

    # ------------------------------------------------------------------------- data
    def fit_columns(self, data: pd.DataFrame) -> FitColumns:
        """The columns the likelihood reads from a checked table, and the rows that take part."""
        raise NotImplementedError

    # ------------------------------------------------------------------------- data units
    # Every family is scale-equivariant: with the data's times (spends) multiplied by c, the
    # maximum of the likelihood is at the parameters in the data's unit multiplied by c, the
    # others unchanged, and the log-likelihood shifts by a constant (the densities of the
    # unit columns gain a Jacobian). The maximum-likelihood fit works on data rescaled to a
    # typical value near 1, whatever the unit (T of 1e9 seconds, spends of 1e300).
    def data_scale(self, fit_data: FitData) -> float:
        """The power of two nearest the weighted geometric mean of the positive values of
        ``scale_column``: dividing by it is exact in floating point (1.0 if there are none)."""
        column, weights = fit_data[self.scale_column], fit_data.weights
        positive = (column > 0) & (weights > 0)
        if not positive.any():
            return 1.0
        log2_mean = np.average(np.log2(column[positive]), weights=weights[positive])
        return float(2.0 ** np.clip(np.round(log2_mean), -1000, 1000))

    def parameter_scale(self, scale: float) -> np.ndarray:
        """Per parameter: the factor from its value on data divided by ``scale`` to its value
        on the data (``scale`` for parameters in the data's unit, else 1)."""
        return np.array([scale if parameter.in_data_unit else 1.0
                         for parameter in self.parameters])

    def rescaled(self, fit_data: FitData, scale: float) -> FitData:
        """``fit_data`` with its ``unit_columns`` divided by ``scale``."""
        columns = {name: column / scale if name in self.unit_columns else column
                   for name, column in fit_data.columns.items()}
        return FitData(columns, fit_data.weights)

    def log_likelihood_offset(self, fit_data: FitData, scale: float) -> float:
        """The log-likelihood of ``fit_data`` minus that of ``rescaled(fit_data, scale)`` at
        the corresponding parameters."""
        raise NotImplementedError

    def initial_params(self, fit_data: FitData) -> np.ndarray:
        """A data-driven starting point of the optimiser."""
        raise NotImplementedError

    def prior_medians(self, fit_data: FitData) -> np.ndarray:
        """Medians of the default (log-normal) priors of the Bayesian variant: the starting
        point, which puts scale parameters on the data's own time or money scale."""
        return self.initial_params(fit_data)

    # ------------------------------------------------------------------------- likelihood
    def log_likelihood(self, params: Params, fit_data: FitData) -> np.ndarray:
        """The log-likelihood of each row of ``fit_data``."""
        raise NotImplementedError

    def log_likelihood_gradient(self, params: Params, fit_data: FitData
                                ) -> tuple[np.ndarray, np.ndarray]:
        """Per row: the log-likelihood and its derivatives with respect to that row's
        parameters, shape ``(parameters, rows)``.

        With per-row parameters (covariates) the gradient of a coefficient is the chain rule
        through these; with shared parameters the total gradient is their weighted sum.
        """
        raise NotImplementedError

    def derivatives(self, params: Params, fit_data: FitData, hessian: bool = False
                    ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """The weighted total log-likelihood, its gradient in the (shared) parameters and, if
        ``hessian`` and the family has one analytically, the Hessian (else None)."""
        rows, gradient = self.log_likelihood_gradient(params, fit_data)
        weights = fit_data.weights
        return float(weights @ rows), gradient @ weights, None

    def total_log_likelihood(self, params: Params, fit_data: FitData) -> float:
        """The weighted total log-likelihood of ``fit_data``."""
        return float(fit_data.weights @ self.log_likelihood(params, fit_data))

    def compiled_row_gradient(self) -> Callable[[Params, FitData],
                                               tuple[np.ndarray, np.ndarray]] | None:
        """:meth:`log_likelihood_gradient` as a compiled kernel (same arguments, same result),
        for the per-row parameters of a fit with covariates, or None (the default; also
        without numba): the covariate fits then call :meth:`log_likelihood_gradient` itself.
        A family that has one cross-checks it against :meth:`log_likelihood_gradient` in its
        tests."""
        return None

    def compiled_likelihood(self, fit_data: FitData) -> Any | None:
        """A compiled kernel of the weighted likelihood on ``fit_data`` for the samplers, or
        None: the samplers then call :meth:`derivatives` itself (see :mod:`clvmodels.bayes`).
        A family that has one cross-checks it against :meth:`derivatives` in its tests."""
        return None


class PurchaseFamily(Family):
    """A purchase-count model: repeat purchases and dropout.

    Subclasses implement, with ``updated`` a tuple of per-customer parameter arrays:

    - :meth:`likelihood_parts` ``(params, x, t_x, T, x_levels) -> (c, u, v)``;
    - :meth:`updated_params` ``(params, x, T)``: the parameters of an alive customer's future;
    - the future of an alive customer as a function of those: :meth:`future_expected`
      (expected purchases in (0, t]), :meth:`future_log_rate` (log purchase rate at t),
      :meth:`future_pmf` (P(n purchases in (0, t])) and :meth:`future_rate_scale` (the time
      scale on which the rate decays, for quadrature); :meth:`future_discounted` integrates
      the discounted rate (a discrete-time family, the BG/BB, overrides it with a sum);
    - :meth:`simulate` ``(params, T, holdout, rng) -> (x, t_x, holdout purchases)``;
    - :meth:`log_likelihood_gradient`, and :meth:`initial_params`.
    """

    kind: ClassVar[str] = "purchase"
    #: Whether times are whole periods (the BG/BB: ``periods`` instead of T, no purchase
    #: rate at an instant), so that continuous-time tools (tracking, backtests) do not apply.
    discrete_time: ClassVar[bool] = False
    rfm_columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")
    unit_columns: ClassVar[tuple[str, ...]] = ("t_x", "T")
    scale_column: ClassVar[str] = "T"

    # ------------------------------------------------------------------------- data
    def history(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Checked ``(x, t_x, T)`` arrays of an RFM table."""
        check_rfm(data)
        return tuple(data[column].to_numpy(dtype=float) for column in self.rfm_columns)

    def fit_columns(self, data: pd.DataFrame) -> FitColumns:
        x, t_x, T = self.history(data)
        if not np.any(x > 0):
            raise ValidationError(
                "column 'frequency': no customer has a repeat purchase, so the purchase rate "
                "and dropout cannot be told apart; fit on a longer observation period"
            )
        return FitColumns({"x": x, "t_x": t_x, "T": T}, np.ones(len(x), dtype=bool))

    def log_likelihood_offset(self, fit_data: FitData, scale: float) -> float:
        """``-log(scale)`` per repeat purchase: a customer's likelihood is a density in the
        times of their x repeat purchases (the rate's ``r log(alpha)`` and ``-(r + x)
        log(alpha + T)`` leave ``-x log(scale)``; so does the dropout term)."""
        return -float(np.log(scale) * (fit_data.weights @ fit_data["x"]))

    def initial_params(self, fit_data: FitData) -> np.ndarray:
        # r = 1 and a purchase rate r / alpha equal to the observed one; dropout parameters 1.
        w = fit_data.weights
        alpha = np.dot(w, fit_data["T"]) / max(np.dot(w, fit_data["x"] + 1.0), 1e-12)
        return np.array([1.0, alpha, 1.0, 1.0])

    # ------------------------------------------------------------------------- likelihood
    def likelihood_parts(self, params: Params, x, t_x, T, x_levels=None) -> tuple:
        """The three log terms ``(c, u, v)`` with ``LL = c + logaddexp(u, v)``."""
        raise NotImplementedError

    def log_likelihood(self, params: Params, fit_data: FitData) -> np.ndarray:
        levels = fit_data.levels("x") if scalar_params(params) else None
        c, u, v = self.likelihood_parts(params, fit_data["x"], fit_data["t_x"], fit_data["T"],
                                        levels)
        return c + np.logaddexp(u, v)

    def log_alive(self, params: Params, x, t_x, T, x_levels=None) -> np.ndarray:
        """log P(alive at T) given the history (x, t_x, T): ``-log(1 + e^(v - u))``.

        From ``v - u`` rather than as ``u - logaddexp(u, v)``: for a customer with 1e6
        purchases u is ~4e6, whose rounding (5e-10) the subtraction would leave in a
        log P(alive) of -1e-6.
        """
        _, u, v = self.likelihood_parts(params, x, t_x, T, x_levels)
        with np.errstate(invalid="ignore"):
            return -np.logaddexp(0.0, v - u)

    # ------------------------------------------------------------------------- the future
    def updated_params(self, params: Params, x, T) -> tuple:
        raise NotImplementedError

    def future_expected(self, updated: tuple, t) -> np.ndarray:
        raise NotImplementedError

    def future_log_rate(self, updated: tuple, t) -> np.ndarray:
        raise NotImplementedError

    def future_pmf(self, updated: tuple, n: int, t) -> np.ndarray:
        raise NotImplementedError

    def future_rate_scale(self, updated: tuple) -> np.ndarray:
        raise NotImplementedError

    def future_discounted(self, updated: tuple, horizon: float, discount_rate: float,
                          per_draw: bool = False) -> np.ndarray:
        """An alive customer's purchases over ``horizon``, each discounted to today by
        ``(1 + discount_rate) ** -t`` (``discount_rate > 0``, checked): the integral of the
        discounted purchase rate (Gauss-Legendre; for many posterior draws, short rules where
        they are accurate: :func:`~clvmodels._numerics.integrate_rate_per_draw`). A
        discrete-time family overrides it with a sum over periods."""
        integrate = integrate_rate_per_draw if per_draw else integrate_rate
        return integrate(self.future_log_rate, updated, self.future_rate_scale(updated),
                         horizon, np.log1p(discount_rate))

    # ------------------------------------------------------------------------- new customers
    def new_customer(self, params: Params) -> tuple[np.ndarray, tuple]:
        """P(alive) and the updated parameters of a customer just acquired (empty history:
        x = t_x = T = 0), shaped like the parameters."""
        zero = np.zeros(np.broadcast_shapes(*(np.shape(value) for value in params)))
        return (np.exp(self.log_alive(params, zero, zero, zero)),
                self.updated_params(params, zero, zero))

    def expected_new(self, params: Params, t) -> np.ndarray:
        """Expected repeat purchases in (0, t] of a customer just acquired."""
        alive, updated = self.new_customer(params)
        return alive * self.future_expected(updated, t)

    def rate_new(self, params: Params, t) -> np.ndarray:
        """The purchase rate at t of a customer just acquired: the derivative of
        :meth:`expected_new` in t."""
        alive, updated = self.new_customer(params)
        return alive * np.exp(self.future_log_rate(updated, t))

    def pmf_new(self, params: Params, n: int, t) -> np.ndarray:
        """P(X(t) = n) of a customer just acquired."""
        alive, updated = self.new_customer(params)
        return alive * self.future_pmf(updated, n, t) + (1.0 - alive) * (n == 0)

    # ------------------------------------------------------------------------- simulation
    def simulate(self, params: Params, T: np.ndarray, holdout: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError


class SpendFamily(Family):
    """A spend model: the value of each purchase.

    Subclasses implement :meth:`expected_spend` and :meth:`simulate` besides the likelihood.
    """

    kind: ClassVar[str] = "spend"
    rfm_columns: ClassVar[tuple[str, ...]] = ("frequency", "monetary_value")
    unit_columns: ClassVar[tuple[str, ...]] = ("zbar",)
    scale_column: ClassVar[str] = "zbar"

    def log_likelihood_offset(self, fit_data: FitData, scale: float) -> float:
        """``-log(scale)`` per customer: the likelihood is a density in the mean spend."""
        return -float(np.log(scale) * fit_data.weights.sum())

    def spend_history(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Checked ``(frequency, monetary_value)`` arrays (recency and T play no part)."""
        check_rfm(data, recency_col=None, T_col=None, monetary_col="monetary_value")
        return (data["frequency"].to_numpy(dtype=float),
                data["monetary_value"].to_numpy(dtype=float))

    def expected_spend(self, params: Params, x, spend) -> np.ndarray:
        """Conditional expected spend per purchase given x purchases of mean ``spend``."""
        raise NotImplementedError

    def check_finite_mean(self, params: Params, owner: str) -> None:
        """Raise a ValueError (naming ``owner``) where the parameters give an infinite mean
        spend; by default they never do."""

    def simulate(self, params: Params, frequency: np.ndarray, rng: np.random.Generator
                 ) -> np.ndarray:
        """Each customer's mean spend over ``frequency`` purchases."""
        raise NotImplementedError


__all__ = ["CovariateLink", "Family", "FitColumns", "Parameter", "PurchaseFamily", "SpendFamily",
           "by_levels", "per_row_arrays", "scalar_params"]
