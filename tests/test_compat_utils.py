"""``clvmodels.compat.lifetimes`` utils, datasets, generators and plots against the real
lifetimes (0.11.3) on the same inputs.

Where lifetimes is right the frames are equal (``assert_frame_equal``: same columns, dtypes,
index, values); where it fails on pandas 3 or differs on purpose, the test asserts both
lifetimes' behaviour and clvmodels' answer, so that the difference stays recorded (see
docs/lifetimes-migration.md).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from pandas.testing import assert_frame_equal, assert_series_equal  # noqa: E402

from clvmodels import BetaGeoBetaBinomModel  # noqa: E402
from clvmodels.compat.lifetimes import datasets as compat_datasets  # noqa: E402
from clvmodels.compat.lifetimes import generate_data as compat_generate  # noqa: E402
from clvmodels.compat.lifetimes import plotting as compat_plotting  # noqa: E402
from clvmodels.compat.lifetimes import utils as compat  # noqa: E402
from clvmodels.datasets import data_file  # noqa: E402
from clvmodels.validation import ValidationError  # noqa: E402

lifetimes = pytest.importorskip("lifetimes")
lifetimes_datasets = pytest.importorskip("lifetimes.datasets")
lifetimes_plotting = pytest.importorskip("lifetimes.plotting")
lifetimes_utils = pytest.importorskip("lifetimes.utils")

# Same closed forms evaluated in another order (a sum of at most a few hundred positive terms,
# or one array call instead of scalar calls, whose SIMD exp/log may differ by a few ulp):
# relative differences of order 1e-14, far inside this.
RTOL = 1e-12

LOG = pd.DataFrame(
    [[1, "2015-01-01", 1], [1, "2015-02-06", 2], [2, "2015-01-01", 2], [3, "2015-01-01", 3],
     [3, "2015-01-02", 1], [3, "2015-01-05", 5], [4, "2015-01-16", 6], [4, "2015-02-02", 3],
     [4, "2015-02-05", 3], [5, "2015-01-16", 3], [5, "2015-01-17", 1], [5, "2015-01-18", 8],
     [6, "2015-02-02", 5]],
    columns=["id", "date", "amount"],
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def cdnow_log() -> pd.DataFrame:
    log = lifetimes_datasets.load_dataset("CDNOW_sample.txt", header=None, sep=r"\s+")
    log.columns = ["id_total", "id_sample", "date", "cds", "amount"]
    return log[["id_sample", "date", "amount"]]


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    return lifetimes_datasets.load_cdnow_summary(index_col=[0])


@pytest.fixture(scope="module")
def fitted_bg(cdnow_summary):
    return lifetimes.BetaGeoFitter().fit(cdnow_summary["frequency"], cdnow_summary["recency"],
                                         cdnow_summary["T"])


# ------------------------------------------------------------------------------ summaries
@pytest.mark.parametrize("freq", ["D", "W", "h"])
@pytest.mark.parametrize("amount", [None, "amount"])
@pytest.mark.parametrize("include_first", [False, True])
@pytest.mark.parametrize("multiplier", [1, 7])
def test_summary_equals_lifetimes(freq, amount, include_first, multiplier):
    arguments = dict(observation_period_end="2015-02-07", freq=freq,
                     include_first_transaction=include_first, freq_multiplier=multiplier)
    expected = lifetimes_utils.summary_data_from_transaction_data(LOG, "id", "date", amount,
                                                                  **arguments)
    actual = compat.summary_data_from_transaction_data(LOG, "id", "date", amount, **arguments)
    assert_frame_equal(actual, expected)


def test_summary_of_cdnow_sample_equals_lifetimes(cdnow_log):
    arguments = dict(datetime_format="%Y%m%d", observation_period_end="19970930", freq="D",
                     freq_multiplier=7)
    expected = lifetimes_utils.summary_data_from_transaction_data(
        cdnow_log, "id_sample", "date", "amount", **arguments)
    # lifetimes drops the later transactions silently; clvmodels says how many.
    with pytest.warns(UserWarning, match="1959 transaction"):
        actual = compat.summary_data_from_transaction_data(cdnow_log, "id_sample", "date",
                                                           "amount", **arguments)
    assert_frame_equal(actual, expected)
    assert actual.attrs["time_unit"] == "W"  # days / 7: a native model can check the unit


def test_summary_keeps_string_ids_and_their_order():
    log = pd.DataFrame({"id": ["Y", "X", "Y"], "date": ["2015-01-01", "2015-02-01",
                                                        "2015-01-05"]})
    expected = lifetimes_utils.summary_data_from_transaction_data(log, "id", "date")
    assert_frame_equal(compat.summary_data_from_transaction_data(log, "id", "date"), expected)


@pytest.mark.parametrize("freq", ["M", "Y"])
def test_months_and_years_count_whole_calendar_periods(freq):
    # lifetimes divides by np.timedelta64(1, "M"), which pandas 3 refuses.
    with pytest.raises(ValueError, match="Unit M is not supported|Unit Y is not supported"):
        lifetimes_utils.summary_data_from_transaction_data(LOG, "id", "date", freq=freq)
    log = pd.DataFrame({"id": [1, 1, 1, 2], "date": ["2014-01-31", "2014-02-01", "2015-03-15",
                                                      "2015-06-30"]})
    actual = compat.summary_data_from_transaction_data(log, "id", "date", freq=freq,
                                                       observation_period_end="2015-06-30")
    # Months: periods 2014-01, 2014-02, 2015-03 -> recency 14, T 17; years: 2014, 2015.
    values = {"M": [[2.0, 14.0, 17.0], [0.0, 0.0, 0.0]], "Y": [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]}
    expected = pd.DataFrame(values[freq], columns=["frequency", "recency", "T"],
                            index=pd.Index([1, 2], name="id"))
    assert_frame_equal(actual, expected)


def test_weeks_exclude_purchases_after_the_observation_end():
    # Sunday 2015-02-08 is after the observation end (Saturday) but in its week: lifetimes
    # keeps it (its week starts before the end), clvmodels leaves it out and says so.
    log = pd.DataFrame({"id": [1, 1, 1], "date": ["2015-01-01", "2015-02-06", "2015-02-08"],
                        "amount": [1.0, 2.0, 3.0]})
    kept = lifetimes_utils.summary_data_from_transaction_data(
        log, "id", "date", "amount", observation_period_end="2015-02-07", freq="W")
    assert kept.loc[1, "monetary_value"] == 5.0
    with pytest.warns(UserWarning, match="1 transaction"):
        actual = compat.summary_data_from_transaction_data(
            log, "id", "date", "amount", observation_period_end="2015-02-07", freq="W")
    assert actual.loc[1].tolist() == [1.0, 5.0, 5.0, 2.0]


def test_upper_case_hours_are_lifetimes_hours():
    # lifetimes' "H" (in its own CLV constants) is refused by pandas 3's periods; "h" works.
    log = pd.DataFrame({"id": [1, 1, 2], "date": ["2015-01-01 10:00", "2015-01-02 11:30",
                                                  "2015-01-01 09:00"]})
    with pytest.raises(ValueError, match="Invalid frequency: H"):
        lifetimes_utils.summary_data_from_transaction_data(log, "id", "date", freq="H")
    expected = lifetimes_utils.summary_data_from_transaction_data(log, "id", "date", freq="h")
    assert_frame_equal(compat.summary_data_from_transaction_data(log, "id", "date", freq="H"),
                       expected)


def test_first_purchase_week_counts_only_purchases_up_to_the_end():
    log = pd.DataFrame({"id": [1, 1, 1], "date": ["2015-01-01", "2015-02-06", "2015-02-08"],
                        "amount": [1.0, 2.0, 3.0]})
    arguments = dict(observation_period_end="2015-02-07", freq="W",
                     include_first_transaction=True)
    kept = lifetimes_utils.summary_data_from_transaction_data(log, "id", "date", "amount",
                                                              **arguments)
    assert kept.loc[1, "monetary_value"] == 3.0  # (1 + (2 + 3)) / 2, Sunday's 3 included
    with pytest.warns(UserWarning, match="1 transaction"):
        actual = compat.summary_data_from_transaction_data(log, "id", "date", "amount",
                                                           **arguments)
    assert actual.loc[1].tolist() == [2.0, 5.0, 5.0, 1.5]  # (1 + 2) / 2


def test_unsupported_frequency_is_refused():
    with pytest.raises(ValueError, match="freq='Q' is not supported"):
        compat.summary_data_from_transaction_data(LOG, "id", "date", freq="Q")


def test_ambiguous_dates_are_refused_not_guessed():
    log = pd.DataFrame({"id": [1, 1], "date": ["01/02/2015", "03/04/2015"]})
    with pytest.raises(ValidationError, match="date"):
        compat.summary_data_from_transaction_data(log, "id", "date")


@pytest.mark.parametrize("freq", ["D", "W", "h"])
@pytest.mark.parametrize("amount", [None, "amount"])
@pytest.mark.parametrize("end", ["2015-02-07", None, "2015-02-01"])
def test_find_first_transactions_equals_lifetimes(freq, amount, end):
    expected = lifetimes_utils._find_first_transactions(LOG, "id", "date", amount,
                                                        observation_period_end=end, freq=freq)
    actual = compat.find_first_transactions(LOG, "id", "date", amount,
                                            observation_period_end=end, freq=freq)
    assert_frame_equal(actual, expected)


# ------------------------------------------------------------------------ calibration/holdout
@pytest.mark.parametrize("include_first", [False, True])
@pytest.mark.parametrize("multiplier", [1, 7])
def test_calibration_holdout_by_day_equals_lifetimes(include_first, multiplier):
    arguments = dict(observation_period_end="2015-02-07", monetary_value_col="amount",
                     include_first_transaction=include_first, freq_multiplier=multiplier)
    expected = lifetimes_utils.calibration_and_holdout_data(LOG, "id", "date", "2015-02-01",
                                                            **arguments)
    actual = compat.calibration_and_holdout_data(LOG, "id", "date", "2015-02-01", **arguments)
    assert_frame_equal(actual, expected)


def test_calibration_holdout_of_cdnow_sample_equals_lifetimes(cdnow_log):
    arguments = dict(observation_period_end="19980630", datetime_format="%Y%m%d",
                     monetary_value_col="amount", freq_multiplier=7)
    expected = lifetimes_utils.calibration_and_holdout_data(cdnow_log, "id_sample", "date",
                                                            "19970930", **arguments)
    actual = compat.calibration_and_holdout_data(cdnow_log, "id_sample", "date", "19970930",
                                                 **arguments)
    # One CDNOW customer buys twice on one holdout day: lifetimes averages the two rows,
    # clvmodels the day (like the calibration's monetary value); everything else is equal.
    spend = "monetary_value_holdout"
    assert_frame_equal(actual.drop(columns=spend), expected.drop(columns=spend))
    differs = actual.index[~np.isclose(actual[spend], expected[spend], rtol=RTOL)]
    days = compat.find_first_transactions(cdnow_log, "id_sample", "date", "amount", "%Y%m%d")
    holdout = days[days["date"] > pd.Period("1997-09-30", "D")]
    per_day = holdout.groupby("id_sample")["amount"].mean()
    np.testing.assert_allclose(actual.loc[per_day.index, spend], per_day, rtol=RTOL)
    assert len(differs) > 0 and set(differs) <= set(per_day.index)


def test_calibration_holdout_without_amounts_works_where_lifetimes_fails():
    # lifetimes' holdout count aggregates an empty frame, which pandas 3 refuses.
    with pytest.raises(ValueError, match="No objects to concatenate"):
        lifetimes_utils.calibration_and_holdout_data(LOG, "id", "date", "2015-02-01",
                                                     observation_period_end="2015-02-07")
    actual = compat.calibration_and_holdout_data(LOG, "id", "date", "2015-02-01",
                                                 observation_period_end="2015-02-07", freq="W")
    # lifetimes' own expected table (its tests/test_utils.py), in its dtypes.
    expected = pd.DataFrame(
        [[1, 0.0, 0.0, 4.0, 1.0, 1.0], [2, 0.0, 0.0, 4.0, 0.0, 1.0], [3, 1.0, 1.0, 4.0, 0.0, 1.0],
         [4, 0.0, 0.0, 2.0, 1.0, 1.0], [5, 0.0, 0.0, 2.0, 0.0, 1.0]],
        columns=["id", "frequency_cal", "recency_cal", "T_cal", "frequency_holdout",
                 "duration_holdout"]).set_index("id")
    assert_frame_equal(actual, expected)


def test_weekly_holdout_spend_is_per_purchase_week():
    expected = lifetimes_utils.calibration_and_holdout_data(
        LOG, "id", "date", "2015-02-01", observation_period_end="2015-02-07", freq="W",
        monetary_value_col="amount")
    actual = compat.calibration_and_holdout_data(
        LOG, "id", "date", "2015-02-01", observation_period_end="2015-02-07", freq="W",
        monetary_value_col="amount")
    spend = "monetary_value_holdout"
    assert_frame_equal(actual.drop(columns=spend), expected.drop(columns=spend))
    # Customer 4 spends 3 + 3 in the week of 2015-02-02: one purchase week worth 6
    # (lifetimes: the mean row, 3).
    assert expected.loc[4, spend] == 3.0
    assert actual[spend].tolist() == [2.0, 0.0, 0.0, 6.0, 0.0]


@pytest.mark.parametrize("freq, calibration, holdout", [
    ("D", [1.0, 31.0, 31.0], 1.0),
    ("W", [1.0, 4.0, 4.0], 1.0),
])
def test_the_calibration_end_day_is_calibration_all_day(freq, calibration, holdout):
    log = pd.DataFrame({"id": [1, 1, 1, 2], "date": pd.to_datetime([
        "2015-01-01 00:00", "2015-02-01 10:00", "2015-02-03 00:00", "2015-01-05 00:00"]),
                        "amount": 1.0})
    arguments = dict(observation_period_end="2015-02-07", freq=freq, monetary_value_col="amount")
    theirs = lifetimes_utils.calibration_and_holdout_data(log, "id", "date", "2015-02-01",
                                                          **arguments)
    # lifetimes cuts at midnight: Sunday 10:00 is a holdout purchase there.
    assert theirs.loc[1, ["frequency_cal", "frequency_holdout"]].tolist() == [0.0, 2.0]
    actual = compat.calibration_and_holdout_data(log, "id", "date", "2015-02-01", **arguments)
    assert actual.loc[1, ["frequency_cal", "recency_cal", "T_cal"]].tolist() == calibration
    assert actual.loc[1, "frequency_holdout"] == holdout


@pytest.mark.parametrize("freq", ["D", "W"])
def test_a_holdout_inside_the_calibration_end_day_is_empty(freq):
    log = pd.DataFrame({"id": [1, 1], "date": pd.to_datetime(["2015-01-01 00:00",
                                                              "2015-02-01 10:00"])})
    with pytest.raises(ValidationError, match="no transaction in 'date' falls in the holdout"):
        compat.calibration_and_holdout_data(log, "id", "date", "2015-02-01", freq=freq)


def test_ambiguous_end_dates_are_refused_not_guessed():
    # lifetimes reads "01/02/2015" month first, as pandas guesses.
    for arguments in (dict(calibration_period_end="01/02/2015"),
                      dict(calibration_period_end="2015-01-20",
                           observation_period_end="01/02/2015")):
        with pytest.raises(ValidationError, match="period_end '01/02/2015' has an ambiguous"):
            compat.calibration_and_holdout_data(LOG, "id", "date", **arguments)
    with pytest.raises(ValidationError, match="observation_period_end '01/02/2015'"):
        compat.find_first_transactions(LOG, "id", "date", observation_period_end="01/02/2015")


def test_empty_holdout_is_refused():
    with pytest.raises(ValidationError, match="no transaction in 'date' falls in the holdout"):
        compat.calibration_and_holdout_data(LOG, "id", "date", "2015-02-07")


# ------------------------------------------------------------------------------- tracking
def test_expected_cumulative_transactions_equals_lifetimes(fitted_bg, cdnow_log):
    log = cdnow_log[["id_sample", "date"]]
    for arguments in (dict(t=25 * 7, freq="D", freq_multiplier=7),
                      dict(t=14, freq="D", set_index_date=True),
                      dict(t=30, freq="W")):
        expected = lifetimes_utils.expected_cumulative_transactions(
            fitted_bg, log, "date", "id_sample", datetime_format="%Y%m%d", **arguments)
        actual = compat.expected_cumulative_transactions(
            fitted_bg, log, "date", "id_sample", datetime_format="%Y%m%d", **arguments)
        assert_frame_equal(actual, expected, check_exact=False, rtol=RTOL)
        assert_series_equal(actual["actual"], expected["actual"])


def test_monthly_tracking_where_lifetimes_fails(fitted_bg, cdnow_log):
    log = cdnow_log[["id_sample", "date"]]
    # pandas 3 refuses date_range(freq="M"), which lifetimes builds its months with.
    with pytest.raises(ValueError, match="Invalid frequency: M"):
        lifetimes_utils.expected_cumulative_transactions(fitted_bg, log, "date", "id_sample",
                                                         12, "%Y%m%d", "M")
    actual = compat.expected_cumulative_transactions(fitted_bg, log, "date", "id_sample", 12,
                                                     "%Y%m%d", "M")
    months = compat.find_first_transactions(log, "id_sample", "date", datetime_format="%Y%m%d",
                                            freq="M")
    repeats = months[~months["first"]].groupby("date").size()
    first_month = pd.Period("1997-01", "M")
    expected_actual = [int(repeats[repeats.index <= first_month + i].sum()) for i in range(12)]
    assert actual["actual"].tolist() == expected_actual
    cohorts = months[months["first"]].groupby("date").size()  # Jan to Mar 1997
    for i in (1, 6, 12):
        ages = np.array([(first_month + i - p).n for p in cohorts.index], dtype=float)
        earlier = ages > 0
        expected = np.sum(fitted_bg.expected_number_of_purchases_up_to_time(ages[earlier])
                          * cohorts.to_numpy()[earlier])
        np.testing.assert_allclose(actual["predicted"].iloc[i - 1], expected, rtol=RTOL)


def test_alive_path_where_lifetimes_fails(fitted_bg):
    history = pd.DataFrame({"date": pd.to_datetime(["2015-01-01", "2015-01-03", "2015-01-03",
                                                    "2015-01-06"])})
    # lifetimes forward-fills with fillna(method="ffill"), which pandas 3 removed.
    with pytest.raises(TypeError, match="method"):
        lifetimes_utils.calculate_alive_path(fitted_bg, history, "date", 7)
    path = compat.calculate_alive_path(fitted_bg, history, "date", 7)
    frequency = [0, 0, 1, 1, 1, 2, 2, 2]
    recency = [0, 0, 2, 2, 2, 5, 5, 5]
    expected = [float(np.squeeze(fitted_bg.conditional_probability_alive(f, r, T)))
                for T, (f, r) in enumerate(zip(frequency, recency, strict=True))]
    assert_series_equal(path, pd.Series(expected))
    assert path[0] == 1.0


def test_alive_path_refuses_ambiguous_dates(fitted_bg):
    history = pd.DataFrame({"date": ["01/02/2015", "03/04/2015"]})
    with pytest.raises(ValidationError, match="day/month"):
        compat.calculate_alive_path(fitted_bg, history, "date", 7)
    with pytest.raises(ValidationError, match="day/month"):
        compat_plotting.plot_history_alive(fitted_bg, 7, history, "date")


def test_alive_path_covers_a_history_longer_than_t(fitted_bg):
    history = pd.DataFrame({"date": ["2015-01-01", "2015-01-10"]})
    assert len(compat.calculate_alive_path(fitted_bg, history, "date", 3)) == 10


# ---------------------------------------------------------------------------- checks, CLV
def test_check_inputs_raise_where_lifetimes_raises():
    frequency, recency, T = np.array([0, 1, 2]), np.array([0, 1, 10]), np.array([5, 6, 15])
    money = np.array([2.3, 490, 33.33])
    assert compat._check_inputs(frequency, recency, T, money) is None
    bad = [((frequency, T + 1, T), "recency is larger than T at row 0"),
           ((frequency, np.array([1, 1, 10]), T), "recency must be 0 where frequency is 0"),
           ((frequency, np.array([0, -1, 10]), np.array([5, 6, 15])), "negative at row 1"),
           ((np.array([0, 0.5, 2]), recency, T), "whole number; row 1"),
           ((frequency, recency, T, np.array([0, 1.0, 2])), "positive; row 0")]
    for arguments, message in bad:
        with pytest.raises(ValueError):
            lifetimes_utils._check_inputs(*arguments)
        with pytest.raises(ValidationError, match=message):
            compat._check_inputs(*arguments)


def test_scale_time():
    assert compat._scale_time(np.arange(200.0)) == lifetimes_utils._scale_time(np.arange(200.0))


@pytest.mark.parametrize("freq", ["W", "D"])
def test_customer_lifetime_value_equals_lifetimes(fitted_bg, cdnow_summary, freq):
    head = cdnow_summary.head(20)
    spend = pd.Series(np.linspace(5.0, 50.0, 20), index=head.index)
    arguments = (head["frequency"], head["recency"], head["T"], spend)
    expected = lifetimes_utils._customer_lifetime_value(fitted_bg, *arguments, time=6,
                                                        discount_rate=0.02, freq=freq)
    actual = compat._customer_lifetime_value(fitted_bg, *arguments, time=6, discount_rate=0.02,
                                             freq=freq)
    assert_series_equal(actual, expected, check_exact=False, rtol=RTOL)
    assert compat.customer_lifetime_value is compat._customer_lifetime_value


def test_customer_lifetime_value_refuses_misaligned_spend(fitted_bg, cdnow_summary):
    head = cdnow_summary.head(3)
    with pytest.raises(ValidationError, match="index differs"):
        compat._customer_lifetime_value(fitted_bg, head["frequency"], head["recency"],
                                        head["T"], pd.Series([1.0, 1.0, 1.0]))


# ------------------------------------------------------------------------------- datasets
@pytest.mark.parametrize("loader, kwargs", [
    ("load_cdnow_summary", {}),
    ("load_cdnow_summary", {"index_col": [0]}),
    ("load_cdnow_summary_data_with_monetary_value", {}),
    ("load_donations", {}),
    ("load_transaction_data", {}),
    ("load_transaction_data", {"parse_dates": ["date"]}),
])
def test_loaders_equal_lifetimes(loader, kwargs):
    expected = getattr(lifetimes_datasets, loader)(**kwargs)
    assert_frame_equal(getattr(compat_datasets, loader)(**kwargs), expected)


@pytest.mark.parametrize("name", ["CDNOW_sample.txt", "CDNOW_master.txt"])
def test_raw_files_equal_lifetimes(name):
    kwargs = {"header": None, "sep": r"\s+"} if name == "CDNOW_sample.txt" else {"sep": r"\s+"}
    assert_frame_equal(compat_datasets.load_dataset(name, **kwargs),
                       lifetimes_datasets.load_dataset(name, **kwargs))


def test_unknown_dataset_is_named():
    with pytest.raises(FileNotFoundError, match="no data set 'larynx.csv'"):
        compat_datasets.load_dataset("larynx.csv")
    with pytest.raises(FileNotFoundError, match="no bundled data file 'larynx.csv'.*donations"):
        data_file("larynx.csv")
    # A name, not a path: nothing outside the bundled folder is read.
    with pytest.raises(FileNotFoundError, match="no bundled data file '../README.md'"):
        data_file("../README.md")


# -------------------------------------------------------------------------------- simulate
def _fitter_at(fitter_class, **params):
    fitter = fitter_class()
    fitter.params_ = pd.Series(params)
    return fitter


@pytest.mark.parametrize("generator, fitter_class, params", [
    ("beta_geometric_nbd_model", "BetaGeoFitter",
     dict(r=0.243, alpha=4.414, a=0.793, b=2.426)),
    ("modified_beta_geometric_nbd_model", "ModifiedBetaGeoFitter",
     dict(r=0.525, alpha=6.183, a=0.891, b=1.614)),
    ("pareto_nbd_model", "ParetoNBDFitter", dict(r=0.553, alpha=10.58, s=0.606, beta=11.67)),
])
def test_generators_draw_lifetimes_model(generator, fitter_class, params):
    size, T = 20_000, 39.0
    np.random.seed(7)  # noqa: NPY002 (the generators honour the global seed)
    drawn = getattr(compat_generate, generator)(T, size=size, **params)
    np.random.seed(7)  # noqa: NPY002 (the generators honour the global seed)
    assert_frame_equal(getattr(compat_generate, generator)(T, size=size, **params), drawn)
    assert list(drawn.columns) == ["frequency", "recency", "T"]
    assert drawn.index.name == "customer_id" and (drawn.dtypes == "float64").all()
    expected = _fitter_at(getattr(lifetimes, fitter_class), **params)
    mean = float(expected.expected_number_of_purchases_up_to_time(T))
    # The sample mean of 20,000 draws: 5 standard errors (a false alarm has p < 1e-6).
    error = drawn["frequency"].std() / np.sqrt(size)
    assert abs(drawn["frequency"].mean() - mean) < 5 * error
    assert (drawn["recency"] <= drawn["T"]).all()
    assert (drawn.loc[drawn["frequency"] == 0, "recency"] == 0).all()


def test_bgbb_generator_draws_the_model():
    params = dict(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
    size, n = 20_000, 6
    drawn = compat_generate.beta_geometric_beta_binom_model(n, size=size, random_state=3,
                                                            **params)
    assert list(drawn.columns) == ["frequency", "recency", "n_periods", "customer_id"]
    model = BetaGeoBetaBinomModel().set_params_(params)
    for x in range(n + 1):
        p = float(np.asarray(model.probability_of_purchases_new_customer(x, n)).ravel()[0])
        share = (drawn["frequency"] == x).mean()
        # A binomial proportion: 5 standard errors.
        assert abs(share - p) < 5 * np.sqrt(p * (1 - p) / size) + 1e-12


# --------------------------------------------------------------------------------- plots
def _both(name, *args, **kwargs):
    """The plot drawn by lifetimes and by the compat layer, each after the same seed."""
    axes = []
    for module in (lifetimes_plotting, compat_plotting):
        plt.close("all")
        np.random.seed(0)  # noqa: NPY002 (lifetimes simulates from the global state)
        ax = getattr(module, name)(*args, **kwargs)
        axes.append(ax)
    return axes


def _line_data(ax):
    return [np.asarray(line.get_ydata(), dtype=float) for line in ax.lines]


def test_period_transactions_plot_equals_lifetimes(fitted_bg):
    theirs, ours = _both("plot_period_transactions", fitted_bg)
    assert [p.get_height() for p in ours.patches] == [p.get_height() for p in theirs.patches]
    assert [t.get_text() for t in ours.get_legend().get_texts()] == ["Actual", "Model"]


@pytest.mark.parametrize("name", ["plot_frequency_recency_matrix",
                                  "plot_probability_alive_matrix"])
def test_matrix_plots_equal_lifetimes(fitted_bg, name):
    theirs, ours = _both(name, fitted_bg, max_frequency=20, max_recency=40)
    np.testing.assert_allclose(ours.images[0].get_array(), theirs.images[0].get_array(),
                               rtol=RTOL)
    assert ours.get_title() == theirs.get_title()


@pytest.mark.parametrize("name", ["plot_transaction_rate_heterogeneity",
                                  "plot_dropout_rate_heterogeneity"])
def test_heterogeneity_plots_equal_lifetimes(fitted_bg, name):
    theirs, ours = _both(name, fitted_bg)
    for mine, reference in zip(_line_data(ours), _line_data(theirs), strict=True):
        np.testing.assert_array_equal(mine, reference)
    assert ours.get_title() == theirs.get_title()


def test_expected_repeat_purchases_plot_where_lifetimes_fails(fitted_bg):
    # lifetimes reads ax._get_lines.prop_cycler, gone from matplotlib 3.8.
    with pytest.raises(AttributeError, match="prop_cycler"):
        lifetimes_plotting.plot_expected_repeat_purchases(fitted_bg)
    ax = compat_plotting.plot_expected_repeat_purchases(fitted_bg, label="BG/NBD")
    max_T = fitted_bg.data["T"].max()
    for line, times in zip(ax.lines, (np.linspace(0, max_T, 100),
                                      np.linspace(max_T, 1.5 * max_T, 100)), strict=True):
        np.testing.assert_array_equal(line.get_xdata(), times)
        np.testing.assert_array_equal(line.get_ydata(),
                                      fitted_bg.expected_number_of_purchases_up_to_time(times))
    assert ax.lines[0].get_color() == ax.lines[1].get_color()


def test_calibration_vs_holdout_plot_equals_lifetimes(fitted_bg, cdnow_log):
    table = compat.calibration_and_holdout_data(
        cdnow_log, "id_sample", "date", "19970930", observation_period_end="19980630",
        datetime_format="%Y%m%d", freq_multiplier=7)
    for kind in ("frequency_cal", "time_since_last_purchase"):
        theirs, ours = _both("plot_calibration_purchases_vs_holdout_purchases", fitted_bg,
                             table, kind=kind)
        for mine, reference in zip(_line_data(ours), _line_data(theirs), strict=True):
            np.testing.assert_allclose(mine, reference, rtol=RTOL)
        assert ours.get_xlabel() == theirs.get_xlabel()


@pytest.mark.parametrize("name", ["plot_cumulative_transactions",
                                  "plot_incremental_transactions"])
def test_tracking_plots_equal_lifetimes(fitted_bg, cdnow_log, name):
    log = cdnow_log[["id_sample", "date"]]
    theirs, ours = _both(name, fitted_bg, log, "date", "id_sample", 60, 39,
                         datetime_format="%Y%m%d", freq="W")
    for mine, reference in zip(_line_data(ours), _line_data(theirs), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=RTOL)


def test_history_alive_plot_where_lifetimes_fails(fitted_bg):
    history = pd.DataFrame({"date": pd.to_datetime(["2015-01-01", "2015-01-03", "2015-01-06"])})
    # lifetimes sums the date column itself when resampling, which pandas 3 refuses.
    with pytest.raises(TypeError, match="does not support operation 'sum'"):
        lifetimes_plotting.plot_history_alive(fitted_bg, 10, history, "date")
    ax = compat_plotting.plot_history_alive(fitted_bg, 10, history, "date")
    path = compat.calculate_alive_path(fitted_bg, history, "date", 10)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), path.to_numpy())
    assert len(ax.collections[0].get_segments()) == 3  # one dashed line per purchase day
