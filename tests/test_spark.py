"""The Spark integration in local mode: summaries equal the pandas engine's, fitting from the
distinct rows equals fitting every customer, scoring on the executors equals scoring in pandas.

"Equal" as in tests/test_engines.py: exact (0 ulp) for counts, recency, T and durations; the
small logs here have amounts in eighths, so every spend sum is exact too and whole tables are
compared exactly. Runs with the installed pandas (3.x: pyspark warns it is not fully supported;
these tests exercise createDataFrame, toPandas and mapInPandas with it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from _tolerances import assert_same_maximum
from pandas.testing import assert_frame_equal, assert_series_equal

from clvmodels import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    ValidationError,
    calibration_holdout,
    rfm_summary,
)
from clvmodels._simulate import simulate_transactions
from clvmodels.scoring import ValueSettings, customer_scores

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (extra: spark)")


def _java_missing() -> str | None:
    java = shutil.which("java") or (
        os.path.join(os.environ["JAVA_HOME"], "bin", "java") if "JAVA_HOME" in os.environ
        else None
    )
    if java is None:
        return "no Java runtime (java not on PATH and JAVA_HOME unset); Spark needs Java 17+"
    try:
        subprocess.run([java, "-version"], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return f"the Java runtime does not start ({error})"
    return None


@pytest.fixture(scope="session")
def spark():
    reason = _java_missing()
    if reason:
        pytest.skip(reason)
    # Executors' Python workers must be this interpreter (with pandas and pyarrow).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("clvmodels-tests")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.default.parallelism", "2")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    """300 customers from the BG/NBD simulator over 200 days (about 1,800 purchases), with
    Gamma-Gamma spend in eighths (so every sum of amounts is exact)."""
    log = simulate_transactions(
        BetaGeoModel().set_params_({"r": 1.0, "alpha": 10.0, "a": 1.0, "b": 4.0}),
        GammaGammaModel().set_params_({"p": 6.0, "q": 4.0, "gamma": 150.0}), 300,
        start=pd.Timestamp("2023-01-01"), acquisition_days=60, observation_days=200,
        rng=np.random.default_rng(7), cents=False,
    )
    log["amount"] = np.ceil(log["amount"] * 8) / 8
    return log


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return function(*args, **kwargs)


def _to_pandas(summary, customer_col="customer_id") -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyspark on pandas 3
        table = summary.toPandas()
    return table.set_index(customer_col).sort_index()


@pytest.fixture(scope="module")
def spark_log(spark, log):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return spark.createDataFrame(log)


def test_summary_equals_pandas_exactly(spark_log, log):
    options = dict(amount_col="amount", observation_end="2023-06-01", time_unit="W")
    with pytest.warns(UserWarning, match="transaction") as record:
        summary = rfm_summary(spark_log, engine="spark", **options)
    assert record[0].filename == __file__
    with pytest.warns(UserWarning) as reference_record:
        reference = rfm_summary(log, **options)
    assert str(record[0].message) == str(reference_record[0].message)
    assert_frame_equal(_to_pandas(summary), reference, check_exact=True)
    assert summary.attrs == reference.attrs


def test_calibration_holdout_equals_pandas_exactly_in_hours(spark_log, log):
    options = dict(amount_col="amount", calibration_end="2023-04-15 12:00", time_unit="D",
                   resolution="h")
    summary = calibration_holdout(spark_log, engine="spark", **options)
    reference = calibration_holdout(log, **options)
    assert_frame_equal(_to_pandas(summary), reference, check_exact=True)
    assert summary.attrs == reference.attrs


def test_string_dates_with_a_format(spark):
    log = pd.DataFrame({"customer": ["a", "a", "b"], "day": ["01/01/1997", "05/01/1997",
                                                             "02/01/1997"],
                        "spend": [1.5, 2.25, 3.0]})
    options = dict(customer_col="customer", date_col="day", amount_col="spend",
                   date_format="%d/%m/%Y", time_unit="D")
    summary = rfm_summary(spark.createDataFrame(log), engine="spark", **options)
    assert_frame_equal(_to_pandas(summary, "customer"), rfm_summary(log, **options),
                       check_exact=True)


def test_bad_input_gets_the_pandas_engines_error(spark):
    log = pd.DataFrame({"customer_id": [1, 2, 3], "date": pd.to_datetime(
        ["2020-01-01", "2020-01-02", "2020-01-03"]), "amount": [1.0, -2.0, 3.0]})
    with pytest.raises(ValidationError) as expected:
        rfm_summary(log, amount_col="amount")
    with pytest.raises(ValidationError) as got:
        rfm_summary(spark.createDataFrame(log), amount_col="amount", engine="spark")
    assert str(got.value) == str(expected.value)
    with pytest.raises(ValidationError, match=r"missing column\(s\) 'Date' \(did you mean 'date'"):
        rfm_summary(spark.createDataFrame(log), date_col="Date", engine="spark")
    with pytest.raises(ValidationError, match="expected a pyspark.sql.DataFrame"):
        rfm_summary(log, engine="spark")


def test_day_month_order_is_never_guessed(spark):
    """Spark's try_cast reads year-first layouts only, so "01/02/2006" is refused (asking for
    date_format) rather than read month first; an ambiguous end date gets the pandas
    engine's refusal (before, pd.Timestamp read it month first)."""
    log = pd.DataFrame({"customer_id": ["a", "a"], "date": ["01/02/2006", "10/03/2006"]})
    with pytest.raises(ValidationError, match=r"column 'date': 2 row\(s\) invalid \(e\.g\. "
                       r"customer 'a', value '01/02/2006'\); expected dates Spark can parse "
                       r"\(pass date_format=\.\.\. for other layouts\)"):
        rfm_summary(spark.createDataFrame(log), engine="spark")
    summary = rfm_summary(spark.createDataFrame(log), engine="spark", date_format="%d/%m/%Y",
                          time_unit="D")
    assert _to_pandas(summary)["recency"].tolist() == [37.0]
    iso = log.assign(date=["2006-02-01", "2006-03-10"])
    for options in ({"observation_end": "04/05/2006"},
                    {"calibration_end": "02/03/2006", "observation_end": "2006-03-10"}):
        function = calibration_holdout if "calibration_end" in options else rfm_summary
        with pytest.raises(ValidationError) as expected:
            function(iso, **options)
        with pytest.raises(ValidationError) as got:
            function(spark.createDataFrame(iso), engine="spark", **options)
        assert "ambiguous day/month order" in str(got.value)
        assert str(got.value) == str(expected.value)


