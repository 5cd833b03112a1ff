"""The calibration histogram (evaluate.period_transactions, its plot and the report) of a
model with covariates: every customer at their own age with their own parameters."""

from __future__ import annotations

import numpy as np
import pytest
from _apparel import apparel_with_spend
from test_covariates import BOTH

from clvmodels import ParetoNBDModel, evaluate, plotting


@pytest.fixture(scope="module")
def apparel_fit():
    apparel = apparel_with_spend()
    return apparel, ParetoNBDModel(**BOTH).fit(apparel)


def test_histogram_sums_each_customers_own_distribution(apparel_fit):
    apparel, model = apparel_fit
    table = evaluate.period_transactions(model, apparel, max_frequency=5)
    assert list(table.index) == ["0", "1", "2", "3", "4", "5+"]
    assert table["observed"].sum() == len(apparel)
    # One customer at a time, by the family's formula at that customer's parameters: the
    # same terms summed in another order (the grouped rows), so equal to rounding.
    per_customer = model.customer_parameters(apparel)
    T = apparel["T"].to_numpy()
    expected = np.zeros(6)
    for i in range(len(apparel)):
        params = tuple(np.array([per_customer[name][i] if name in per_customer
                                 else model.params_[name]])
                       for name in model.family.param_names)
        cells = [model.family.pmf_new(params, n, T[i:i + 1])[0] for n in range(5)]
        expected += [*cells, 1.0 - sum(cells)]
    np.testing.assert_allclose(table["expected"], expected, rtol=1e-10)
    assert table["expected"].sum() == pytest.approx(len(apparel), rel=1e-12)
    # The covariates matter: the histogram differs from that of the base parameters alone.
    base = ParetoNBDModel().set_params_(model.params_[list(model.family.param_names)]
                                        .to_dict(), time_unit="W")
    plain = evaluate.period_transactions(base, apparel.drop(columns=["Gender", "Channel"]),
                                         max_frequency=5)
    assert np.max(np.abs(plain["expected"] - table["expected"])) > 5


def test_the_histogram_plot_draws_a_model_with_covariates(apparel_fit):
    apparel, model = apparel_fit
    ax = plotting.plot_period_transactions(model, apparel)
    heights = [patch.get_height() for patch in ax.patches]
    expected = evaluate.period_transactions(model, apparel)["expected"]
    np.testing.assert_allclose(heights[len(expected):], expected, rtol=1e-12)
