"""The compiled BG/NBD and MBG/NBD discounted future purchases of posterior draws
(``models/beta_geometric_future_kernel.py``) against the NumPy route it replaces
(``_numerics.integrate_rate_per_draw`` of SciPy's 2F1) and against ``scipy.integrate.quad``.

Tolerances. The kernel computes the same two one-panel Gauss-Legendre rules as the NumPy
route, so the two differ only in the rate at the nodes: a 2F1 series of nonnegative terms
(relative rounding at most ~4 eps per term, at most ``MAX_TERMS`` = 400 terms: ~2e-13) against
SciPy's hyp2f1 (accurate to ~1e-14 where finite), then a sum of at most 12 positive terms (a
few eps): 1e-12 relative bounds the difference of the rules. An element whose two rules
differ by about ``TWO_RULE_TOLERANCE`` may take the short rule in one route and the 8-panel
rule in the other; both are within 1e-10 of the 8-panel integral there
(tests/test_per_draw_quadrature.py), so those elements are compared at 2e-10.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

pytest.importorskip("numba")

from clvmodels import BetaGeoModel, ModifiedBetaGeoModel  # noqa: E402
from clvmodels._numerics import (  # noqa: E402
    TWO_RULE_TOLERANCE,
    integrate_rate,
    integrate_rate_per_draw,
)
from clvmodels.estimation.family import PurchaseFamily  # noqa: E402
from clvmodels.models import beta_geometric  # noqa: E402
from clvmodels.models.beta_geometric import BetaGeometricFamily  # noqa: E402
from clvmodels.models.beta_geometric_future_kernel import discounted_two_rules  # noqa: E402

FAMILIES = {"bgnbd": BetaGeoModel.family, "mbgnbd": ModifiedBetaGeoModel.family}
CDNOW = (0.243, 4.414, 0.793, 2.426)
WEEKLY = np.log1p(1.10 ** (1 / 52) - 1)  # 10% a year in weeks, continuous
SAME_RULES_RTOL = 1e-12  # see the module docstring
SWITCHED_RULE_RTOL = 2e-10


def _updated(family, params, x, T):
    return tuple(np.asarray(v, dtype=float).ravel()
                 for v in np.broadcast_arrays(*family.updated_params(params, x, T)))


def _numpy_rules(family, updated, horizon, k):
    return tuple(integrate_rate(family.future_log_rate, updated, updated[1], horizon, k,
                                panels=1, nodes=nodes) for nodes in (6, 12))


def _agree(coarse, fine):
    with np.errstate(invalid="ignore"):
        return np.abs(fine - coarse) <= TWO_RULE_TOLERANCE * np.abs(fine)


def _extreme_draws(family):
    """Draws from 1e-3 to 1e3 in every parameter, customers with x and T up to 1e4."""
    values = (1e-3, 0.3, 30.0, 1e3)
    r, alpha, a, b, x, T = (np.array(v) for v in zip(*itertools.product(
        values, values, values, values, (0.0, 3.0, 1e4), (0.5, 39.0, 1e4)), strict=True))
    x = np.minimum(x, np.floor(T * 20))  # at most 20 purchases a week
    return _updated(family, (r, alpha, a, b), x, T)


def _assert_same_as_numpy_route(family, updated, horizon, k):
    result = family.future_discounted(updated, horizon, np.expm1(k), per_draw=True)
    reference = integrate_rate_per_draw(family.future_log_rate, updated, updated[1], horizon, k)
    # Elements where either route's two rules disagree may have switched to the full rule.
    same = _agree(*discounted_two_rules(updated, horizon, k)) == _agree(
        *_numpy_rules(family, updated, horizon, k))
    np.testing.assert_allclose(result[same], reference[same], rtol=SAME_RULES_RTOL)
    np.testing.assert_allclose(result[~same], reference[~same], rtol=SWITCHED_RULE_RTOL)
    return result


@pytest.mark.parametrize("name", FAMILIES)
def test_cdnow_customers_need_no_scipy_2f1(name, monkeypatch):
    """A year at 10% of the CDNOW estimates' customers (x up to 30, T from 27 to 39 weeks):
    every element by the kernel (the NumPy rate is never asked for), equal to the NumPy
    route's short rules and to quad of the rate."""
    family = FAMILIES[name]
    x, T = (np.ravel(v) for v in np.meshgrid(np.arange(31.0), np.linspace(27, 39, 13)))
    updated = _updated(family, CDNOW, x, T)
    coarse, fine = _numpy_rules(family, updated, 52.0, WEEKLY)

    def refuse(self, updated, t):
        raise AssertionError("the NumPy rate was evaluated")

    monkeypatch.setattr(BetaGeometricFamily, "future_log_rate", refuse)
    result = family.future_discounted(updated, 52.0, np.expm1(WEEKLY), per_draw=True)
    monkeypatch.undo()
    assert np.all(_agree(coarse, fine))
    np.testing.assert_allclose(result, fine, rtol=SAME_RULES_RTOL)
    # quad of the rate to 1e-13; where the two short rules agree the 12-node value is within
    # 1e-10 of the integral (tests/test_per_draw_quadrature.py).
    for i in (0, 200, len(x) - 1):
        element = tuple(np.array([v[i]]) for v in updated)

        def integrand(t, element=element):
            return np.exp(-WEEKLY * t + family.future_log_rate(element, np.array([t]))[0])

        exact, _ = quad(integrand, 0.0, 52.0, epsabs=0.0, epsrel=1e-13, limit=200)
        assert result[i] == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize("name", FAMILIES)
