"""Maximum-likelihood optimisation of any family, in log-parameters.

:func:`fit_maximum_likelihood` fits a family on data rescaled to a typical value near 1 (the
families are scale-equivariant, see :meth:`~clvmodels.estimation.family.Family.rescaled`), maps
the estimate back and diagnoses it. :class:`Objective` is the mean penalised negative
log-likelihood of a family on distinct weighted rows, evaluated in blocks; :func:`optimise`
finds its minimum within the search box ``|log parameter| <= LOG_PARAMETER_BOUND`` with
L-BFGS-B (Nelder-Mead when that fails), or, on very many distinct rows, with quasi-Newton
steps from the fit of a subset (ending with a Newton step on the analytic Hessian where the
family has one), and returns the Hessian there for the standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from scipy import optimize

from clvmodels.errors import ConvergenceError
from clvmodels.estimation.family import Family
from clvmodels.estimation.fitdata import FitData

# Above four times this many distinct rows a fit starts from a fit of a random subset of this
# size (see subsample_newton) ...
WARM_START_ROWS = 50_000
# ... and, with an analytic Hessian, from a subset this many times smaller than the data, at
# most WARM_START_ROWS and at least the smallest size (see _warm_start_rows); that subset's
# fit comes the same way (Newton steps on the larger subset cost less than a quasi-Newton
# search on it).
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
# With an analytic Hessian the quasi-Newton steps (gradient only, a third of the cost) run
# until a step is below this; the error left after it (BFGS: a small fraction of the step)
# is then below _NEWTON_LAST_STEP, so one Newton step on the exact Hessian ends the fit.
_EXACT_FROM = 1e-4
# L-BFGS-B stops when the projected gradient of the mean objective is below this, or its
# relative decrease below ftol; Nelder-Mead, the fallback, on the simplex's size.
_L_BFGS_B_OPTIONS = {"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10}
_NELDER_MEAD_OPTIONS = {"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-14}
#: The search box: every parameter within a factor 1e10 of 1, on data rescaled to a typical
#: value near 1 (the time and money parameters relative to the data's own scale). Sensible
#: estimates lie far inside; an estimate on its edge means the likelihood still rises towards
#: a limit of the model (e.g. no heterogeneity, or no dropout): a degenerate fit.
LOG_PARAMETER_BOUND = float(np.log(1e10))
# An estimate within this distance (in log) of the bound is on the edge.
_EDGE = 1e-6
# A standard error of a log-parameter above this (a 95% interval spanning a factor e**19.6,
# 3e8) means the data hardly determine the parameter: the likelihood is flat along a ridge.
UNIDENTIFIED_LOG_SE = 5.0


class Objective:
    """Mean negative log-likelihood plus an L2 penalty, in log-parameters.

    ``objective(log_params)`` returns ``(value, gradient)``; with ``hessian=True`` and a
    family with an analytic Hessian also the Hessian. Sums run over the rows' blocks.
    """

    def __init__(self, family: Family, fit_data: FitData, penalizer: float = 0.0,
                 parameter_scale: np.ndarray | None = None) -> None:
        self.family = family
        self.fit_data = fit_data
        self.penalizer = penalizer
        # On rescaled data (see fit_maximum_likelihood) the penalty still applies to the
        # parameters in the data's own units: these factors map them back.
        self.parameter_scale = (np.ones(len(family.parameters)) if parameter_scale is None
                                else np.asarray(parameter_scale, dtype=float))
        #: How :func:`optimise` last converged on this objective (see there).
        self.trace: dict = {}

    def on(self, fit_data: FitData) -> Objective:
        """The same objective on other data (a subset)."""
        return Objective(self.family, fit_data, self.penalizer, self.parameter_scale)

    def __call__(self, log_params: np.ndarray, hessian: bool = False) -> tuple:
        params = np.exp(log_params)
        total_weight = self.fit_data.weights.sum()
        hessian = hessian and self.family.has_hessian
        with np.errstate(all="ignore"):
            # Without a penalty none is computed: 0 * inf would be NaN for parameters beyond
            # the float range in the data's units.
            squared_scale = self.parameter_scale**2 if self.penalizer else 0.0
            penalty = self.penalizer * np.sum(squared_scale * params**2) if self.penalizer else 0.0
            parts = [self.family.derivatives(params, block, hessian=hessian)
                     for block in self.fit_data.blocks()]
            value = -sum(part[0] for part in parts) / total_weight + penalty
            grad_natural = (-sum(part[1] for part in parts) / total_weight
                            + 2.0 * self.penalizer * squared_scale * params)
            # Chain rule for theta = exp(log_theta).
            gradient = grad_natural * params
            if not hessian:
                return value, gradient
            hess_natural = (-sum(part[2] for part in parts) / total_weight
                            + 2.0 * self.penalizer * np.diag(
                                np.broadcast_to(squared_scale, params.shape)))
            return value, gradient, params[:, None] * hess_natural * params + np.diag(gradient)

    def hessian(self, log_params: np.ndarray) -> np.ndarray:
        """The Hessian in log-parameters: the family's analytic one, else central differences
        of the gradient (2n evaluations). A gradient accurate to ~1e-8 relative (a family whose
        gradient comes from quadrature, e.g. the GGompertz/NBD) gives errors ~1e-8 / h plus the
        truncation ~h**2: with h = 1e-3 about 1e-5 relative, ample for standard errors."""
        if self.family.has_hessian:
            return self(log_params, hessian=True)[2]
        return difference_hessian(lambda point: self(point)[1], log_params)

    def describe(self, log_params: np.ndarray) -> dict[str, float]:
        """The parameters at ``log_params`` in the data's units, by name (for messages)."""
        natural = np.exp(log_params) * self.parameter_scale
        return dict(zip(self.family.param_names, natural.tolist(), strict=True))


