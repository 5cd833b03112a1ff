"""Test helpers for fits with covariates: the objective an estimator with covariates builds,
its gradient by central differences, and CLVTools' apparel data."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodels import rfm_summary
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


# The apparel data are GPL (CLVTools): read from the reference folder, never shipped.
# The reference data sets beside the project (../shared/data from its root, which every
# developer's and CI's checkout has), or the folder CLVMODELS_REFERENCE_DATA names.
REFERENCE_DATA = Path(os.environ.get("CLVMODELS_REFERENCE_DATA",
                                     Path(__file__).resolve().parents[2] / "shared" / "data"))


def apparel_table() -> pd.DataFrame:
    """CLVTools' apparel data summarised as CLVTools does: the first purchase starts each
    customer, the calibration ends on 2006-12-31 (T to its end), in weeks; with the static
    covariates. Skips the test when the reference data are not there."""
    transactions = REFERENCE_DATA / "apparel_transactions.csv"
    covariates = REFERENCE_DATA / "apparel_static_covariates.csv"
    if not (transactions.exists() and covariates.exists()):
        pytest.skip(f"the apparel reference data (CLVTools, GPL: not shipped) are not in "
                    f"{REFERENCE_DATA}; set CLVMODELS_REFERENCE_DATA to their folder")
    log = pd.read_csv(transactions, parse_dates=["Date"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # later transactions are left out, as intended
        rfm = rfm_summary(log, "Id", "Date", observation_end="2006-12-31", time_unit="W")
    return rfm.join(pd.read_csv(covariates).set_index("Id"))
