"""Maximum-likelihood fits with static covariates, for any family that declares covariate
links (:attr:`~clvmodels.estimation.family.Family.covariate_links`).

Per customer i each linked parameter is ``theta_i = theta * exp(sign * g_p' z_i)`` (``z_i``
the customer's design columns of process p, see :mod:`clvmodels.estimation.covariates`). The
log-likelihood is the family's per-row one at the per-row parameters, and its gradient the
chain rule through the family's ``log_likelihood_gradient`` (derivatives with respect to each
row's parameters): with ``D_ji = theta_ji dLL_i / dtheta_ji``,

- ``dLL / dlog(theta_j) = sum_i w_i D_ji``,
- ``dLL / dg_pk = sign_p sum_i w_i z_ik sum_{j linked to p} D_ji``.

The fit runs on distinct rows of (history, covariates) with weights, on data rescaled to a
typical value near 1 as without covariates, in coordinates where it is well conditioned: the
logarithms of the base parameters and the coefficients of centred and standardised design
columns. The reported estimate (base parameters at z = 0, coefficients on the user's scale)
and its covariance are a linear map of those (:class:`Coordinates`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from clvmodels.estimation.covariates import CovariateDesign, CovariateSpec
from clvmodels.estimation.family import Family
from clvmodels.estimation.fitdata import BLOCK_ROWS, FitData
from clvmodels.estimation.optimise import (
    LOG_PARAMETER_BOUND,
    UNIDENTIFIED_LOG_SE,
    difference_hessian,
    minimise_from,
)

#: Prefix of the FitData columns holding the design columns (on the user's scale).
COLUMN_PREFIX = "covariate:"
# An estimate within this distance of the search box's bound is on its edge.
_EDGE = 1e-6


@dataclass(frozen=True)
class Coordinates:
    """The optimiser's coordinates ``phi`` (log base parameters on the rescaled data,
    coefficients of the standardised columns, one per free coefficient) and the reported
    ones ``psi`` (log base parameters in the data's units at z = 0, every coefficient on the
    user's scale): ``psi = A phi + offset``.
    """

    family: Family
    design: CovariateDesign
    names: list[str]  # the reported coefficients
    positions: np.ndarray  # each one's design column
    signs: np.ndarray
    linked: np.ndarray  # (parameters, coefficients): 1 where the coefficient scales it
    tie: np.ndarray  # each reported coefficient's free coefficient
    n_free: int
    factors: np.ndarray  # parameter_scale of the data rescaling

    @classmethod
    def of(cls, family: Family, design: CovariateDesign, factors: np.ndarray) -> Coordinates:
        coefficients = design.coefficients(family)
        names = [name for name, _, _ in coefficients]
        linked = np.array([[float(parameter in link.parameters) for _, _, link in coefficients]
                           for parameter in family.param_names]).reshape(
                               len(family.parameters), len(coefficients))
        free, tie = design.free_coefficients(family)
        return cls(family, design, names,
                   np.array([position for _, position, _ in coefficients], dtype=np.int64),
                   np.array([link.sign for _, _, link in coefficients], dtype=float),
                   linked, tie, len(free), np.asarray(factors, dtype=float))

    @property
    def n_base(self) -> int:
        return len(self.family.parameters)

    def internal_coefficients(self, phi: np.ndarray) -> np.ndarray:
        """Every reported coefficient's value on the standardised columns."""
        return phi[self.n_base:][self.tie]

    def matrix(self) -> np.ndarray:
        """``A``: the derivative of ``psi`` in ``phi``."""
        n_base, n_coef = self.n_base, len(self.names)
        tie = np.zeros((n_coef, self.n_free))
        tie[np.arange(n_coef), self.tie] = 1.0
        user = tie / self.design.scales[self.positions][:, None]  # g_user = S T f
        # log theta_user = log theta_internal - sum_c sign_c center_c g_user_c (centring).
        shift = -self.linked * (self.signs * self.design.centers[self.positions])[None, :]
        return np.block([[np.eye(n_base), shift @ user],
                         [np.zeros((n_coef, n_base)), user]])

    def reported(self, phi: np.ndarray) -> np.ndarray:
        """``psi`` at ``phi``."""
        offset = np.concatenate([np.log(self.factors), np.zeros(len(self.names))])
        return self.matrix() @ phi + offset

    def per_row(self, base: np.ndarray, coefficients: np.ndarray, matrix: np.ndarray
                ) -> tuple[np.ndarray, ...]:
        """Each parameter per row (a scalar where no covariate scales it): ``base`` times
        ``exp(sum over its coefficients of sign * coefficient * column)`` of ``matrix``."""
        exponent = (matrix[:, self.positions] * (self.signs * coefficients)) @ self.linked.T
        return tuple(base[j] * np.exp(exponent[:, j]) if self.linked[j].any() else base[j]
                     for j in range(self.n_base))


class CovariateObjective:
    """Mean negative log-likelihood plus the L2 penalties in the optimiser's coordinates
    (see :class:`Coordinates`): ``objective(phi) -> (value, gradient)``. With ``compiled``
    the per-row likelihood is the family's compiled kernel
    (:meth:`~clvmodels.estimation.family.Family.compiled_row_gradient`) where it has one."""

    def __init__(self, coordinates: Coordinates, fit_data: FitData, penalizer: float,
                 compiled: bool = False) -> None:
        self.coordinates = coordinates
        self.fit_data = fit_data
        self.penalizer = penalizer
        family = coordinates.family
        # With ``compiled``, the family's compiled per-row kernel where it has one (the same
        # values and derivatives; the NumPy route stays the reference and the fallback).
        self.row_gradient = ((compiled and family.compiled_row_gradient())
                             or family.log_likelihood_gradient)
        design = coordinates.design
        self.blocks = [
            (block, design.standardised(np.column_stack(
                [block[COLUMN_PREFIX + name] for name in design.columns])))
            for block in fit_data.blocks()]
        self.total_weight = float(fit_data.weights.sum())
        spec = design.spec
        processes = [name.split(".", 1)[0] for name in coordinates.names]
        scale = design.scales[coordinates.positions] if spec.standardize else 1.0
        # Penalty sum_c lambda_c (t_c g_user_c)^2, t_c the column's sd with standardize.
        self.coefficient_weights = np.array(
            [spec.penalizer[process] for process in processes]) * scale**2

    def log_likelihood(self, phi: np.ndarray, with_gradient: bool = True):
        """The weighted total log-likelihood of the (rescaled) data and its gradient."""
        coordinates = self.coordinates
        base = np.exp(phi[:coordinates.n_base])
        coefficients = coordinates.internal_coefficients(phi)
        total, gradient_base = 0.0, np.zeros(coordinates.n_base)
        gradient_coefficients = np.zeros(len(coordinates.names))
        for block, standardised in self.blocks:
            params = coordinates.per_row(base, coefficients, standardised)
            rows, gradient = self.row_gradient(params, block)
            weights = block.weights
            total += float(weights @ rows)
            if not with_gradient:
                continue
            per_log = gradient * np.vstack([np.broadcast_to(p, rows.shape) for p in params])
            weighted = per_log * weights
            gradient_base += weighted.sum(axis=1)
            # Per coefficient: sign * sum_i z_ic * (sum of D_ji over its parameters j).
            linked_sum = coordinates.linked.T @ weighted  # (coefficients, rows)
            gradient_coefficients += coordinates.signs * np.einsum(
                "cr,rc->c", linked_sum, standardised[:, coordinates.positions])
        if not with_gradient:
            return total, None
        free = np.bincount(coordinates.tie, gradient_coefficients, coordinates.n_free)
        return total, np.concatenate([gradient_base, free])

    def penalty(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        """The penalties at ``phi`` and their gradient in ``phi``, applied to the reported
        parameters (base parameters in the data's units, coefficients as set by
        ``standardize``)."""
        coordinates = self.coordinates
        psi = coordinates.reported(phi)
        n_base = coordinates.n_base
        value, gradient_psi = 0.0, np.zeros(len(psi))
        if self.penalizer:
            squared = np.exp(2 * psi[:n_base])
            value += self.penalizer * squared.sum()
            gradient_psi[:n_base] = 2 * self.penalizer * squared
        coefficients = psi[n_base:]
        value += float(self.coefficient_weights @ coefficients**2)
        gradient_psi[n_base:] = 2 * self.coefficient_weights * coefficients
        return value, coordinates.matrix().T @ gradient_psi

    def __call__(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(all="ignore"):
            total, gradient = self.log_likelihood(phi)
            penalty, penalty_gradient = self.penalty(phi)
        value = -total / self.total_weight + penalty
        return value, -gradient / self.total_weight + penalty_gradient

    def describe(self, phi: np.ndarray) -> dict[str, float]:
        """The reported parameters at ``phi`` by name (for messages)."""
        psi = self.coordinates.reported(phi)
        n_base = self.coordinates.n_base
        values = np.concatenate([np.exp(psi[:n_base]), psi[n_base:]])
        names = [*self.coordinates.family.param_names, *self.coordinates.names]
        return dict(zip(names, values.tolist(), strict=True))


@dataclass(frozen=True)
class CovariateFit:
    """The result of :func:`fit_with_covariates`: the estimate (base parameters, then the
    coefficients), its covariance, the log-likelihood, the free parameters' count and why it
    is degenerate (empty if it is not)."""

    params: pd.Series
    covariance: pd.DataFrame
    log_likelihood: float
    n_free: int
    problems: tuple[str, ...]


def fit_with_covariates(family: Family, design: CovariateDesign, fit_data: FitData,
                        start: np.ndarray, penalizer: float, owner: str) -> CovariateFit:
    """Maximise the penalised likelihood with covariates from the base parameters ``start``
    (in the data's units) and coefficients 0, on the data rescaled as without covariates
    (:func:`~clvmodels.estimation.optimise.fit_maximum_likelihood`); a ``ConvergenceError``
    naming ``owner`` when neither optimiser converges."""
    scale = family.data_scale(fit_data)
    factors, rescaled = family.parameter_scale(scale), family.rescaled(fit_data, scale)
    coordinates = Coordinates.of(family, design, factors)
    objective = CovariateObjective(coordinates, rescaled, penalizer)
    start_phi = np.concatenate([np.log(np.asarray(start, dtype=float) / factors),
                                np.zeros(coordinates.n_free)])
    phi = minimise_from(objective, start_phi, owner)
    return covariate_estimate(objective, phi, family.log_likelihood_offset(fit_data, scale))


def covariate_estimate(objective: CovariateObjective, phi: np.ndarray,
                       offset: float = 0.0) -> CovariateFit:
    """The reported estimate at the optimiser's ``phi`` of ``objective``: the parameters,
    their covariance from the observed information, the log-likelihood (plus the known
    ``offset`` of rescaled data) and the diagnosis."""
    coordinates = objective.coordinates
    family, design = coordinates.family, coordinates.design
    total = objective.log_likelihood(phi, with_gradient=False)[0]
    information = objective.total_weight * difference_hessian(lambda p: objective(p)[1], phi)
    transform = coordinates.matrix()
    psi = coordinates.reported(phi)
    n_base = coordinates.n_base
    natural = np.concatenate([np.exp(psi[:n_base]), psi[n_base:]])
    names = [*family.param_names, *coordinates.names]
    try:
        cov_phi = np.linalg.inv(information)
        finite = np.all(np.isfinite(cov_phi)) and np.all(np.diag(cov_phi) > 0)
    except np.linalg.LinAlgError:
        finite = False
    if finite:
        # Base parameters are exp(psi): their covariance is J C J with J = diag(theta).
        jacobian = np.diag(np.concatenate([natural[:n_base], np.ones(len(psi) - n_base)]))
        cov = jacobian @ transform @ cov_phi @ transform.T @ jacobian
    else:
        cov = np.full((len(names), len(names)), np.nan)
    problems = [f"{name} = {value:.4g} is on the edge of the search box"
                for name, value, internal in zip(
                    [*family.param_names, *coordinates.names], natural,
                    np.concatenate([phi[:n_base], coordinates.internal_coefficients(phi)]),
                    strict=True)
                if abs(internal) >= LOG_PARAMETER_BOUND - _EDGE]
    if not finite:
        problems.append("the standard errors are not finite (the observed information is "
                        "singular: the likelihood is flat in some direction)")
    else:
        problems += hardly_determined(names, n_base, np.sqrt(np.diag(cov)), natural,
                                      design.scales[coordinates.positions])
    return CovariateFit(
        params=pd.Series(natural, index=names, name="estimate"),
        covariance=pd.DataFrame(cov, index=names, columns=names),
        log_likelihood=float(total + offset),
        n_free=n_base + coordinates.n_free,
        problems=tuple(problems),
    )


def hardly_determined(names: list[str], n_base: int, std_error: np.ndarray,
                      estimate: np.ndarray, column_scales: np.ndarray) -> list[str]:
    """The parameters the data hardly determine, by the rule of the fits without covariates
    (:data:`~clvmodels.estimation.optimise.UNIDENTIFIED_LOG_SE`): a base parameter whose
    log has a standard error above it, a coefficient whose standard error per standard
    deviation of its column (the change of the log-parameter it stands for) is above it."""
    log_scale = np.concatenate([std_error[:n_base] / estimate[:n_base],
                                std_error[n_base:] * column_scales])
    return [f"the data hardly determine {name} (standard error of log "
            f"{name if k < n_base else 'its effect per standard deviation'} {se:.3g})"
            for k, (name, se) in enumerate(zip(names, log_scale, strict=True))
            if se > UNIDENTIFIED_LOG_SE]


def customer_params(family: Family, design: CovariateDesign, params: pd.Series,
                    table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each covariate-linked parameter per customer of ``table`` (by parameter name), from a
    fitted estimate: ``theta * exp(sign * g' z)`` on the user's scale."""
    coordinates = Coordinates.of(family, design, family.parameter_scale(1.0))
    base = params[list(family.param_names)].to_numpy(dtype=float)
    coefficients = params[coordinates.names].to_numpy(dtype=float)
    values = coordinates.per_row(base, coefficients, design.matrix(table))
    return {name: value for name, value, linked in zip(
        family.param_names, values, coordinates.linked.any(axis=1), strict=True) if linked}


def parameters_per_row(family: Family, params: pd.Series,
                       per_customer: dict[str, np.ndarray]) -> tuple:
    """The family's parameter tuple with the per-customer arrays in place of the estimate."""
    return tuple(per_customer.get(name, float(params[name])) for name in family.param_names)


def held_out_log_likelihood(family: Family, design: CovariateDesign, params: pd.Series,
                            data: pd.DataFrame, weights: np.ndarray) -> float:
    """The log-likelihood of a table with the customers' covariates, in blocks of rows."""
    selection = family.fit_columns(data)
    rows = np.flatnonzero(selection.rows)
    per_customer = customer_params(family, design, params, data.iloc[rows])
    total = 0.0
    for start in range(0, len(rows), BLOCK_ROWS):
        block = slice(start, start + BLOCK_ROWS)
        block_data = FitData({name: column[block] for name, column in
                              selection.columns.items()}, weights[rows][block])
        block_params = parameters_per_row(
            family, params, {name: values[block] for name, values in per_customer.items()})
        with np.errstate(all="ignore"):
            total += float(block_data.weights @ family.log_likelihood(block_params, block_data))
    return total


def summary_table(family: Family, params: pd.Series, covariance: pd.DataFrame,
                  level: float) -> pd.DataFrame:
    """Estimate, standard error and interval per parameter: on the log scale for the base
    parameters (positive), symmetric (Wald) for the coefficients (real)."""
    std_error = pd.Series(np.sqrt(np.diag(covariance.to_numpy())), index=params.index)
    z = stats.norm.ppf(0.5 + level / 2)
    base = params.index.isin(family.param_names)
    spread = np.exp(z * std_error / params)
    lower = np.where(base, params / spread, params - z * std_error)
    upper = np.where(base, params * spread, params + z * std_error)
    return pd.DataFrame({"estimate": params, "std_error": std_error,
                         f"lower_{level:.0%}": lower, f"upper_{level:.0%}": upper})


__all__ = ["COLUMN_PREFIX", "CovariateFit", "CovariateObjective", "CovariateSpec",
           "Coordinates", "covariate_estimate", "customer_params", "fit_with_covariates",
           "held_out_log_likelihood", "parameters_per_row", "summary_table"]
