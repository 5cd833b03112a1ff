"""Synthetic transaction logs from a purchase model's simulator, for benchmarks and tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvmodels.estimation.base import FittedModel


def simulate_transactions(
    purchase_model: FittedModel,
    spend_model: FittedModel,
    n_customers: int,
    *,
    start: pd.Timestamp,
    acquisition_days: float,
    observation_days: float,
    rng: np.random.Generator,
    first_id: int = 0,
    cents: bool = True,
) -> pd.DataFrame:
    """A shuffled log (customer_id, date, amount) of ``n_customers`` drawn from fitted models.

    Each customer first buys at a uniform moment of the first ``acquisition_days`` after
    ``start`` and is observed until ``start + observation_days``; ``purchase_model.simulate``
    (with parameters per day) draws their repeat count x and the time t_x of the last repeat
    purchase. Given x purchases of a Poisson process with the x-th at t_x, the other x - 1
    fall uniformly in (0, t_x), whatever the dropout process, so the log has the model's
    distribution. Each purchase is worth Gamma(p, nu) with nu ~ Gamma(q, gamma) per customer
    (the Gamma-Gamma model), rounded to cents when ``cents``. Times are kept to the second.
    """
    acquired = rng.uniform(0.0, acquisition_days, n_customers)
    history = purchase_model.simulate(n_customers, observation_days - acquired, random_state=rng)
    x = history["frequency"].to_numpy()
    t_x = history["recency"].to_numpy()
    repeat = np.flatnonzero(x > 0)
    earlier = np.repeat(repeat, x[repeat] - 1)
    owner = np.concatenate([np.arange(n_customers), repeat, earlier])
    days = np.concatenate([
        acquired, acquired[repeat] + t_x[repeat],
        acquired[earlier] + rng.uniform(0.0, 1.0, len(earlier)) * t_x[earlier],
    ])
    p, q, gamma = spend_model.params_.to_numpy(dtype=float)
    scale = rng.gamma(q, 1.0 / gamma, n_customers)
    amount = rng.gamma(p, 1.0 / scale[owner])
    if cents:
        amount = np.maximum(np.round(amount, 2), 0.01)
    order = rng.permutation(len(owner))
    seconds = np.round(days[order] * 86_400).astype("timedelta64[s]")
    return pd.DataFrame({
        "customer_id": (owner[order] + first_id).astype(np.int64),
        "date": (np.datetime64(start, "s") + seconds).astype("datetime64[us]"),
        "amount": amount[order],
    })