# The infinite horizon sends most of this grid to the NumPy route's full rule (~100 s a family):
# slow; the finite horizons keep the comparison in the default run.
@pytest.mark.parametrize(("horizon", "k"), [
    (52.0, WEEKLY), pytest.param(np.inf, np.log1p(0.01), marks=pytest.mark.slow),
    (5.0, np.log1p(0.1))])
def test_extreme_draws_equal_the_numpy_route(name, horizon, k):
    """Parameters from 1e-3 to 1e3, x and T up to 1e4: the kernel's elements equal the NumPy
    route's rules, and those it leaves (NaN) or whose rules disagree take the NumPy route."""
    family = FAMILIES[name]
    updated = _extreme_draws(family)
    coarse, fine = discounted_two_rules(updated, horizon, k)
    numpy_coarse, numpy_fine = _numpy_rules(family, updated, horizon, k)
    done = np.isfinite(fine) & np.isfinite(numpy_fine) & (numpy_fine > 0)
    # It leaves the elements whose largest node is near z = 1 (a horizon of more than about
    # 12 alpha + T), much of this grid: those go by the NumPy route below.
    assert done.any()
    np.testing.assert_allclose(coarse[done], numpy_coarse[done], rtol=SAME_RULES_RTOL)
    np.testing.assert_allclose(fine[done], numpy_fine[done], rtol=SAME_RULES_RTOL)
    result = _assert_same_as_numpy_route(family, updated, horizon, k)
    assert np.all(np.isfinite(result))


positive = st.floats(1e-3, 1e3)


@settings(max_examples=25, deadline=None)
@given(r=positive, alpha=positive, a=positive, b=positive, x=st.integers(0, 10_000),
       T=st.floats(0.1, 1e4), horizon=st.floats(0.5, 1e3),
       yearly=st.floats(0.001, 0.5), name=st.sampled_from(sorted(FAMILIES)))
def test_property_kernel_route_equals_numpy_route(r, alpha, a, b, x, T, horizon, yearly,
                                                  name):
    """Any valid draw and customer: the kernel route equals the NumPy route (to the bounds of
    the module docstring), and is positive and finite."""
    family = FAMILIES[name]
    x = min(float(x), np.floor(T * 20))
    updated = _updated(family, (np.array([r]), alpha, a, b), np.array([x]), np.array([T]))
    result = _assert_same_as_numpy_route(family, updated, horizon, np.log1p(yearly / 52))
    assert np.isfinite(result[0]) and result[0] > 0


def test_without_numba_the_numpy_route(monkeypatch):
    """Without numba (the kernel unavailable) the result is the NumPy route's, exactly."""
    family = FAMILIES["bgnbd"]
    updated = _updated(family, CDNOW, np.arange(5.0), np.full(5, 30.0))
    monkeypatch.setattr(beta_geometric, "future_kernel", lambda: None)
    result = family.future_discounted(updated, 52.0, np.expm1(WEEKLY), per_draw=True)
    reference = integrate_rate_per_draw(family.future_log_rate, updated, updated[1], 52.0,
                                        WEEKLY)
    np.testing.assert_array_equal(result, reference)


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("compiled", [True, False])
def test_log_alive_of_draws_from_the_closed_form(name, compiled, monkeypatch):
    """log P(alive) of posterior draws (shape (draws, 1)) from the closed form of the dropout
    share, compiled or in NumPy, without the likelihood's terms, equals the generic route.

    The generic route's v - u is a difference of log rising factorials and logarithms of
    magnitude up to ~(r + x) log(alpha + T) + x log(b + x) ~ 2e5 on this grid (x up to 1e4),
    each a few ulps: ~1e-10 absolute, which a log P(alive) (slope at most 1 in v - u)
    keeps; elsewhere a few ulps relative (1e-12)."""
    family = FAMILIES[name]
    rng = np.random.default_rng(7)
    params = tuple(10 ** rng.uniform(-3, 3, (200, 1)) for _ in range(4))
    T = np.repeat([0.5, 39.0, 1e4], 40)
    x = np.floor(rng.uniform(0, 1, T.size) * np.minimum(T * 20, 1e4))
    t_x = np.where(x > 0, T * rng.uniform(0, 1, T.size), 0.0)
    levels = pd.factorize(x)[::-1]
    expected = PurchaseFamily.log_alive(family, params, x, t_x, T,
                                        (np.asarray(levels[0], dtype=float), levels[1]))
    if not compiled:
        monkeypatch.setattr(beta_geometric, "future_kernel", lambda: None)
    monkeypatch.setattr(BetaGeometricFamily, "likelihood_parts", None)
    result = family.log_alive(params, x, t_x, T, (np.asarray(levels[0], dtype=float),
                                                  levels[1]))
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-10)
