"""The fused route of the Bayesian CLV (``models/fused_value.py`` and its compiled pass)
against the general NumPy route of ``clv.valuation``, the reference.

Tolerances. Both routes take the alive customer's discounted purchases from the same family
kernel on the same inputs (bit for bit), and the spend from the same formula in the same
order (bit for bit: the compiled element is not contracted). They differ in P(alive): the
general route takes ``exp(-softplus(v - u))`` with ``v - u = log a - log(b + m - 1) - (r + x)
(log(alpha + t_x) - log(alpha + T))``, the fused one ``1 / (1 + exp(v - u))`` with the
logarithm of the ratio. P(alive)'s relative sensitivity to ``v - u`` is ``1 - P(alive) <= 1``,
so each draw's CLV differs by at most the absolute rounding of ``v - u`` (a few eps times the
magnitudes of its terms, the general route's ``(r + x) |log(alpha + T)|`` the largest; the
fused one's power of a ratio rounded to an eps: ``(r + x)`` eps) plus a few eps of the exp,
softplus and products: :func:`_draw_bounds` bounds it by 8 eps times the
sum of those magnitudes plus one. An order statistic of values each within a relative delta
moves by at most delta (the values are positive and the k-th smallest is monotone in each),
the interpolation between two adds 4 eps; a mean of draws summed in the same order adds at most
2 n eps (the rounding of either sum); a per-draw total over rows summed in other orders adds
2 rows eps.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

import clvmodels.clv as clv  # noqa: E402
from clvmodels.estimation.draws import block_levels  # noqa: E402
from clvmodels.models import fused_value  # noqa: E402
from clvmodels.models.fused_value_kernel import interval_in_place  # noqa: E402

EPS = 2.0**-53
WEEKLY = 1.10 ** (1 / 52) - 1
SETTINGS = {"horizon": 52.0, "discount_rate": WEEKLY, "margin": 0.3, "level": 0.9}


def _valuations(monkeypatch, purchase, spend, data, max_draws=None, **settings):
    """The valuation by the fused route (checked to be taken) and by the general one."""
    taken = []

    def spy(*arguments):
        kernel = fused_value.fused_kernel(*arguments)
        taken.append(kernel is not None)
        return kernel

    monkeypatch.setattr(clv, "fused_kernel", spy)
    fused = clv.valuation(purchase, spend, data, max_draws=max_draws, **settings)
    assert taken == [True]
    monkeypatch.setattr(clv, "fused_kernel", lambda *arguments: None)
    general = clv.valuation(purchase, spend, data, max_draws=max_draws, **settings)
    return fused, general


def _draw_bounds(purchase_params, shift, rows) -> np.ndarray:
    """Per distinct row, the largest relative difference of a CLV draw between the routes
    (see the module docstring)."""
    r, alpha, a, b = purchase_params
    x, t_x, T = (rows[name][None, :] for name in ("x", "t_x", "T"))
    opportunities = np.maximum(x + shift, 1.0)
    magnitude = (1 + np.abs(np.log(a)) + np.abs(np.log(b + opportunities - 1))
                 + (r + x) * (1 + np.abs(np.log(alpha + t_x)) + np.abs(np.log(alpha + T))))
    return (8 * EPS * magnitude).max(axis=0)


def _assert_routes_agree(fused, general, purchase_params, shift):
    n_draws = fused.n_draws
    delta = _draw_bounds(purchase_params, shift, fused.rows)
    for name in ("mean", "lower", "upper"):
        extra = 2 * n_draws * EPS if name == "mean" else 4 * EPS
        ours, reference = getattr(fused.clv, name), getattr(general.clv, name)
        assert np.all(np.abs(ours - reference) <= (delta + extra) * np.abs(reference)), name
    for ours, reference in ((fused.probability_alive, general.probability_alive),
                            (fused.expected_purchases, general.expected_purchases)):
        assert np.all(np.abs(ours - reference)
                      <= (delta + 2 * n_draws * EPS) * np.abs(reference))
    # The spend is the same formula in the same order, summed in the same order.
    np.testing.assert_array_equal(fused.expected_spend, general.expected_spend)
    np.testing.assert_allclose(fused.clv.total_draws, general.clv.total_draws,
                               rtol=delta.max() + 2 * len(fused.rows) * EPS)
    assert np.all(fused.clv.lower <= fused.clv.upper)
    assert fused.all_draws == general.all_draws and fused.model_draws == general.model_draws


def test_fused_route_matches_the_general_one_on_cdnow(monkeypatch, nuts_bgnbd, nuts_gg, cdnow):
    """All 4,000 paired draws of the CDNOW fits, every customer."""
    fused, general = _valuations(monkeypatch, nuts_bgnbd, nuts_gg, cdnow, **SETTINGS)
    params = nuts_bgnbd.draw_arrays(fused.n_draws, 0)
    _assert_routes_agree(fused, general, params, nuts_bgnbd.family.shift)
    assert list(fused.frame().columns) == ["clv", "lower", "upper"]


def _with_draws(monkeypatch, model, arrays):
    """``model`` answering ``draw_arrays`` with ``arrays`` (whatever the seed)."""
    monkeypatch.setattr(model, "draw_arrays",
                        lambda max_draws=None, random_seed=0: tuple(
                            value[:max_draws] for value in arrays))


@pytest.mark.parametrize("shift", [0, 1])
def test_fused_route_matches_the_general_one_on_extreme_draws(monkeypatch, nuts_bgnbd, nuts_gg,
                                                              cdnow, shift):
    """Draws spanning orders of magnitude (r and a from 1e-3, alpha and b to 1e3, q just above
    1), with ties among them (a repeated draw), over customers with and without purchases and
    with zero spend; for the BG/NBD and the MBG/NBD (the draws valued as the latter's)."""
    from clvmodels import BetaGeoModel, ModifiedBetaGeoModel

    family = (BetaGeoModel, ModifiedBetaGeoModel)[shift].family
    monkeypatch.setattr(nuts_bgnbd, "family", family)
    rng = np.random.default_rng(7)
    n = 64
    purchase = [np.exp(rng.uniform(low, high, (n, 1))) for low, high in
                ((-7, 4), (-4, 7), (-7, 7), (-7, 7))]
    spend = [np.exp(rng.uniform(-3, 5, (n, 1))), 1 + np.exp(rng.uniform(-9, 3, (n, 1))),
             np.exp(rng.uniform(-3, 6, (n, 1)))]
    for value in (*purchase, *spend):
        value[1] = value[0]  # a tie: two equal draws
    _with_draws(monkeypatch, nuts_bgnbd, purchase)
    _with_draws(monkeypatch, nuts_gg, spend)
    data = cdnow.iloc[:400].copy()
    data.loc[data.index[:5], "monetary_value"] = 0.0
    fused, general = _valuations(monkeypatch, nuts_bgnbd, nuts_gg, data, max_draws=n,
                                 **SETTINGS)
    assert np.isfinite(general.clv.mean).all()
    _assert_routes_agree(fused, general, purchase, shift)


@settings(deadline=None)  # the first example compiles the kernel
@given(n=st.one_of(st.integers(2, 300), st.integers(600, 5000)), level=st.floats(0.01, 0.99),
       seed=st.integers(0, 2**32 - 1), distinct=st.integers(1, 5000),
       order=st.sampled_from(["random", "increasing", "decreasing"]))
def test_interval_is_numpys_quantile_exactly(n, level, seed, distinct, order):
    """The in-place selection (quickselect, and over 600 values a sampled pivot) and the
    interpolation give ``numpy.quantile``'s linear-rule values bit for bit, ties included
    (few distinct values), in any order (draws of chains come correlated)."""
    rng = np.random.default_rng(seed)
    values = rng.choice(rng.standard_normal(distinct) * 10.0**rng.integers(-5, 5), n)
    if order != "random":
        values = np.sort(values)[::1 if order == "increasing" else -1].copy()
    expected = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    ranks, fractions = fused_value.quantile_positions(n, level)
    buffer = values.copy()
    lower, upper = interval_in_place(buffer, ranks[0], fractions[0], ranks[1], fractions[1])
    assert (lower, upper) == tuple(expected)
    assert sorted(buffer) == sorted(values)  # reordered, not changed


def test_interval_of_a_nan_is_nan():
    values = np.array([1.0, np.nan, 2.0, 3.0])
    ranks, fractions = fused_value.quantile_positions(4, 0.9)
    assert np.isnan(interval_in_place(values, ranks[0], fractions[0], ranks[1],
                                      fractions[1])).all()
    assert np.isnan(np.quantile(values, [0.05, 0.95])).all()


def test_the_general_route_stands_for_draws_and_part_intervals(monkeypatch, nuts_bgnbd, nuts_gg,
                                                               cdnow):
    """Asked for the draws or the parts' intervals, the valuation takes the general route
    (the scoring's parts are the models' own methods' values bit for bit: their P(alive) is
    the general route's)."""
    calls = []
    monkeypatch.setattr(clv, "fused_kernel", lambda *arguments: calls.append(1))
    for options in ({"keep_draws": True}, {"part_intervals": True}):
        clv.valuation(nuts_bgnbd, nuts_gg, cdnow.iloc[:50], max_draws=20, **SETTINGS,
                      **options)
    assert calls == []


@pytest.mark.parametrize("a, b", [(1e-300, 1e10), (0.8, 2.4), (1e3, 1e-3)])
def test_alive_probability_is_the_familys(a, b):
    """Both branches of the compiled element (the odds' power, and the logarithms where
    ``a / (b + x - 1)`` is subnormal) against the family's P(alive), over histories from
    none to many purchases (same bound as the routes)."""
    from clvmodels import BetaGeoModel, ModifiedBetaGeoModel
    from clvmodels.models.beta_geometric_future_kernel import alive_probability

    x = np.array([0.0, 1.0, 3.0, 40.0, 200.0])
    t_x = np.array([0.0, 2.0, 20.0, 30.0, 10.0])
    T = np.full(5, 38.0)
    r, alpha = 0.24, 4.4
    for model in (BetaGeoModel, ModifiedBetaGeoModel):
        family = model.family
        params = tuple(np.array([[value]]) for value in (r, alpha, a, b))
        # The closed form the general route of the valuation takes (per distinct x).
        expected = np.exp(family.log_alive(params, x, t_x, T, block_levels(x)))[0]
        ours = np.array([alive_probability(r, alpha, a, b, float(family.shift), *row)
                         for row in zip(x, t_x, T, strict=True)])
        bound = _draw_bounds(params, family.shift,
                             {"x": x, "t_x": t_x, "T": T})
        assert np.all(np.abs(ours - expected) <= bound * expected)
