"""``lifetimes.generate_data`` on clvmodels' simulators.

Each generator sets the given parameters on the clvmodels model (``set_params_``) and draws
customers with its ``simulate``. Differences from lifetimes (see the migration guide):
the frames hold the observable columns only (lifetimes' per-customer latent ``lambda``,
``p``, ``mu``, ``theta`` and ``alive`` are not returned: clvmodels' simulators do not expose
them); ``frequency`` counts every repeat purchase (lifetimes' BG/NBD and MBG/NBD generators
count distinct whole time units with a purchase); the draws come from a NumPy ``Generator``
seeded from NumPy's global state unless ``random_state`` is given, so ``np.random.seed(...)``
still makes a run reproducible (but not the same numbers as lifetimes').
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvmodels.models import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)

__all__ = [
    "beta_geometric_beta_binom_model",
    "beta_geometric_nbd_model",
    "modified_beta_geometric_nbd_model",
    "pareto_nbd_model",
]


def _generator(random_state: int | np.random.Generator | None) -> np.random.Generator:
    """``random_state``'s Generator; without one, seeded from NumPy's global random state
    (which lifetimes' generators draw from), so ``np.random.seed`` keeps its effect."""
    if random_state is None:
        # The legacy global state on purpose: lifetimes' users seed it with np.random.seed.
        seed = np.random.randint(0, np.iinfo(np.int64).max, dtype=np.int64)  # noqa: NPY002
        return np.random.default_rng(seed)
    return np.random.default_rng(random_state)


def _simulated(model: Any, params: dict[str, float], T: Any, size: int,
               random_state: int | np.random.Generator | None) -> pd.DataFrame:
    """``size`` customers observed for ``T`` (one value or one per customer), as floats."""
    model.set_params_(params)
    table = model.simulate(int(size), T, random_state=_generator(random_state))
    return table.astype(float)


def beta_geometric_nbd_model(T: Any, r: float, alpha: float, a: float, b: float,
                             size: int = 1, random_state: int | np.random.Generator | None = None
                             ) -> pd.DataFrame:
    """Customers drawn from the BG/NBD model.

    Parameters
    ----------
    T : float or array-like
        Observation length per customer (one value or ``size`` values).
    r, alpha, a, b : float
        The BG/NBD parameters.
    size : int
        Number of customers.
    random_state : int or Generator, optional
        Seed (default: drawn from NumPy's global random state).

    Returns
    -------
    DataFrame
        ``frequency``, ``recency``, ``T`` (float64), indexed by ``customer_id`` 0..size-1.
    """
    return _simulated(BetaGeoModel(), {"r": r, "alpha": alpha, "a": a, "b": b}, T, size,
                      random_state)


def modified_beta_geometric_nbd_model(T: Any, r: float, alpha: float, a: float, b: float,
                                      size: int = 1,
                                      random_state: int | np.random.Generator | None = None
                                      ) -> pd.DataFrame:
    """Customers drawn from the MBG/NBD model (as :func:`beta_geometric_nbd_model`)."""
    return _simulated(ModifiedBetaGeoModel(), {"r": r, "alpha": alpha, "a": a, "b": b}, T,
                      size, random_state)


def pareto_nbd_model(T: Any, r: float, alpha: float, s: float, beta: float, size: int = 1,
                     random_state: int | np.random.Generator | None = None) -> pd.DataFrame:
    """Customers drawn from the Pareto/NBD model (as :func:`beta_geometric_nbd_model`)."""
    return _simulated(ParetoNBDModel(), {"r": r, "alpha": alpha, "s": s, "beta": beta}, T,
                      size, random_state)


def beta_geometric_beta_binom_model(N: Any, alpha: float, beta: float, gamma: float,
                                    delta: float, size: int = 1,
                                    random_state: int | np.random.Generator | None = None
                                    ) -> pd.DataFrame:
    """Customers drawn from the BG/BB model over ``N`` transaction opportunities.

    Parameters
    ----------
    N : int or array-like
        Opportunities per customer (whole numbers).
    alpha, beta : float
        Beta distribution of the transaction probability p.
    gamma, delta : float
        Beta distribution of the dropout probability theta.
    size, random_state
        As for :func:`beta_geometric_nbd_model`.

    Returns
    -------
    DataFrame
        ``frequency``, ``recency``, ``n_periods`` and ``customer_id`` (float64, as lifetimes'
        columns) on a RangeIndex.
    """
    params = {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}
    table = _simulated(BetaGeoBetaBinomModel(), params, N, size, random_state)
    table = table.rename(columns={"periods": "n_periods"})
    table = table.reset_index()[["frequency", "recency", "n_periods", "customer_id"]]
    return table.astype(float)
