"""Computations that must end (issue 13, items 5-7): degenerate fits are announced, special
functions have bounds, the tracking forecast of a log spanning centuries and a Pareto/NBD fit
with a customer of 1e6 purchases finish in seconds.

What ran without end before runs in a fresh interpreter with a bounded wait
(:func:`run_bounded`), so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import mpmath
import numpy as np
import pandas as pd
import pytest

from clvmodels import (
    BetaGeoModel,
    ConvergenceError,
    DegenerateFitWarning,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)
from clvmodels._numerics import MPMATH_MAX_EVALUATIONS, log_hyp2f1_forms
from clvmodels.cohort import cohort_sums


def run_bounded(code: str, seconds: float) -> str:
    """Run ``code`` in a fresh interpreter of this environment; its stdout, or a test failure
    if it has not finished within ``seconds`` (it is killed then)."""
    try:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                              capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no answer within {seconds} s")
    assert done.returncode == 0, done.stderr
    return done.stdout


# ----------------------------------------------------------------------------- item 5
def _identical_heavy_buyers() -> pd.DataFrame:
    """The issue's 50 customers with 1e6 repeat purchases in 52 weeks, the last at the end."""
    return pd.DataFrame({"frequency": np.full(50, 10**6), "recency": 52.0, "T": 52.0})


