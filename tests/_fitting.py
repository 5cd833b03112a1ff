"""Test helpers: a model's likelihood data and objective, as its estimator builds them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvmodels.estimation.covariate_posterior import CovariateLikelihood, design_columns
from clvmodels.estimation.covariates import CovariateDesign
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.optimise import Objective


def fit_data_of(model, data: pd.DataFrame, *, compress: bool = True,
                weights: np.ndarray | None = None) -> FitData:
    """The rows of ``data`` the model's likelihood reads: compressed to distinct rows with
    weights (as ``fit`` does), or one row per customer with weight 1."""
    selection = model.family.fit_columns(data)
    weights = np.ones(len(data)) if weights is None else np.asarray(weights, dtype=float)
    weights = weights[selection.rows]
    if compress:
        return FitData.compress(selection.columns, weights)
    return FitData({k: np.asarray(v, dtype=float) for k, v in selection.columns.items()},
                   weights)


def objective_of(model, fit_data: FitData) -> Objective:
    """The mean penalised negative log-likelihood the model's fit minimises."""
    return Objective(model.family, fit_data, getattr(model, "penalizer", 0.0))


def total_log_likelihood(model, params, fit_data: FitData) -> float:
    """The weighted total log-likelihood of ``fit_data`` at ``params``."""
    return float(fit_data.weights @ model.family.log_likelihood(np.asarray(params, dtype=float),
                                                                fit_data))


def covariate_likelihood_of(model, table: pd.DataFrame) -> tuple[CovariateLikelihood, FitData]:
    """A Bayesian model with covariates: the likelihood its samplers call on ``table`` and
    the fit data it reads (the design fitted on the table's rows, as ``fit`` does)."""
    spec = model.covariate_spec()
    designs = []

    def columns(rows, weights):
        designs.append(CovariateDesign.fit(spec, table, rows, weights))
        return design_columns(designs[0], table[rows])

    fit_data = model.fit_data(table, None, columns)
    return CovariateLikelihood.of(model.family, designs[0], fit_data), fit_data