@pytest.fixture(scope="module")
def summaries(spark_log, log):
    options = dict(amount_col="amount", time_unit="W")
    return rfm_summary(spark_log, engine="spark", **options), rfm_summary(log, **options)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ParetoNBDModel, GammaGammaModel],
                         ids=lambda c: c.__name__)
def test_fit_from_distinct_rows_equals_fit_on_every_customer(summaries, model_class):
    """Same distinct rows and counts, in another order: the objective differs by summation
    order only, so the optimiser stops at the same maximum up to its stopping rules: compared
    in log-likelihood and standard errors (tests/_tolerances.py)."""
    from clvmodels import spark as clv_spark

    spark_summary, reference = summaries
    fitted = clv_spark.fit(model_class(), spark_summary)
    direct = model_class().fit(reference)
    assert_same_maximum(fitted, direct)
    assert fitted.n_customers_ == direct.n_customers_
    assert fitted.time_unit_ == "W"
    if model_class is GammaGammaModel:
        assert fitted.n_customers_excluded_ == direct.n_customers_excluded_
    else:
        assert fitted.n_distinct_rows_ == direct.n_distinct_rows_ < len(reference)


def test_gamma_gamma_fit_leaves_out_repeat_buyers_at_zero_spend(spark, log):
    """As the pandas fit: the repeat buyers whose repeat purchases are all free are counted,
    announced and left out (the same tolerance as the fit above, for the same reason)."""
    from clvmodels import spark as clv_spark

    day = log["date"].dt.normalize()
    repeat = day > day.groupby(log["customer_id"]).transform("min")
    free = log.loc[repeat, "customer_id"].unique()[:3]
    log = log.assign(amount=log["amount"].mask(repeat & log["customer_id"].isin(free), 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        spark_log = spark.createDataFrame(log)
    spark_summary = rfm_summary(spark_log, engine="spark", amount_col="amount")
    reference = rfm_summary(log, amount_col="amount")
    with pytest.warns(UserWarning, match=r"GammaGammaModel: 3 customer\(s\) with repeat "
                                         r"purchases all worth 0 were left out") as caught:
        fitted = clv_spark.fit(GammaGammaModel(), spark_summary)
    assert [w.filename for w in caught if "worth 0" in str(w.message)] == [__file__]
    direct = _quiet(GammaGammaModel().fit, reference)
    np.testing.assert_allclose(fitted.params_, direct.params_, rtol=1e-6)
    assert fitted.n_customers_ == direct.n_customers_ == (reference["monetary_value"] > 0).sum()
    assert (fitted.excluded_customers_["zero_spend"] == direct.excluded_customers_["zero_spend"]
            == 3)
    assert fitted.n_customers_excluded_ == direct.n_customers_excluded_
    with pytest.raises(ValidationError, match=r"'monetary_value': all \d+ customer\(s\) with "
                                              "repeat purchases have a mean spend of 0"):
        clv_spark.fit(GammaGammaModel(), spark_summary.withColumn("monetary_value",
                                                                  pyspark.sql.functions.lit(0.0)))


def test_scoring_on_executors_equals_pandas(summaries):
    """Spark's scores are clvmodels.scoring's on every batch: the same columns with the same
    meaning as ``clvmodels predict`` (expected_purchases undiscounted, the discounted count
    beside it), the same values (the same code on the same rows: batches only regroup
    customers)."""
    from clvmodels import spark as clv_spark

    spark_summary, reference = summaries
    purchases = BetaGeoModel().fit(reference)
    spend = GammaGammaModel().fit(reference)
    settings = ValueSettings(horizon=52, discount_rate=0.10, margin=0.3)
    table = _to_pandas(clv_spark.score(spark_summary, purchases, spend, settings=settings))
    expected = customer_scores(purchases, spend, reference, settings)
    assert list(table.columns) == list(expected.columns) == [
        "probability_alive", "expected_purchases", "discounted_expected_purchases",
        "expected_spend", "clv"]
    for column in expected.columns:
        assert_series_equal(table[column], expected[column], check_exact=True)
    only_purchases = _to_pandas(clv_spark.score(spark_summary, purchases,
                                                settings=ValueSettings(horizon=10)))
    assert_series_equal(only_purchases["expected_purchases"],
                        purchases.expected_purchases(reference, 10), check_exact=True)
    assert "clv" not in only_purchases
    with pytest.raises(TypeError, match="maximum-likelihood models"):
        clv_spark.score(spark_summary, object(), settings=settings)


def test_spend_sums_that_overflow_are_refused(spark):
    """Amounts of 1e308 gave monetary_value = inf; the pandas engine's refusal instead."""
    log = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b"], "date": pd.to_datetime(
        ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-01", "2020-01-05"]),
        "amount": [1e308, 1e308, 1e308, 1.0, 2.0]})
    for function, options in ((rfm_summary, {}), (calibration_holdout,
                                                  {"calibration_end": "2020-01-01"})):
        with pytest.raises(ValidationError) as expected:
            function(log, amount_col="amount", **options)
        assert "add up to more than the largest floating-point number" in str(expected.value)
        with pytest.raises(ValidationError) as got:
            function(spark.createDataFrame(log), amount_col="amount", engine="spark", **options)
        assert str(got.value) == str(expected.value)