def assert_announced_or_refused(model, data: pd.DataFrame) -> None:
    """A degenerate fit ends with a DegenerateFitWarning naming the model, or, where the
    optimiser gives up on the likelihood's ridge to infinity, a ConvergenceError: never
    silently (the documented alternatives, see MLEModel.fit)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitted = model().fit(data)
        except ConvergenceError as error:
            assert str(error).startswith(f"{model.__name__}: ")
            return
    announced = [str(w.message) for w in caught if issubclass(w.category, DegenerateFitWarning)]
    assert announced and announced[0].startswith(f"{model.__name__}: degenerate fit: ")
    assert np.all(np.isfinite(fitted.params_))


@pytest.mark.parametrize("model", [BetaGeoModel, ModifiedBetaGeoModel])
def test_a_fit_on_identical_customers_is_announced_or_refused(model):
    # Customers all alike: nothing tells the purchase rates' spread, or dropout, apart.
    assert_announced_or_refused(model, _identical_heavy_buyers())


def test_a_fit_on_nanosecond_times_is_announced_or_refused():
    """T = 1e-9 time units: fitted on rescaled data, the dropout is degenerate (a and b of
    1e6 and beyond: the data cannot tell them)."""
    rng = np.random.default_rng(0)
    frequency = rng.integers(0, 5, 50).astype(float)
    data = pd.DataFrame({"frequency": frequency,
                         "recency": np.where(frequency > 0, rng.uniform(0, 1e-9, 50), 0.0),
                         "T": 1e-9})
    assert_announced_or_refused(BetaGeoModel, data)


def test_a_fit_on_a_ridge_is_announced():
    """Purchase times spread a little: the fit converges, but a and b run off together along
    a ridge (standard errors of log a and log b of 20: the data hardly determine them)."""
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"frequency": np.full(50, 10**6), "recency": rng.uniform(50, 52, 50),
                         "T": 52.0})
    with pytest.warns(DegenerateFitWarning, match="the data hardly determine a "):
        BetaGeoModel().fit(data)


def test_an_ordinary_fit_is_not_announced(cdnow):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)
        BetaGeoModel().fit(cdnow)
        ParetoNBDModel().fit(cdnow)


def _expected_at_reference(r, alpha, a, b, x, T, t) -> float:
    """E[X(t)] of a customer with x purchases, the last at T (alive with probability
    (b + x - 1) / (a + b + x - 1)), from the published closed form in 40-digit mpmath."""
    with mpmath.workdps(40):
        r, alpha, a, b, x, T, t = (mpmath.mpf(v) for v in (r, alpha, a, b, x, T, t))
        r, alpha, b = r + x, alpha + T, b + x
        z = t / (alpha + t)
        alive = (b - 1) / (a + b - 1)
        future = (a + b - 1) / (a - 1) * (1 - (1 + t / alpha) ** -r
                                          * mpmath.hyp2f1(r, b, a + b - 1, z))
        return float(alive * future)


def test_predictions_of_a_degenerate_fit_return():
    """a = 8e10, b = 8e16 (the issue's degenerate fit): SciPy's 2F1 fails there, and mpmath's
    ran for over 600 s on one customer; the average over p now takes milliseconds."""
    output = run_bounded("""
        import pandas as pd
        from clvmodels import BetaGeoModel
        model = BetaGeoModel().set_params_({"r": 1.0, "alpha": 1.0, "a": 8e10, "b": 8e16})
        customer = pd.DataFrame({"frequency": [10**6], "recency": [52.0], "T": [52.0]})
        print(repr(float(model.expected_purchases(customer, 10.0).iloc[0])))
    """, seconds=60)
    reference = _expected_at_reference(1.0, 1.0, 8e10, 8e16, 1e6, 52.0, 10.0)
    # the quadrature's tolerance (see tests/test_beta_mixture.py)
    assert float(output) == pytest.approx(reference, rel=1e-11)


def test_the_exact_2f1_gives_up_on_huge_arguments():
    """mpmath's 2F1 at a = 8e10, b = 8e16 does not end (its transformations recurse without
    the term bound): beyond MPMATH_MAX_ARGUMENT the fallback declines (NaN) at once."""
    output = run_bounded("""
        from clvmodels._numerics import log_hyp2f1_forms
        print(log_hyp2f1_forms((0.0, 8e16 + 1e6, 8e10, 8e16, 1 / 54))[()])
    """, seconds=30)
    assert output.strip() == "nan"


def test_the_exact_2f1_has_a_bound_on_evaluations():
    # SciPy returns NaN for this argument (tests/test_numerics.py); one more than the bound
    # of mpmath evaluations (~1 ms each) is refused before any is made.
    case = (0.0, 1.0, 170.0, 172.0, np.full(MPMATH_MAX_EVALUATIONS + 1, 1600 / 1602))
    with pytest.raises(ConvergenceError, match="degenerate fit"):
        log_hyp2f1_forms(case)


# ----------------------------------------------------------------------------- item 6
def test_tracking_of_a_log_spanning_three_centuries():
    """One purchase mistyped as 1700-01-01: 108,626 days of ages, each through mpmath before
    (~26 minutes). Now the work per draw is bounded: checked against the sum over the cohort
    of E[X(age)] at three week ends, computed customer by customer."""
    output = run_bounded("""
        import json
        import pandas as pd
        from clvmodels import BetaGeoModel, load_cdnow_transactions
        from clvmodels.evaluate import tracking
        log = load_cdnow_transactions()
        log.loc[0, "date"] = pd.Timestamp("1700-01-01")
        model = BetaGeoModel().set_params_(
            {"r": 0.24, "alpha": 4.4, "a": 5.7e-6, "b": 176726.0}, time_unit="W")
        table = tracking(model, log, calibration_end="1997-09-30")
        weeks = [table.index[i] for i in (100, -80, -1)]
        print(json.dumps({"days": [str(day.date()) for day in weeks],
                          "expected": [table.loc[day, "cumulative_expected"] for day in weeks],
                          "error": table.attrs["interpolation_error"], "weeks": len(table)}))
    """, seconds=120)
    result = json.loads(output)
    assert result["weeks"] == 15_575
    assert result["error"] < 1e-9  # documented ~1e-11 (clvmodels/cohort.py)
    from clvmodels import load_cdnow_transactions

    log = load_cdnow_transactions()
    log.loc[0, "date"] = pd.Timestamp("1700-01-01")
    first = log.groupby("customer_id")["date"].min()
    params = (0.24, 4.4, 5.7e-6, 176726.0)
    family = BetaGeoModel.family
    largest = max(result["expected"])
    for day, expected in zip(result["days"], result["expected"], strict=True):
        ages = ((pd.Timestamp(day) - first).dt.days + 1).clip(lower=0).to_numpy() / 7
        reference = family.expected_new(params, ages).sum()
        # interpolation (below 1e-9 of the largest E[X], measured above) and the FFT sum's
        # rounding (~1e-16 of the largest sum times log of the span)
        assert expected == pytest.approx(reference, rel=1e-9, abs=1e-9 * largest)


def test_cohort_sums_by_fft_agree_with_the_direct_sums():
    rng = np.random.default_rng(3)
    n_days = 40_000
    by_age = np.cumsum(rng.uniform(0, 1, (2, n_days + 1)), axis=1)
    by_age[:, 0] = 0.0
    first_day = np.sort(rng.choice(n_days // 2, 400, replace=False))
    cohort_size = rng.integers(1, 20, 400).astype(float)
    week_ends = np.minimum(np.arange(7, n_days + 7, 7), n_days)
    assert len(week_ends) * len(first_day) > 1_000_000  # the FFT route
    direct = np.column_stack([by_age[:, np.clip(w - first_day, 0, None)] @ cohort_size
                              for w in week_ends])
    # FFT convolution rounds to ~1e-16 of the largest sum per log2(length) level.
    np.testing.assert_allclose(cohort_sums(by_age, first_day, cohort_size, week_ends), direct,
                               rtol=0, atol=1e-13 * direct.max())


# ----------------------------------------------------------------------------- item 7
def test_pareto_nbd_with_a_customer_of_a_million_purchases_fits_in_seconds():
    """CDNOW plus one customer with 1e6 purchases: SciPy's 2F1 takes ~1 ms per row near z = 1,
    which the fit's path reaches for every row: 320 s before; now those rows go to the
    quadrature (~10 us) with all partials from it. The fit is degenerate (s and beta run off
    together), and says so."""
    output = run_bounded("""
        import warnings
        import pandas as pd
        from clvmodels import ParetoNBDModel, load_cdnow_summary
        from clvmodels import DegenerateFitWarning
        rfm = load_cdnow_summary()
        whale = pd.DataFrame({"frequency": [10**6], "recency": [38.0], "T": [38.86]},
                             index=[99999])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = ParetoNBDModel().fit(pd.concat([rfm, whale]))
        print(any(issubclass(w.category, DegenerateFitWarning) for w in caught))
    """, seconds=90)
    assert output.strip() == "True"
