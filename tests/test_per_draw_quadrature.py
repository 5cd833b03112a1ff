"""The discounted-purchase integral per posterior draw (``_numerics.integrate_rate_per_draw``):
two short Gauss-Legendre rules where they agree, the full rule of a single draw elsewhere."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from clvmodels import BetaGeoModel, ParetoNBDModel, _numerics
from clvmodels._numerics import integrate_rate, integrate_rate_per_draw

# Updated parameters (r + x, alpha + T, ...) from CDNOW-like customers out to the corners:
# rates that decay sharply (r + x = 300), tiny and huge scales and dropout parameters.
GRIDS = {
    "bg": (BetaGeoModel, [(0.05, 1.0, 30.0, 300.0), (0.5, 40.0, 1e3), (0.05, 0.8, 5.0, 100.0),
                          (0.05, 2.4, 50.0, 500.0)]),
    "pnbd": (ParetoNBDModel, [(0.05, 1.0, 30.0, 300.0), (0.5, 40.0, 1e3), (0.05, 0.6, 5.0, 100.0),
                              (0.5, 12.0, 1e3)]),
}
SETTINGS = [(52.0, np.log1p(0.00183)), (np.inf, np.log1p(0.01)), (520.0, np.log1p(0.01)),
            (5.0, np.log1p(0.1)), (1e4, 0.0)]


def _grid(name: str):
    model_class, axes = GRIDS[name]
    return model_class.family, tuple(np.array(list(itertools.product(*axes))).T.copy())


@pytest.mark.parametrize("name", GRIDS)
@pytest.mark.parametrize(("horizon", "log_rate"), SETTINGS)
def test_two_rules_where_they_agree_else_the_full_rule(name, horizon, log_rate):
    """Where the 6- and 12-node values agree to 1e-11 relative, the 12-node value is within
    1e-10 of the 8-panel integral (its error is about the square of the 6-node one's; the
    8 x 32-node reference is accurate to ~1e-13); elsewhere the result is the 8-panel value
    itself (one panel of 32 nodes is up to 80% off at the grid's sharpest rates)."""
    family, updated = _grid(name)
    scale = family.future_rate_scale(updated)

    def integral(**options):
        return integrate_rate(family.future_log_rate, updated, scale, horizon, log_rate,
                              **options)

    coarse, fine = integral(panels=1, nodes=6), integral(panels=1, nodes=12)
    agree = np.abs(fine - coarse) <= 1e-11 * np.abs(fine)
    result = integrate_rate_per_draw(family.future_log_rate, updated, scale, horizon, log_rate)
    reference = integral(panels=8)
    np.testing.assert_allclose(result[agree], reference[agree], rtol=1e-10)
    np.testing.assert_array_equal(result[~agree], reference[~agree])


@pytest.mark.parametrize("name", GRIDS)
def test_a_year_of_cdnow_customers_takes_the_short_rules(name, monkeypatch):
    """Over a year of weeks at 10% a year, the CDNOW estimates' customers (x up to 30, T from
    27 to 39 weeks) are integrated by the two short rules alone (18 rate evaluations, not 32):
    no 32-node panel is needed, and the values are the 8-panel ones to 1e-10."""
    family = GRIDS[name][0].family
    params = ((0.243, 4.414, 0.793, 2.426) if name == "bg"
              else (0.553, 10.58, 0.606, 11.67))
    x, T = (np.ravel(v) for v in np.meshgrid(np.arange(31.0), np.linspace(27, 39, 13)))
    updated = tuple(np.asarray(v, dtype=float) for v in family.updated_params(params, x, T))
    log_rate = np.log1p(1.10 ** (7 / 365.25) - 1)
    nodes_asked = []
    monkeypatch.setattr(_numerics, "integrate_rate", lambda *args, **kwargs: (
        nodes_asked.append(kwargs.get("nodes")) or integrate_rate(*args, **kwargs)))
    result = integrate_rate_per_draw(family.future_log_rate, updated,
                                     family.future_rate_scale(updated), 52.0, log_rate)
    assert nodes_asked == [6, 12]
    reference = integrate_rate(family.future_log_rate, updated,
                               family.future_rate_scale(updated), 52.0, log_rate, panels=8)
    np.testing.assert_allclose(result, reference, rtol=1e-10)
