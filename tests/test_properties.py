"""Properties that hold for every valid input (hypothesis searches for counterexamples).

Shape parameters range over 1e-2..1e2 and scales over 1e-3..1e3 (fits to real data land well
inside), histories up to thousands of purchases over thousands of time units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clvmodels import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel

shape = st.floats(min_value=1e-2, max_value=1e2)
scale = st.floats(min_value=1e-3, max_value=1e3)


@st.composite
def histories(draw, max_rows: int = 5):
    rows = []
    for _ in range(draw(st.integers(1, max_rows))):
        T = draw(st.floats(min_value=1e-2, max_value=1e4))
        x = draw(st.integers(0, 5000))
        t_x = draw(st.floats(min_value=0.0, max_value=1.0)) * T if x > 0 else 0.0
        rows.append((x, t_x, T))
    return pd.DataFrame(rows, columns=["frequency", "recency", "T"])


@st.composite
def fitted_models(draw):
    model_class = draw(st.sampled_from([BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel]))
    values = dict(zip(model_class.family.param_names, draw(st.tuples(shape, scale, shape, scale)),
                      strict=True))
    return model_class().set_params_(values)


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(model=fitted_models(), data=histories())
def test_probability_alive_is_a_probability(model, data):
    alive = model.probability_alive(data)
    assert np.all((alive >= 0) & (alive <= 1))


@SETTINGS
@given(model=fitted_models(), data=histories(),
       t=st.lists(st.floats(min_value=0.0, max_value=1e4), min_size=2, max_size=4))
def test_expected_purchases_finite_and_non_decreasing_in_t(model, data, t):
    values = np.array([model.expected_purchases(data, ti) for ti in sorted(t)])
    assert np.all(np.isfinite(values)) and np.all(values >= 0)
    # Non-decreasing up to the error of the closed forms: SciPy's 2F1 and our quadrature
    # fallbacks are accurate to ~1e-10 relative over this range (near z = 1 2F1 loses digits),
    # so two evaluations may invert by 2e-10: 1e-9.
    assert np.all(np.diff(values, axis=0) >= -1e-9 * np.abs(values[1:]))


@SETTINGS
@given(model=fitted_models(), data=histories(max_rows=3), n=st.integers(0, 30),
       t=st.floats(min_value=1e-2, max_value=1e3))
def test_purchase_count_probability_is_a_probability(model, data, n, t):
    p = model.probability_of_purchases(data, n, t)
    # A probability is at most 1 up to the rounding of its few terms (P(alive) times the
    # alive customer's probability plus the dead one's): a few ulps, 1e-12.
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1 + 1e-12))


@SETTINGS
@given(model=fitted_models(), data=histories(max_rows=3),
       rates=st.lists(st.floats(min_value=1e-6, max_value=1.0), min_size=2, max_size=3),
       horizon=st.one_of(st.floats(min_value=1e-2, max_value=1e3), st.just(np.inf)))
def test_discounted_purchases_finite_and_non_increasing_in_the_rate(model, data, rates, horizon):
    values = np.array([
        model.discounted_expected_purchases(data, horizon=horizon, discount_rate=rate)
        for rate in sorted(rates)
    ])
    assert np.all(np.isfinite(values)) and np.all(values >= 0)
    # Non-increasing up to the quadrature's and 2F1's error (as for the expectation above).
    assert np.all(np.diff(values, axis=0) <= 1e-9 * np.abs(values[:-1]))


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel],
                         ids=lambda c: c.__name__)
def test_thousands_of_purchases_over_long_histories(model_class):
    model = model_class().set_params_(dict(zip(model_class.family.param_names, [0.5, 10, 0.7, 12],
                                               strict=True)))
    data = pd.DataFrame({"frequency": [5000, 5000, 0, 1], "recency": [9999.0, 10.0, 0, 1e-6],
                         "T": [1e4, 1e4, 1e4, 1e5]})
    for values in (model.probability_alive(data), model.expected_purchases(data, 52),
                   model.discounted_expected_purchases(data, horizon=np.inf, discount_rate=0.01),
                   model.probability_of_purchases(data, 3, 52)):
        assert np.all(np.isfinite(values))
