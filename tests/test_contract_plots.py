"""The contractual survival plot and the Kaplan-Meier survival it draws."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from clvmodels import (  # noqa: E402
    BayesianShiftedBetaGeoModel,
    ShiftedBetaGeoModel,
    cohort_to_customers,
    load_retention_cohorts,
)
from clvmodels.estimation.contract import empirical_survival  # noqa: E402
from clvmodels.plotting import plot_retention  # noqa: E402


def test_kaplan_meier_of_one_cohort_is_its_survivors_share():
    """One cohort, everyone observed for 12 periods: S(t) is the survivors' share (a product
    of 12 ratios: 1e-14)."""
    survivors = load_retention_cohorts()["high_end"]
    table = cohort_to_customers(survivors)
    np.testing.assert_allclose(empirical_survival(table), survivors / 1000, rtol=1e-14)
    weighted = cohort_to_customers(survivors, expand=False)
    np.testing.assert_allclose(empirical_survival(weighted, weighted["weights"]),
                               survivors / 1000, rtol=1e-14)


def test_kaplan_meier_counts_each_customer_while_observed():
    """Four customers: a left at the 1st renewal, b active after 1, c left at the 3rd, d active
    after 3. At risk at t = 1: all 4, one leaves (3/4); t = 2: c, d (b is censored at 1):
    none leaves; t = 3: c and d, c leaves (1/2)."""
    table = pd.DataFrame({"renewals": [0, 1, 2, 3], "churned": [True, False, True, False]})
    np.testing.assert_allclose(empirical_survival(table), [1, 0.75, 0.75, 0.375], rtol=1e-15)


def test_plot_shows_the_survivors_and_the_projection():
    cohorts = load_retention_cohorts()
    model = ShiftedBetaGeoModel().fit(cohort_to_customers(cohorts.loc[:7, "regular"],
                                                          time_unit="Y"))
    ax = plot_retention(model, cohorts["regular"], periods=20)
    observed, fitted = ax.get_lines()
    np.testing.assert_array_equal(observed.get_ydata(), cohorts["regular"] / 1000)
    np.testing.assert_allclose(fitted.get_ydata(), model.survival(np.arange(21)), rtol=0)
    assert ax.get_xlabel() == "Renewal periods since acquisition (years)"


def test_plot_of_a_bayesian_model_has_a_band():
    pytest.importorskip("pymc")
    cohorts = load_retention_cohorts()
    table = cohort_to_customers(cohorts.loc[:7, "regular"], time_unit="Y")
    model = BayesianShiftedBetaGeoModel().fit(table, method="map", draws=100, chains=1,
                                              random_seed=2)
    ax = plot_retention(model, table)
    assert len(ax.collections) == 1 and "90% interval" in [t.get_text() for t in
                                                           ax.get_legend().get_texts()]
