"""What a posterior with static covariates needs, without PyMC: the likelihood of the reported
parameters with its gradient, and each customer's parameters at every posterior draw.

The parameters are reported as the maximum-likelihood fit reports them (see
:mod:`clvmodels.estimation.covariate_fit`): the family's base parameters at z = 0, in the
data's units, and one coefficient per design column on the user's scale, ``psi = (log theta,
g)``. The samplers move in the better conditioned coordinates ``phi`` of the
maximum-likelihood fit (log base parameters on the rescaled data at the mean profile,
coefficients of the standardised columns), a linear map of ``psi`` with a constant Jacobian
(:class:`~clvmodels.estimation.covariate_fit.Coordinates`), so a density in one is the density
in the other up to a constant.

Predictions evaluate ``theta_i^(d) = theta^(d) exp(sign * g^(d)' z_i)`` per draw d and
customer i: :class:`CovariateDraws` carries the draws of the base parameters (one ``(draws,
1)`` array each, as every prediction takes them) and of the coefficients, and makes the
``(draws, rows)`` parameters of one block of distinct covariate profiles at a time
(:func:`clvmodels.estimation.predictions.block_params`), so memory stays bounded by the block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clvmodels.estimation.covariate_fit import (
    COLUMN_PREFIX,
    Coordinates,
    CovariateObjective,
    held_out_log_likelihood,
)
from clvmodels.estimation.covariates import CovariateDesign
from clvmodels.estimation.family import Family
from clvmodels.estimation.fitdata import FitData
from clvmodels.timeunit import check_same_unit
from clvmodels.validation import ValidationError

#: Default prior sd of a coefficient of a standardised design column: Normal(0, 1), so a change
#: of one standard deviation of a covariate scales a parameter by a factor within
#: exp(+-1.96) ~ 7 with 95% prior probability -- wide against the effects CLV data show (the
#: apparel fit's largest is a factor ~1.5 per sd) and against the gamma heterogeneity the base
#: parameters already describe, yet it keeps a coefficient the data hardly determine (a level
#: with few customers) from wandering to +-30.
COEFFICIENT_PRIOR_SIGMA = 1.0


@dataclass(frozen=True)
class CovariateLikelihood:
    """The family's likelihood with covariates as a function of the reported parameters
    (``values``: base parameters, then coefficients) or of the sampler's coordinates ``phi``.

    Attributes
    ----------
    names : list of str
        The reported parameters: the family's, then ``<process>.<design column>``.
    """

    coordinates: Coordinates
    objective: CovariateObjective
    matrix: np.ndarray  # A: psi = A phi + offset
    inverse: np.ndarray
    offset: np.ndarray

    @classmethod
    def of(cls, family: Family, design: CovariateDesign, fit_data: FitData
           ) -> CovariateLikelihood:
        """The likelihood of ``fit_data`` (rows with the design's ``covariate:`` columns) on
        data rescaled as the maximum-likelihood fit rescales it."""
        scale = family.data_scale(fit_data)
        factors = family.parameter_scale(scale)
        coordinates = Coordinates.of(family, design, factors)
        if coordinates.n_free != len(coordinates.names):
            raise ValueError("a posterior with covariates takes no constrained coefficients")
        # The samplers call it thousands of times: the compiled per-row kernel where the
        # family has one.
        objective = CovariateObjective(coordinates, family.rescaled(fit_data, scale), 0.0,
                                       compiled=True)
        matrix = coordinates.matrix()
        offset = coordinates.reported(np.zeros(matrix.shape[1]))
        return cls(coordinates, objective, matrix, np.linalg.inv(matrix), offset)

    @property
    def family(self) -> Family:
        return self.coordinates.family

    @property
    def n_base(self) -> int:
        return self.coordinates.n_base

    @property
    def names(self) -> list[str]:
        return [*self.family.param_names, *self.coordinates.names]

    def default_coefficient_sds(self) -> np.ndarray:
        """Each coefficient's default prior sd on the user's scale: ``COEFFICIENT_PRIOR_SIGMA``
        on the standardised column, divided by the column's standard deviation."""
        scales = self.coordinates.design.scales[self.coordinates.positions]
        return COEFFICIENT_PRIOR_SIGMA / scales

    # ------------------------------------------------------------------------ coordinates
    def reported(self, phi: np.ndarray) -> np.ndarray:
        """``psi = (log theta, g)`` at the sampler's coordinates."""
        return self.matrix @ phi + self.offset

    def internal(self, psi: np.ndarray) -> np.ndarray:
        """The sampler's coordinates at ``psi``."""
        return self.inverse @ (psi - self.offset)

    def natural(self, psi: np.ndarray) -> np.ndarray:
        """The reported values at ``psi``: base parameters exponentiated, coefficients as
        they are."""
        return np.concatenate([np.exp(psi[:self.n_base]), psi[self.n_base:]])

    def start(self, medians: np.ndarray) -> np.ndarray:
        """``psi`` of the base parameters at ``medians`` and every coefficient 0."""
        return np.concatenate([np.log(np.asarray(medians, dtype=float)),
                               np.zeros(len(self.coordinates.names))])

    # ------------------------------------------------------------------------ likelihood
    def at_internal(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        """The weighted total log-likelihood (of the rescaled data: a constant apart from
        that of the data) and its gradient in ``phi``; -inf where it is not finite."""
        with np.errstate(all="ignore"):
            total, gradient = self.objective.log_likelihood(phi)
        if not (np.isfinite(total) and np.all(np.isfinite(gradient))):
            return -np.inf, np.zeros(len(phi))
        return float(total), gradient

    def at_values(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        """The log-likelihood and its gradient in the reported values (base parameters in
        the data's units, coefficients on the user's scale)."""
        values = np.asarray(values, dtype=float)
        base = values[:self.n_base]
        if not np.all(base > 0):
            return -np.inf, np.zeros(len(values))
        psi = np.concatenate([np.log(base), values[self.n_base:]])
        total, gradient_phi = self.at_internal(self.internal(psi))
        gradient_psi = self.inverse.T @ gradient_phi
        gradient_psi[:self.n_base] /= base
        return total, gradient_psi


def design_columns(design: CovariateDesign, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """The design columns of ``table`` (user's scale) as fit-data columns ``covariate:<name>``:
    what a customer's parameters depend on besides the draws."""
    matrix = design.matrix(table)
    return {COLUMN_PREFIX + name: matrix[:, k] for k, name in enumerate(design.columns)}


class CovariateDraws(tuple):
    """The draws of a model with covariates: a tuple of the base parameters' ``(draws, 1)``
    arrays, as every prediction takes the draws, that also holds the coefficients' draws.

    :meth:`block` gives the parameters of a block of rows whose design columns are columns
    of the rows (named ``"<kind> covariate:<column>"``, see
    :func:`clvmodels.estimation.predictions.varying_columns`): a ``(draws, rows)`` array per
    linked parameter, the ``(draws, 1)`` draws for the others.
    """

    coordinates: Coordinates
    coefficients: np.ndarray  # (draws, coefficients), on the user's scale

    def __new__(cls, base: tuple[np.ndarray, ...], coefficients: np.ndarray,
                coordinates: Coordinates) -> CovariateDraws:
        draws = super().__new__(cls, base)
        draws.coordinates = coordinates
        draws.coefficients = np.asarray(coefficients, dtype=float)
        return draws

    def block(self, kind: str, columns: Mapping[str, np.ndarray], block: slice) -> tuple:
        """Each parameter on the rows ``block`` of ``columns`` (see the class)."""
        coordinates = self.coordinates
        design = coordinates.design
        matrix = np.column_stack([columns[f"{kind} {COLUMN_PREFIX}{name}"][block]
                                  for name in design.columns])
        profile = matrix[:, coordinates.positions]  # (rows, coefficients)
        signed = self.coefficients * coordinates.signs  # (draws, coefficients)
        params = []
        for j, value in enumerate(self):
            linked = coordinates.linked[j]
            if linked.any():
                params.append(value * np.exp((signed * linked) @ profile.T))
            else:
                params.append(value)
        return tuple(params)


def covariate_draws(family: Family, design: CovariateDesign, table: pd.DataFrame
                    ) -> CovariateDraws:
    """The draws of a posterior table (one row per draw, the reported parameters' columns)
    as :class:`CovariateDraws`."""
    coordinates = Coordinates.of(family, design, family.parameter_scale(1.0))
    base = table[list(family.param_names)].to_numpy(dtype=float)
    coefficients = table[coordinates.names].to_numpy(dtype=float)
    return CovariateDraws(tuple(base[:, [j]] for j in range(base.shape[1])), coefficients,
                          coordinates)


def log_likelihood_with_covariates(model: Any, data: pd.DataFrame, weights: np.ndarray
                                   ) -> float:
    """The log-likelihood of a table (with checked ``weights``, one per row) at a fitted
    model's ``params_`` (base parameters and coefficients), each customer at their own
    parameters; a table in another time unit is refused."""
    model.check_fitted()
    check_same_unit(type(model).__name__, model.time_unit_, data)
    return held_out_log_likelihood(model.family, model.covariate_design, model.params_, data,
                                   weights)


def check_prior_names(owner: str, names: list[str], priors: Mapping[str, Any]) -> None:
    """Refuse a prior for a parameter the fitted model does not have, naming it and the
    model's parameters (ValidationError)."""
    unknown = [name for name in priors if name not in names]
    if unknown:
        raise ValidationError(
            f"{owner}: priors given for unknown parameter(s) {unknown}; with these data and "
            f"covariates the model has {names}")


__all__ = ["COEFFICIENT_PRIOR_SIGMA", "CovariateDraws", "CovariateLikelihood",
           "check_prior_names", "covariate_draws", "design_columns",
           "log_likelihood_with_covariates"]