def difference_hessian(gradient, point: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """The symmetrised central differences of ``gradient`` at ``point`` (2n evaluations), with
    step ``h`` in coordinates of order 1 (see :meth:`Objective.hessian` for its accuracy)."""
    columns = [gradient(point + step) - gradient(point - step)
               for step in np.eye(len(point)) * h]
    hessian = np.column_stack(columns) / (2 * h)
    return 0.5 * (hessian + hessian.T)


@dataclass(frozen=True)
class MaximumLikelihood:
    """The result of :func:`fit_maximum_likelihood`.

    Attributes
    ----------
    params : ndarray
        The estimate, in the data's units.
    log_likelihood : float
        The log-likelihood of the data there (without the penalty).
    information : ndarray
        The observed information (negative Hessian of the total log-likelihood) of the
        log-parameters, which rescaling does not change.
    problems : tuple of str
        Why the estimate is degenerate (empty if it is not): see :func:`diagnose`.
    convergence : dict
        How the optimiser got there (see :func:`optimise`).
    """

    params: np.ndarray
    log_likelihood: float
    information: np.ndarray
    problems: tuple[str, ...]
    convergence: dict = field(default_factory=dict)


def fit_maximum_likelihood(family: Family, fit_data: FitData, start: np.ndarray,
                           penalizer: float, owner: str) -> MaximumLikelihood:
    """Maximise the (penalised) likelihood of ``fit_data`` from ``start`` (in the data's units).

    The fit runs on the data divided by :meth:`Family.data_scale` (a power of two, so exactly),
    where every parameter is of order 1 whatever the data's unit: times of 1e9 time units or
    spends of 1e300 fit like weeks and dollars. The estimate's parameters in the data's unit
    are multiplied back; the others, the standard errors of log-parameters and so the
    intervals of all are unchanged; the log-likelihood of the data is that of the rescaled data
    plus :meth:`Family.log_likelihood_offset`. The penalty applies to the parameters in the
    data's units, as without rescaling.

    Raises
    ------
    ConvergenceError
        If the optimiser finds no maximum (``owner`` names the model).
    """
    scale = family.data_scale(fit_data)
    factors = family.parameter_scale(scale)
    objective = Objective(family, family.rescaled(fit_data, scale), penalizer, factors)
    scaled, value, hessian = optimise(objective, np.asarray(start, dtype=float) / factors,
                                      owner)
    params = scaled * factors
    total_weight = fit_data.weights.sum()
    penalty = penalizer * np.sum(params**2) if penalizer else 0.0
    information = total_weight * hessian
    return MaximumLikelihood(
        params=params,
        log_likelihood=float(total_weight * (penalty - value)
                             + family.log_likelihood_offset(fit_data, scale)),
        information=information,
        problems=diagnose(family, np.log(scaled), params, information),
        convergence=dict(objective.trace),
    )


def diagnose(family: Family, log_scaled: np.ndarray, params: np.ndarray,
             information: np.ndarray) -> tuple[str, ...]:
    """What makes an estimate degenerate, one phrase each: a parameter on the edge of the
    search box (``log_scaled`` are the log-parameters on the rescaled data), standard errors
    that are not finite (singular information), a log-parameter with a standard error above
    ``UNIDENTIFIED_LOG_SE``."""
    names = family.param_names
    problems = [
        f"{name} = {value:.4g} is on the edge of the search box (within a factor "
        f"{np.exp(LOG_PARAMETER_BOUND):.0e} of 1 on data rescaled to a typical "
        f"{family.scale_column} of 1)"
        for name, value, log_value in zip(names, params, log_scaled, strict=True)
        if abs(log_value) >= LOG_PARAMETER_BOUND - _EDGE
    ]
    log_se = np.sqrt(np.diag(covariance(np.ones(len(names)), information, names).to_numpy()))
    if not np.all(np.isfinite(log_se)):
        problems.append("the standard errors are not finite (the observed information is "
                        "singular: the likelihood is flat in some direction)")
    else:
        problems += [
            f"the data hardly determine {name} (standard error of log {name} {se:.3g}: its "
            f"95% interval spans a factor {_factor(2 * 1.96 * se)})"
            for name, se in zip(names, log_se, strict=True) if se > UNIDENTIFIED_LOG_SE
        ]
    return tuple(problems)


def _factor(log_factor: float) -> str:
    return f"{np.exp(log_factor):.1e}" if log_factor < 700 else "beyond 1e300"


def degenerate_fit_message(owner: str, problems: tuple[str, ...]) -> str:
    """The text of the :class:`~clvmodels.DegenerateFitWarning` of a fit with these problems."""
    return (
        f"{owner}: degenerate fit: " + "; ".join(problems) + ". The likelihood has no proper "
        "maximum inside the model, so the estimate is a limit the optimiser stopped at "
        "(degenerate data: e.g. customers all alike, purchases all at the end of the period, "
        "a few extreme customers or dates). Check the data, or add a small penalizer "
        "(e.g. 0.001)"
    )


def optimise(objective: Objective, start: np.ndarray, owner: str) -> tuple:
    """The maximum likelihood parameters within the search box, with the objective and its
    Hessian (in log-parameters) there. ``owner`` names the model in a ConvergenceError.

    How it converged is left in ``objective.trace``: ``method`` (with L-BFGS-B or
    Nelder-Mead also its ``status`` and ``iterations``) and the ``gradient norm`` of the mean
    objective in log-parameters at the estimate (0 at an interior maximum, up to the
    optimiser's tolerance)."""
    trace = objective.trace
    trace.clear()
    start = np.exp(np.clip(np.log(start), -LOG_PARAMETER_BOUND, LOG_PARAMETER_BOUND))
    params = evaluation = None
    n_rows = objective.fit_data.n_rows
    sample_rows = (_warm_start_rows(n_rows) if objective.family.has_hessian
                   else WARM_START_ROWS * (n_rows > 4 * WARM_START_ROWS))
    if sample_rows:
        newton = subsample_newton(objective, start, owner, sample_rows)
        if newton is not None and np.all(np.abs(np.log(newton[0])) <= LOG_PARAMETER_BOUND):
            params, evaluation = newton
            trace["method"] = "Newton steps from a subset's fit"
    if params is None:
        params = maximise(objective, start, owner, trace)
    # One evaluation at the maximum gives the likelihood and the Hessian, or the base of its
    # finite differences (the Newton steps end with one).
    log_params = np.log(params)
    value, gradient, *hessian = evaluation or objective(
        log_params, hessian=objective.family.has_hessian)
    trace["gradient norm"] = float(np.linalg.norm(gradient))
    if not hessian:
        hessian = [objective.hessian(log_params)]
    return params, value, hessian[0]


def maximise(objective: Objective, start: np.ndarray, owner: str,
             trace: dict | None = None) -> np.ndarray:
    """L-BFGS-B with the analytic gradient, then Nelder-Mead from where it stopped (``trace``:
    see :func:`minimise_from`)."""
    return np.exp(minimise_from(objective, np.log(start), owner, trace))


def minimise_from(objective: Objective, x0: np.ndarray, owner: str,
                  trace: dict | None = None) -> np.ndarray:
    """The minimum of ``objective`` (``x -> (value, gradient)``, with ``describe(x)`` for the
    message) within the search box, from ``x0``: L-BFGS-B, then Nelder-Mead. ``trace``, when
    given, receives the ``method`` that converged, its ``status`` and ``iterations``.

    Raises
    ------
    ConvergenceError
        If neither converges (``owner`` names the model).
    """

    def fun(log_params, with_gradient=True):
        value, grad = objective(log_params)
        if not np.isfinite(value):
            value = np.inf
        return (value, grad) if with_gradient else value

    attempts = []
    start = x0
    bounds = [(-LOG_PARAMETER_BOUND, LOG_PARAMETER_BOUND)] * len(x0)
    for method in ("L-BFGS-B", "Nelder-Mead"):
        gradient_based = method == "L-BFGS-B"
        result = optimize.minimize(
            fun if gradient_based else partial(fun, with_gradient=False), x0,
            jac=gradient_based or None, method=method, bounds=bounds,
            options=_L_BFGS_B_OPTIONS if gradient_based else _NELDER_MEAD_OPTIONS,
        )
        attempts.append(f"{method}: {result.message} (objective {result.fun:.6g})")
        if np.isfinite(result.fun) and (result.success or is_stationary(objective, result.x)):
            if trace is not None:
                trace.update(method=method, status=str(result.message),
                             iterations=int(result.get("nit", 0)))
            return result.x
        if np.isfinite(result.fun) and np.all(np.isfinite(result.x)):
            x0 = result.x  # restart the next method from where this one got to
    raise ConvergenceError(
        f"{owner}: the likelihood maximisation did not converge. Tried "
        + "; ".join(attempts)
        + f". Started from {objective.describe(start)}. "
        "Check that the data hold "
        "enough repeat buyers and consistent time units, try other initial_params, or add a "
        "small penalizer (e.g. 0.001)."
    )


def is_stationary(objective: Objective, log_params: np.ndarray) -> bool:
    """Whether the objective is flat to rounding at a point (L-BFGS-B's ABNORMAL exits)."""
    gradient = optimize.approx_fprime(log_params, lambda p: objective(p)[0], 1e-7)
    return bool(np.all(np.abs(gradient) < 1e-5))


def subsample_newton(objective: Objective, start: np.ndarray, owner: str,
                     sample_rows: int = WARM_START_ROWS) -> tuple[np.ndarray, tuple] | None:
    """The maximum for data with very many distinct rows, in few full-data evaluations.

    Fits a random subset of ``sample_rows`` rows, then takes quasi-Newton steps on the full
    data from the subset's Hessian (the mean objectives of the two have nearly the same
    curvature), with BFGS updates, which converge superlinearly from the first step; each
    needs the gradient alone. With the family's analytic Hessian (the subset's own fit then
    comes the same way from a subset ``_WARM_START_LADDER`` times smaller), once a step is
    below ``_EXACT_FROM`` the next point is evaluated with the Hessian, and Newton steps take
    over (quadratic convergence; the Hessian is the one the standard errors need anyway).
    Returns None unless they converge (the caller then runs the general optimiser); else the
    parameters and the objective's evaluation (value, gradient and, with an analytic Hessian,
    the Hessian) at the last point evaluated, which is within the tolerance of them.
    """
    exact = objective.family.has_hessian
    sample = objective.on(objective.fit_data.subsample(sample_rows))
    smaller = _warm_start_rows(sample.fit_data.n_rows) if exact else 0
    warm = subsample_newton(sample, start, owner, smaller) if smaller else None
    if warm is not None:
        log_params = np.log(warm[0])
        # The subset's Hessian at its last evaluation (within 1e-5 of its maximum), unless
        # its fit converged before it needed one.
        curvature = warm[1][2] if len(warm[1]) > 2 else sample.hessian(log_params)
    else:
        try:
            log_params = np.log(maximise(sample, start, owner))
        except ConvergenceError:  # the full data may still be fine: leave it to the caller
            return None
        curvature = sample.hessian(log_params)
    evaluation = objective(log_params)
    with_hessian = False
    for _ in range(_NEWTON_STEPS):
        value, gradient = evaluation[:2]
        try:
            step = np.linalg.solve(curvature, gradient)
        except np.linalg.LinAlgError:
            return None
        size = np.max(np.abs(step))
        if size < _NEWTON_TOLERANCE:
            # Converged: the point last evaluated is within the tolerance of the maximum.
            return np.exp(log_params), evaluation
        if with_hessian and size < _NEWTON_LAST_STEP:
            return np.exp(log_params - step), evaluation
        with_hessian = exact and (with_hessian or size < _EXACT_FROM)
        new = objective(log_params - step, hessian=with_hessian)
        if not new[0] <= value + 1e-12 * abs(value):  # also stops on NaN
            return None
        if with_hessian:
            curvature = new[2]
        else:  # BFGS update: corrects the subset's curvature along the step just taken.
            change, curvature_step = new[1] - gradient, curvature @ step
            if change @ step < 0:  # (moving by -step)
                curvature = (
                    curvature - np.outer(change, change) / (change @ step)
                    - np.outer(curvature_step, curvature_step) / (step @ curvature_step))
        log_params, evaluation = log_params - step, new
    return None


def _warm_start_rows(n_rows: int) -> int:
    """The size of the subset whose fit starts a fit of ``n_rows`` distinct rows with an
    analytic Hessian (0: fit them directly). A warm start costs a fit of the subset plus a
    few gradient evaluations and one Hessian on all rows: worth it from
    ``_SMALLEST_WARM_START_ROWS * _WARM_START_LADDER`` rows, where a quasi-Newton search on
    all of them needs ~25 evaluations."""
    sample_rows = min(WARM_START_ROWS, n_rows // _WARM_START_LADDER)
    return sample_rows if sample_rows >= _SMALLEST_WARM_START_ROWS else 0


def covariance(params: np.ndarray, information: np.ndarray, names: tuple[str, ...]
               ) -> pd.DataFrame:
    """Inverse observed information, given in log-parameters.

    Working in log-parameters keeps finite-difference steps well scaled; at the maximum the
    gradient is zero, so the covariance of the natural parameters is ``J C J`` with
    ``J = diag(params)``. All NaN when the information is singular (no standard errors); inf
    where a variance exceeds the float range (a spend scale of 1e300).
    """
    n = len(params)
    try:
        cov_log = np.linalg.inv(information)
    except np.linalg.LinAlgError:
        cov_log = np.full((n, n), np.nan)
    if not np.all(np.isfinite(cov_log)) or np.any(np.diag(cov_log) <= 0):
        cov_log = np.full((n, n), np.nan)
    jacobian = np.diag(params)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond the float range: inf
        natural = jacobian @ cov_log @ jacobian
    return pd.DataFrame(natural, index=list(names), columns=list(names))


__all__ = ["LOG_PARAMETER_BOUND", "UNIDENTIFIED_LOG_SE", "MaximumLikelihood", "Objective",
           "covariance", "degenerate_fit_message", "diagnose", "difference_hessian",
           "fit_maximum_likelihood", "maximise", "minimise_from", "optimise"]
