"""The calibration histogram of a model with covariates: each customer's unconditional
purchase-count distribution at their own age and with their own parameters.

Without covariates every customer of an age shares one distribution
(:func:`clvmodels.evaluate.count_probabilities` evaluates it once per age and draw); with
covariates the parameters vary by customer, so the distinct (age, per-customer parameters)
rows are evaluated, in chunks of bounded memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvmodels.cohort import CHUNK_ROWS


def expected_count_histogram(model: Any, rfm: pd.DataFrame, ages: np.ndarray,
                             max_frequency: int) -> np.ndarray:
    """Expected customers with 0, 1, ..., ``max_frequency - 1`` and ``max_frequency`` or more
    repeat purchases, summed over the customers of ``rfm`` (ages ``ages``) of a
    maximum-likelihood model with covariates; shape ``(1, max_frequency + 1)``, as one draw.
    """
    family = model.family
    per_customer = model.customer_parameters(rfm)
    estimate = model.params_[list(family.param_names)].to_numpy(dtype=float)
    varying = list(per_customer)
    distinct, counts = np.unique(
        np.column_stack([np.asarray(ages, dtype=float), *per_customer.values()]), axis=0,
        return_counts=True)
    histogram = np.zeros(max_frequency + 1)
    for start in range(0, len(distinct), CHUNK_ROWS):
        rows = distinct[start:start + CHUNK_ROWS]
        params = tuple(rows[:, 1 + varying.index(name)] if name in per_customer
                       else np.full(len(rows), value)
                       for name, value in zip(family.param_names, estimate, strict=True))
        probabilities = np.column_stack([family.pmf_new(params, n, rows[:, 0])
                                         for n in range(max_frequency)])
        tail = np.clip(1.0 - probabilities.sum(axis=1), 0.0, None)  # -1e-16 from rounding
        histogram += np.column_stack([probabilities, tail]).T @ counts[start:start + CHUNK_ROWS]
    return histogram[None, :]


__all__ = ["expected_count_histogram"]
