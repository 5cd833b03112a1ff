"""Test helpers for fits with covariates: the objective an estimator with covariates builds,
its gradient by central differences."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvmodels.estimation.covariate_fit import Coordinates, CovariateObjective
from clvmodels.estimation.covariates import CovariateDesign


def covariate_objective(model, table: pd.DataFrame):
    """``(family, fit_data, coordinates, objective)`` of ``model`` (an unfitted estimator
    given covariates) on ``table``, unpenalised and on the data's own scale."""
    spec = model.covariate_spec()
    designs = []

    def columns(rows, weights):
        designs.append(CovariateDesign.fit(spec, table, rows, weights))
        matrix = designs[0].matrix(table[rows])
        return {f"covariate:{c}": matrix[:, k] for k, c in enumerate(designs[0].columns)}

    fit_data = model.fit_data(table, None, columns)
    family = model.family
    coordinates = Coordinates.of(family, designs[0], np.ones(len(family.parameters)))
    return family, fit_data, coordinates, CovariateObjective(coordinates, fit_data, 0.0)


def difference_gradient(objective: CovariateObjective, phi: np.ndarray,
                        h: float = 1e-5) -> np.ndarray:
    """The log-likelihood's gradient in ``phi`` by central differences of step ``h``."""
    return np.array([(objective.log_likelihood(phi + step, False)[0]
                      - objective.log_likelihood(phi - step, False)[0]) / (2 * h)
                     for step in np.eye(len(phi)) * h])