def test_utc_offsets_follow_the_pandas_engines_rule(spark):
    """Spark read '1997-01-01T00:30:00+01:00' as its time as written and took a log mixing
    offsets with none, or with different offsets, without a word."""
    def log(*dates):
        return pd.DataFrame({"customer_id": ["a", "b", "a"][:len(dates)], "date": list(dates)})

    single = log("1997-01-01T00:30:00+01:00", "1997-03-01T12:00:00+01:00")
    mixed = log("1997-01-01T00:30:00+01:00", "1997-03-01T12:00:00")
    daylight = log("1997-01-01T00:30:00+01:00", "1997-06-01T12:00:00+02:00",
                   "1997-06-01T23:30:00+02:00")
    for frame, timezone in ((single, None), (single, "UTC"), (daylight, "Europe/Paris"),
                            (daylight, "UTC")):
        reference = rfm_summary(frame, time_unit="D", timezone=timezone)
        ours = _to_pandas(rfm_summary(spark.createDataFrame(frame), time_unit="D",
                                      timezone=timezone, engine="spark"))
        assert_frame_equal(ours, reference, check_exact=True, check_index_type=False)
    for frame in (mixed, daylight):
        with pytest.raises(ValidationError) as expected:
            rfm_summary(frame)
        with pytest.raises(ValidationError) as got:
            rfm_summary(spark.createDataFrame(frame), engine="spark")
        assert str(got.value) == str(expected.value)
        assert "UTC offset" in str(got.value)


def test_timestamps_are_read_on_the_clock_of_the_timezone(spark):
    # The session time zone is UTC: 23:30 UTC on 1 March is 00:30 on 2 March in Paris.
    instants = pd.to_datetime(["2021-03-01 08:00", "2021-03-01 23:30"]).tz_localize("UTC")
    frame = pd.DataFrame({"customer_id": ["a", "a"], "date": instants})
    for timezone, frequency in ((None, 0), ("Europe/Paris", 1)):
        reference = rfm_summary(frame, time_unit="D", timezone=timezone or "UTC")
        ours = _to_pandas(rfm_summary(spark.createDataFrame(frame), time_unit="D",
                                      timezone=timezone, engine="spark"))
        assert ours.loc["a", "frequency"] == frequency
        assert_frame_equal(ours, reference, check_exact=True)


def test_list_ids_are_refused_naming_the_column(spark):
    frame = spark.createDataFrame(pd.DataFrame({"customer_id": [[1, 2], [3]],
                                                "date": ["2020-01-01", "2020-01-02"]}))
    with pytest.raises(ValidationError, match=r"column 'customer_id': customer ids of type "
                       r"array<bigint> \(Spark's type of the column\); expected one id per row"):
        rfm_summary(frame, engine="spark")


def test_dates_far_outside_the_bulk_get_the_pandas_engines_warning(spark, log):
    far = pd.concat([log, pd.DataFrame({
        "customer_id": [log["customer_id"].iloc[0], 10**6], "amount": [1.0, 2.0],
        "date": pd.to_datetime(["2123-03-01", "1700-01-01"])})], ignore_index=True)
    with pytest.warns(UserWarning, match="far outside the bulk") as expected:
        rfm_summary(far, amount_col="amount")
    with pytest.warns(UserWarning, match="far outside the bulk") as got:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            frame = spark.createDataFrame(far)
        rfm_summary(frame, amount_col="amount", engine="spark")
    assert [str(w.message) for w in got] == [str(w.message) for w in expected]
    assert got[0].filename == __file__


# ----------------------------------------------------------------------------- covariates
@pytest.fixture(scope="module")
def covariate_summaries(spark, summaries):
    """The summaries with two covariates per customer (unrelated to the simulated purchases):
    a string channel and a numeric age, joined to the Spark summary by customer id."""
    spark_summary, reference = summaries
    rng = np.random.default_rng(11)
    covariates = pd.DataFrame({"channel": rng.choice(["online", "shop", "phone"],
                                                     len(reference)),
                               "age": rng.normal(40, 10, len(reference)).round(1)},
                              index=reference.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        spark_covariates = spark.createDataFrame(covariates.reset_index())
    return (spark_summary.join(spark_covariates, on="customer_id"),
            reference.join(covariates), spark_summary)


@pytest.fixture(scope="module")
def covariate_models(covariate_summaries):
    _, reference, _ = covariate_summaries
    return (_quiet(ParetoNBDModel(purchase_covariates=["channel", "age"],
                                  dropout_covariates=["age"]).fit, reference),
            _quiet(GammaGammaModel(spend_covariates=["channel"]).fit, reference))


def test_fit_with_covariates_from_distinct_rows_equals_fit_on_every_customer(
        covariate_summaries, covariate_models):
    """The distinct rows of (history, covariates) with their counts: the same maximum as
    the fit on every customer, compared as the fits without covariates above."""
    from clvmodels import spark as clv_spark

    spark_summary, _, _ = covariate_summaries
    for direct in covariate_models:
        spec = direct.covariate_spec()
        model = type(direct)(**{f"{process}_covariates": list(names)
                                for process, names in spec.processes.items()})
        fitted = _quiet(clv_spark.fit, model, spark_summary)
        assert list(fitted.params_.index) == list(direct.params_.index)
        assert_same_maximum(fitted, direct)


def test_scoring_with_covariates_uses_each_customers_covariates(covariate_summaries,
                                                                covariate_models):
    """The executors receive the covariate columns and score every customer with their own
    parameters: clvmodels.scoring's values on the same rows."""
    from clvmodels import spark as clv_spark

    spark_summary, reference, _ = covariate_summaries
    purchases, spend = covariate_models
    settings = ValueSettings(horizon=52, discount_rate=0.10, margin=0.3)
    table = _to_pandas(clv_spark.score(spark_summary, purchases, spend, settings=settings))
    expected = customer_scores(purchases, spend, reference, settings)
    assert list(table.columns) == list(expected.columns)
    # The same code on the same rows; a customer's parameters are exp(z' g) of their own
    # design row, whose dot product BLAS may sum in another order for another batch shape:
    # equal to a few ulps, amplified by the elasticities of the predictions (order 10).
    for column in expected.columns:
        assert_series_equal(table[column], expected[column], rtol=1e-12, atol=0)
    # Not the scores of the same customers without covariates: the covariates reached them.
    plain = customer_scores(ParetoNBDModel().fit(reference), GammaGammaModel().fit(reference),
                            reference, settings)
    assert np.max(np.abs(table["clv"] / plain["clv"] - 1)) > 0.01


def test_scoring_without_a_covariate_column_names_it(covariate_summaries, covariate_models):
    from clvmodels import spark as clv_spark

    _, _, without = covariate_summaries
    purchases, spend = covariate_models
    with pytest.raises(ValidationError, match=r"fitted with covariates \['channel', 'age'\], "
                                              r"and the Spark summary lacks column\(s\) "
                                              r"\['channel', 'age'\]; join the covariates"):
        clv_spark.score(without, purchases, spend, settings=ValueSettings(horizon=52))
    with pytest.raises(ValidationError, match=r"lacks column\(s\) \['age'\]"):
        clv_spark.fit(ParetoNBDModel(dropout_covariates=["age"]), without)
