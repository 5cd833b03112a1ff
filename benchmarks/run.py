"""The benchmark suite: one run, one table of wall time and peak memory against the peers.

Run from the repository root (the ``dev`` and ``fast`` extras, and ``spark``/``bayes`` for
those rows)::

    python -m benchmarks --quick        # seconds: small sizes, a smoke test
    python -m benchmarks                # the full run (about 15 minutes on 2 cores)

Transaction logs are drawn from the BG/NBD model with Gamma-Gamma spend (:func:`simulate_log`)
and written to Parquet in chunks of customers, so memory stays bounded at any size. Every
measurement runs in a fresh worker process that loads its input first and then times one step,
so the peak resident memory reported (the worker's, plus its child processes': Spark's JVM and
Python workers) covers that step and its input, and steps do not inherit each other's memory.
Peers run on the same data in the same run: ``lifetimes`` (RFM summary, BG/NBD, Pareto/NBD,
Gamma-Gamma, CLV) and PyMC-Marketing (Bayesian BG/NBD). The table and the machine, with its
load, are written to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import format_bytes, format_table, machine_description

RESULTS = Path(__file__).with_name("RESULTS.md")
START = pd.Timestamp("2022-01-01")
#: Customers are acquired over the first year and observed until the end of the second.
ACQUISITION_DAYS = 365
OBSERVATION_DAYS = 730
OBSERVATION_END = START + pd.Timedelta(days=OBSERVATION_DAYS - 1)
#: BG/NBD in days (about 9 repeat purchases per customer over the window) and Gamma-Gamma spend.
PURCHASES = {"r": 1.0, "alpha": 15.0, "a": 1.5, "b": 12.0}
SPEND = {"p": 6.0, "q": 4.0, "gamma": 60.0}
CHUNK_CUSTOMERS = 500_000
# 10% a year, per day, for the CLV rows.
DAILY_DISCOUNT = 1.10 ** (1 / 365.25) - 1


@dataclass(frozen=True)
class Sizes:
    """Customers of the logs (about 10 transactions each) and of each comparison."""

    logs: tuple[int, ...]  # in-memory engines and lifetimes run on these
    out_of_core: int  # the DuckDB-from-Parquet log
    fit_peer: int  # BG/NBD, Gamma-Gamma, CLV against lifetimes
    pareto_peer: int  # Pareto/NBD against lifetimes (slow there)
    pareto_large: int  # Pareto/NBD alone, continuous times
    fit_large: int  # BG/NBD alone
    spark: int
    bayes: int
    bayes_draws: int
    cdnow_draws: int = 1000  # per chain (4 chains) for the CDNOW fits and CLV
    bayes_clv: int = 1_000_000  # simulated customers of the large Bayesian CLV row


QUICK = Sizes(logs=(2_000, 10_000), out_of_core=20_000, fit_peer=10_000, pareto_peer=2_000,
              pareto_large=20_000, fit_large=20_000, spark=2_000, bayes=500, bayes_draws=100,
              cdnow_draws=100, bayes_clv=20_000)
FULL = Sizes(logs=(100_000, 1_000_000), out_of_core=10_000_000, fit_peer=1_000_000,
             pareto_peer=100_000, pareto_large=1_000_000, fit_large=10_000_000, spark=100_000,
             bayes=5_000, bayes_draws=500)


# ----------------------------------------------------------------------------- data
def simulate_log(n_customers: int, rng: np.random.Generator, first_id: int = 0) -> pd.DataFrame:
    """A transaction log of ``n_customers`` from the BG/NBD simulator (``PURCHASES``, per day)
    with Gamma-Gamma spend (``SPEND``, in cents): customers acquired over the first
    ``ACQUISITION_DAYS`` from ``START``, observed until ``OBSERVATION_DAYS``."""
    from clvmodels import BetaGeoModel, GammaGammaModel
    from clvmodels._simulate import simulate_transactions

    return simulate_transactions(
        BetaGeoModel().set_params_(PURCHASES, time_unit="D"),
        GammaGammaModel().set_params_(SPEND), n_customers, start=START,
        acquisition_days=ACQUISITION_DAYS, observation_days=OBSERVATION_DAYS, rng=rng,
        first_id=first_id,
    )


def write_log(path: Path, n_customers: int, seed: int = 0) -> int:
    """Write a simulated log of ``n_customers`` to Parquet in chunks; return its row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    rows, writer = 0, None
    try:
        for first in range(0, n_customers, CHUNK_CUSTOMERS):
            chunk = simulate_log(min(CHUNK_CUSTOMERS, n_customers - first), rng, first)
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            rows += len(chunk)
    finally:
        if writer is not None:
            writer.close()
    return rows


# ----------------------------------------------------------------------------- workers
def _peak_rss(pid: int | str = "self") -> int:
    """Peak resident memory (VmHWM) of a live process, in bytes.

    Not ``getrusage``: Linux carries ru_maxrss across fork and exec, so a worker would report
    its parent's peak.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def _stop_spark(spark) -> int:
    """Stop Spark; return the JVM's peak resident memory (measured just before)."""
    peak = _peak_rss(spark.sparkContext._gateway.proc.pid)
    spark.stop()
    return peak


def _read_rfm(path: str) -> pd.DataFrame:
    rfm = pd.read_parquet(path)
    rfm.attrs["time_unit"] = "D"
    return rfm


def _spark_session():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("clvmodels-benchmark")
             .config("spark.driver.memory", "6g").config("spark.ui.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", "8").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _rfm_step(engine: str, path: str, keep: str | None = None) -> dict:
    """Time one engine's summary of the log at ``path``; the DuckDB one is kept at ``keep``
    (untimed) for the fits."""
    from clvmodels import rfm_summary

    options = dict(customer_col="customer_id", date_col="date", amount_col="amount",
                   observation_end=OBSERVATION_END, time_unit="D")
    if engine == "duckdb-parquet":
        start = time.perf_counter()
        summary = rfm_summary(path, engine="duckdb", **options)
        seconds = time.perf_counter() - start
        if keep:
            _write_rfm(summary, keep)
        return {"seconds": seconds, "customers": len(summary)}
    if engine == "spark":
        spark = _spark_session()
        start = time.perf_counter()
        summary = rfm_summary(spark.read.parquet(path), engine="spark", **options)
        summary.write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "customers": None, "jvm_rss": _stop_spark(spark)}
    log = pd.read_parquet(path)
    if engine == "lifetimes":
        from lifetimes.utils import summary_data_from_transaction_data

        start = time.perf_counter()
        summary = summary_data_from_transaction_data(
            log, "customer_id", "date", monetary_value_col="amount",
            observation_period_end=OBSERVATION_END, freq="D",
        )
    else:
        start = time.perf_counter()
        summary = rfm_summary(log, engine={"pandas": "pandas", "duckdb-frame": "duckdb"}[engine],
                              **options)
    return {"seconds": time.perf_counter() - start, "customers": len(summary)}


#: CDNOW's estimates in weeks, from which the continuous-time customers are drawn.
CONTINUOUS_TRUTH = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
                    "pnbd": {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67}}


def _continuous_customers(n: int, model: str = "bgnbd") -> pd.DataFrame:
    """Customers drawn from ``model`` ("bgnbd" or "pnbd") with continuous-time recency and T:
    every one a distinct row, the case compression cannot help (CDNOW's parameters, in
    weeks)."""
    from clvmodels import BetaGeoModel, ParetoNBDModel

    rng = np.random.default_rng(0)
    cls = {"bgnbd": BetaGeoModel, "pnbd": ParetoNBDModel}[model]
    return cls().set_params_(CONTINUOUS_TRUTH[model], time_unit="W").simulate(
        n, rng.uniform(20.0, 80.0, n), random_state=rng)


def _fit_step(implementation: str, model: str, path: str | None, n_customers: int) -> dict:
    if path is None:
        rfm = _continuous_customers(n_customers, model)
    else:
        rfm = _read_rfm(path).iloc[:n_customers]
    if implementation == "lifetimes":
        import lifetimes

        if model == "gg":
            repeat = rfm[rfm["frequency"] > 0]
            start = time.perf_counter()
            lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
        else:
            fitter = {"bgnbd": lifetimes.BetaGeoFitter, "pnbd": lifetimes.ParetoNBDFitter}[model]
            # lifetimes draws its starting point from NumPy's global generator: seed it, so
            # that every run times the same optimisation path.
            np.random.seed(0)  # noqa: NPY002 (lifetimes reads the legacy global state)
            start, cpu = time.perf_counter(), time.process_time()
            fitted = fitter().fit(rfm["frequency"], rfm["recency"], rfm["T"])
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            return {"seconds": seconds, "cpu_seconds": cpu,
                    **_peer_optimum(model, fitted.params_, rfm)}
        return {"seconds": time.perf_counter() - start}
    from clvmodels import BetaGeoModel, GammaGammaModel, ParetoNBDModel

    cls = {"bgnbd": BetaGeoModel, "pnbd": ParetoNBDModel, "gg": GammaGammaModel}[model]
    # CPU time too: on a shared machine it varies less with the load than the wall time.
    start, cpu = time.perf_counter(), time.process_time()
    fitted = cls().fit(rfm)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
            "distinct": fitted.n_distinct_rows_,
            "params": fitted.params_.to_dict(), "log_likelihood": fitted.log_likelihood_}


def _peer_optimum(model: str, params: pd.Series, rfm: pd.DataFrame) -> dict:
    """A peer's estimate and our log-likelihood of the data there, to compare the optima."""
    from clvmodels import BetaGeoModel, ParetoNBDModel

    cls = {"bgnbd": BetaGeoModel, "pnbd": ParetoNBDModel}[model]
    ours = cls().set_params_(params.to_dict(), time_unit=rfm.attrs.get("time_unit"))
    return {"params": params.to_dict(), "log_likelihood": ours.log_likelihood(rfm)}


def _clv_step(implementation: str, path: str, n_customers: int) -> dict:
    from clvmodels import BetaGeoModel, GammaGammaModel, customer_lifetime_value

    rfm = _read_rfm(path).iloc[:n_customers]
    bgnbd, spend = BetaGeoModel().fit(rfm), GammaGammaModel().fit(rfm)
    if implementation == "lifetimes":
        import lifetimes

        bgf, ggf = lifetimes.BetaGeoFitter(), lifetimes.GammaGammaFitter()
        bgf.params_ = bgnbd.params_.copy()
        bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time  # as fit() sets
        ggf.params_ = pd.Series(spend.params_.to_numpy(), index=["p", "q", "v"])
        start = time.perf_counter()
        # lifetimes sums monthly steps of 30 days (freq="D"): 12 months, 10% a year.
        ggf.customer_lifetime_value(bgf, rfm["frequency"], rfm["recency"], rfm["T"],
                                    rfm["monetary_value"], time=12, freq="D",
                                    discount_rate=1.10 ** (1 / 12) - 1)
        return {"seconds": time.perf_counter() - start}
    start = time.perf_counter()
    customer_lifetime_value(bgnbd, spend, rfm, horizon=365.0, discount_rate=DAILY_DISCOUNT)
    return {"seconds": time.perf_counter() - start}


def _spark_model_step(path: str) -> dict:
    """Spark: fit from the distinct rows, then score every customer on the executors."""
    from clvmodels import BetaGeoModel, GammaGammaModel, rfm_summary
    from clvmodels import spark as clv_spark
    from clvmodels.scoring import ValueSettings

    spark = _spark_session()
    summary = rfm_summary(spark.read.parquet(path), customer_col="customer_id", date_col="date",
                          amount_col="amount", observation_end=OBSERVATION_END, time_unit="D",
                          engine="spark")
    summary.cache()  # in place, keeping its attrs
    n = summary.count()
    start = time.perf_counter()
    bgnbd = clv_spark.fit(BetaGeoModel(), summary)
    spend = clv_spark.fit(GammaGammaModel(), summary)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    settings = ValueSettings(horizon=365.0, discount_rate=0.10)  # 10% a year
    clv_spark.score(summary, bgnbd, spend, settings=settings).write.format("noop").mode(
        "overwrite").save()
    score_seconds = time.perf_counter() - start
    return {"seconds": fit_seconds, "score_seconds": score_seconds, "customers": n,
            "distinct": bgnbd.n_distinct_rows_, "jvm_rss": _stop_spark(spark)}


def _bayes_step(implementation: str, path: str, n_customers: int, draws: int) -> dict:
    rfm = _read_rfm(path).iloc[:n_customers]
    settings = dict(draws=draws, tune=draws, chains=2, random_seed=0)
    if implementation == "pymc-marketing":
        from pymc_marketing.clv import BetaGeoModel

        data = rfm[["frequency", "recency", "T"]].reset_index()
        start = time.perf_counter()
        BetaGeoModel(data=data).fit(progressbar=False, **settings)
        return {"seconds": time.perf_counter() - start}
    import clvmodels.bayes  # noqa: F401  PyMC, imported on first use, as the peer's is before its timer
    from clvmodels import BayesianBetaGeoModel

    start = time.perf_counter()
    BayesianBetaGeoModel().fit(rfm, **settings)
    return {"seconds": time.perf_counter() - start}


def _bayes_cdnow_step(*arguments) -> dict:
    from benchmarks.bench_bayes import cdnow_fit_step

    return cdnow_fit_step(*arguments)


def _bayes_clv_step(*arguments) -> dict:
    from benchmarks.bench_bayes import clv_step

    return clv_step(*arguments)


_STEPS = {"rfm": _rfm_step, "fit": _fit_step, "clv": _clv_step, "spark-model": _spark_model_step,
          "bayes": _bayes_step, "bayes-cdnow": _bayes_cdnow_step, "bayes-clv": _bayes_clv_step}


def _worker(step: str, arguments: list) -> None:
    warnings.simplefilter("ignore")
    result = _STEPS[step](*arguments)
    result["peak_rss"] = _peak_rss() + result.pop("jvm_rss", 0)
    print("RESULT " + json.dumps(result, default=str))


def measure(step: str, *arguments, time_limit: float | None = None) -> dict:
    """Run one step in a fresh worker process; its result, or the error it ended with, or
    ``{"timed_out": time_limit}`` when it ran longer than ``time_limit`` seconds (stopped)."""
    command = [sys.executable, "-m", "benchmarks.run", "--worker", step, json.dumps(arguments)]
    # A session of its own, so that a stopped step's children (a peer's chain processes)
    # stop with it.
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=Path(__file__).resolve().parents[1],
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=time_limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return {"timed_out": time_limit}
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": tail[:200]}


# ----------------------------------------------------------------------------- the run
def _times(ratio: float) -> str:
    """A ratio to two significant digits below 10, else to the unit (280, not 2.8e+02)."""
    return f"{ratio:.2g}" if ratio < 10 else f"{ratio:,.0f}"


@dataclass
class Table:
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, step: str, size: str, ours: dict, peer_name: str = "", peer: dict | None = None,
            implementation: str = "clvmodels") -> None:
        def cells(result: dict | None) -> list[str]:
            if result is None:
                return ["", ""]
            if "error" in result:
                return [f"failed: {result['error']}", ""]
            if "timed_out" in result:
                return [f"> {result['timed_out']:.0f} (stopped)", ""]
            return [f"{result['seconds']:.2f}", format_bytes(result["peak_rss"])]

        ratio = ""
        if peer and "seconds" in peer and "seconds" in ours:
            ratio = f"{_times(peer['seconds'] / ours['seconds'])}x"
        elif peer and "timed_out" in peer and "seconds" in ours:
            ratio = f"> {_times(peer['timed_out'] / ours['seconds'])}x"
        row = [step, size, implementation, *cells(ours), peer_name, *cells(peer), ratio]
        self.rows.append(row)
        print(format_table(HEADERS, [row]).splitlines()[-1], flush=True)


HEADERS = ["step", "size", "clvmodels", "wall s", "peak RSS", "peer", "peer wall s",
           "peer peak RSS", "peer / ours"]


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run(sizes: Sizes, workdir: Path, *, bayes: bool, spark: bool, output: Path | None,
        reuse: bool = False, peer_time_limit: float | None = None) -> Table:
    table = Table()
    load_before = _load()
    print(f"machine: {machine_description()}\nload: {load_before}", flush=True)
    logs = {}
    for n in (*sizes.logs, sizes.out_of_core):
        path = workdir / f"log_{n}.parquet"
        if reuse and path.exists():  # the same seed and sizes draw the same log
            import pyarrow.parquet as pq

            logs[n] = (path, pq.ParquetFile(path).metadata.num_rows)
            print(f"reusing {path} ({logs[n][1]:,} transactions)", flush=True)
            continue
        start = time.perf_counter()
        rows = write_log(path, n)
        logs[n] = (path, rows)
        print(f"simulated {rows:,} transactions of {n:,} customers in "
              f"{time.perf_counter() - start:.1f} s -> {path} "
              f"({format_bytes(path.stat().st_size)})", flush=True)

    def size(n: int) -> str:
        return f"{logs[n][1]:,} tx / {n:,} customers"

    # RFM summaries.
    pandas_runs = {}
    for n in sizes.logs:
        path = str(logs[n][0])
        ours = measure("rfm", "pandas", path)
        pandas_runs[n] = ours
        peer = measure("rfm", "lifetimes", path)
        table.add("RFM summary", size(n), ours, "lifetimes", peer, "pandas engine")
        table.add("RFM summary", size(n), measure("rfm", "duckdb-frame", path), "lifetimes", peer,
                  "duckdb engine (DataFrame)")
        table.add("RFM summary", size(n), measure("rfm", "duckdb-parquet", path), "lifetimes",
                  peer, "duckdb engine (Parquet)")
        if spark and n == sizes.spark:
            table.add("RFM summary", size(n), measure("rfm", "spark", path), "lifetimes", peer,
                      "spark engine (local[2], Parquet)")
    big = str(logs[sizes.out_of_core][0])
    kept = workdir / f"rfm_{sizes.out_of_core}.parquet"
    table.add("RFM summary", size(sizes.out_of_core),
              measure("rfm", "duckdb-parquet", big, str(kept)),
              implementation="duckdb engine (Parquet)")
    table.notes.append(_pandas_limit(pandas_runs, logs, sizes.out_of_core))

    # The RFM tables the models fit: day resolution, in days.
    rfm_paths = {}
    for n in {sizes.fit_peer, sizes.fit_large, sizes.pareto_peer, sizes.bayes}:
        source = min(m for m in logs if m >= n)
        rfm_paths[n] = _summarise_to_parquet(logs[source][0], workdir / f"rfm_{source}.parquet",
                                             reuse)
    peer_rfm = rfm_paths[sizes.fit_peer]
    for model, name, n in (("bgnbd", "BG/NBD fit", sizes.fit_peer),
                           ("pnbd", "Pareto/NBD fit", sizes.pareto_peer),
                           ("gg", "Gamma-Gamma fit", sizes.fit_peer)):
        ours = measure("fit", "clvmodels", model, rfm_paths[n], n)
        peer = measure("fit", "lifetimes", model, rfm_paths[n], n)
        table.add(name, _fit_size(n, ours), ours, "lifetimes", peer)
    ours = measure("fit", "clvmodels", "bgnbd", None, sizes.fit_peer)
    table.add("BG/NBD fit, continuous times", _fit_size(sizes.fit_peer, ours), ours,
              "lifetimes", measure("fit", "lifetimes", "bgnbd", None, sizes.fit_peer))
    ours = measure("fit", "clvmodels", "pnbd", None, sizes.pareto_peer)
    peer = measure("fit", "lifetimes", "pnbd", None, sizes.pareto_peer)
    table.add("Pareto/NBD fit, continuous times", _fit_size(sizes.pareto_peer, ours), ours,
              "lifetimes", peer)
    table.notes.append(_same_optimum("Pareto/NBD, continuous times", ours, peer))
    pareto_large = measure("fit", "clvmodels", "pnbd", None, sizes.pareto_large)
    table.add("Pareto/NBD fit, continuous times", _fit_size(sizes.pareto_large, pareto_large),
              pareto_large)
    large = measure("fit", "clvmodels", "bgnbd", rfm_paths[sizes.fit_large], sizes.fit_large)
    table.add("BG/NBD fit", _fit_size(sizes.fit_large, large), large)
    table.add("CLV scoring (365 days)", f"{sizes.fit_peer:,} customers",
              measure("clv", "clvmodels", peer_rfm, sizes.fit_peer), "lifetimes (12 months)",
              measure("clv", "lifetimes", peer_rfm, sizes.fit_peer))
    if spark:
        result = measure("spark-model", str(logs[sizes.spark][0]))
        table.add("Spark: fit BG/NBD + GG on distinct rows", _fit_size(sizes.spark, result),
                  result, implementation="clvmodels.spark.fit")
        if "score_seconds" in result:
            scored = dict(result, seconds=result["score_seconds"])
            table.add("Spark: score CLV on executors", f"{sizes.spark:,} customers", scored,
                      implementation="clvmodels.spark.score")
    _bayes_rows(table, sizes, rfm_paths[sizes.bayes], bayes, peer_time_limit)
    load_after = _load()
    if output is not None:
        _write_results(output, table, sizes, load_before, load_after)
    return table


def _same_optimum(what: str, ours: dict, peer: dict) -> str:
    """Whether two fits found the same optimum: the largest relative difference of their
    parameters and the log-likelihood (ours) at each."""
    if "params" not in ours or "params" not in peer:
        return f"{what}: optimum not compared (a measurement failed)."
    difference = max(abs(ours["params"][k] / peer["params"][k] - 1) for k in ours["params"])
    return (f"{what}: parameters within {difference:.1e} relative of lifetimes'; "
            f"log-likelihood {ours['log_likelihood']:.6f} (ours) vs "
            f"{peer['log_likelihood']:.6f} at lifetimes' estimate.")


def _fit_size(n: int, result: dict) -> str:
    distinct = result.get("distinct")
    return f"{n:,} customers" + (f" ({distinct:,} distinct rows)" if distinct else "")


def _summarise_to_parquet(log: Path, path: Path, reuse: bool) -> str:
    if not (reuse and path.exists()):
        from clvmodels import rfm_summary

        _write_rfm(rfm_summary(str(log), engine="duckdb", amount_col="amount",
                               observation_end=OBSERVATION_END, time_unit="D"), str(path))
    return str(path)


def _write_rfm(summary: pd.DataFrame, path: str) -> None:
    summary.attrs = {}  # pandas 3 cannot write the Timestamps of attrs to Parquet
    summary.to_parquet(path)


def _bayes_rows(table: Table, sizes: Sizes, rfm_path: str, enabled: bool,
                peer_time_limit: float | None) -> None:
    step, size = "Bayesian BG/NBD fit (NUTS)", (
        f"{sizes.bayes:,} customers, 2 chains x {sizes.bayes_draws} draws + tune")
    if not enabled:
        table.notes.append("Bayesian rows skipped: --skip-bayes.")
        return
    try:
        from clvmodels import BayesianBetaGeoModel  # noqa: F401
    except ImportError as error:
        table.notes.append(f"Bayesian row skipped: `from clvmodels import BayesianBetaGeoModel` "
                           f"failed ({error}).")
        return
    table.add(step, size, measure("bayes", "clvmodels", rfm_path, sizes.bayes, sizes.bayes_draws),
              "PyMC-Marketing", measure("bayes", "pymc-marketing", rfm_path, sizes.bayes,
                                        sizes.bayes_draws))
    draws = sizes.cdnow_draws
    from benchmarks.bench_bayes import DATA_NAMES, PEERS

    for model, name in (("bgnbd", "BG/NBD"), ("mbgnbd", "MBG/NBD"), ("gg", "Gamma-Gamma"),
                        ("pnbd", "Pareto/NBD"), ("bgbb", "BG/BB"), ("sbg", "sBG"),
                        ("bdw", "BdW"), ("ggom", "GGompertz/NBD")):
        ours = measure("bayes-cdnow", "clvmodels", model, draws)
        data = DATA_NAMES.get(model, "CDNOW (2,357)")
        peer = (measure("bayes-cdnow", "pymc-marketing", model, draws,
                        time_limit=peer_time_limit) if model in PEERS else None)
        table.add(f"Bayesian {name} fit (NUTS)", f"{data}, 4 chains x {draws} + tune",
                  ours, "PyMC-Marketing" if peer else "", peer)
        if "r_hat" in ours:
            table.notes.append(f"Bayesian {name} on {data}: max R-hat {ours['r_hat']:.3f}, "
                               f"{ours['divergences']} divergences, compile "
                               f"{ours['compile']:.2f} s (warm caches after the first row).")
    # A short run first fills numba's disk cache of the fused CLV pass, so that the rows time
    # it warm, as the fits above are timed.
    measure("bayes-clv", 0, 10)
    for customers, size in ((0, "CDNOW (2,357 customers)"),
                            (sizes.bayes_clv, f"{sizes.bayes_clv:,} simulated customers")):
        table.add("Bayesian CLV, 90% intervals (52 weeks)", f"{size}, {4 * draws:,} draws",
                  measure("bayes-clv", customers, draws))


def _pandas_limit(runs: dict, logs: dict, target: int) -> str:
    """The pandas engine's limit, from the two measured log sizes scaled linearly."""
    (n1, r1), (n2, r2) = sorted(runs.items())[-2:]
    if any("error" in r for r in (r1, r2)):
        return "pandas engine limit: not estimated (a measurement failed)."
    rows1, rows2 = logs[n1][1], logs[n2][1]
    per_row = (r2["peak_rss"] - r1["peak_rss"]) / (rows2 - rows1)
    if per_row <= 0:
        return "pandas engine limit: not estimated (memory did not grow between the two sizes)."
    fixed = r1["peak_rss"] - per_row * rows1
    rows_target = logs[target][1]
    memory = fixed + per_row * rows_target
    seconds = r2["seconds"] * rows_target / rows2
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = (ram - fixed) / per_row
    return (
        f"pandas engine limit (estimated, not run, from the measured {rows1:,}- and "
        f"{rows2:,}-transaction runs scaled linearly): {format_bytes(per_row)} of peak memory "
        f"per transaction (input DataFrame included), so {rows_target:,} transactions would "
        f"need about {format_bytes(memory)} and {seconds:.0f} s, and this machine's "
        f"{format_bytes(ram)} hold at most about {limit / 1e6:,.0f} million transactions. "
        "Larger logs: the duckdb engine from Parquet (out of core) or Spark."
    )


def _write_results(path: Path, table: Table, sizes: Sizes, load_before: str,
                   load_after: str) -> None:
    mode = "full" if sizes == FULL else "quick" if sizes == QUICK else "custom"
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python -m benchmarks{' --quick' if mode == 'quick' else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({mode} sizes).",
        "",
        f"- Machine: {machine_description()}; "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM; "
        f"{platform.processor() or platform.machine()}.",
        f"- Load before: `{load_before}`",
        f"- Load after: `{load_after}`",
        "- Data: transaction logs simulated from BG/NBD "
        f"({', '.join(f'{k}={v:g}' for k, v in PURCHASES.items())}, per day) with Gamma-Gamma "
        f"spend ({', '.join(f'{k}={v:g}' for k, v in SPEND.items())}), customers acquired over "
        f"{ACQUISITION_DAYS} days and observed {OBSERVATION_DAYS} days, written to Parquet; "
        "summaries at day resolution in days (so customers share (frequency, recency, T) rows "
        "and fits run on the distinct rows).",
        "- Wall time: one run of the step in a fresh process after its input is loaded "
        "(the duckdb-Parquet and Spark rows include reading the file). Peak RSS: the worker "
        "process's peak resident memory (VmHWM: Python, NumPy, DuckDB), input included, plus "
        "the Spark JVM's (not its Python workers'). peer / ours > 1 means clvmodels is faster.",
        "",
        "```",
        format_table(HEADERS, table.rows),
        "```",
        "",
        *[f"- {note}" for note in table.notes],
        "",
    ]
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--skip-bayes", action="store_true", help="leave out the Bayesian rows")
    parser.add_argument("--skip-spark", action="store_true", help="leave out the Spark rows")
    parser.add_argument("--workdir", type=Path, help="where the logs go (default: a temp dir)")
    parser.add_argument("--reuse-logs", action="store_true",
                        help="reuse the logs and summaries already in --workdir")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"results file (default {RESULTS.name} for the full run, "
                        "none for --quick)")
    parser.add_argument("--peer-time-limit", type=float, default=1200.0,
                        help="stop a Bayesian peer's CDNOW fit after this many seconds and "
                        "report the ratio as a lower bound (default 1200)")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker[0], json.loads(args.worker[1]))
        return 0
    sizes = QUICK if args.quick else FULL
    output = args.output or (None if args.quick else RESULTS)
    with tempfile.TemporaryDirectory(prefix="clvmodels-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        table = run(sizes, workdir, bayes=not args.skip_bayes, spark=not args.skip_spark,
                    output=output, reuse=args.reuse_logs, peer_time_limit=args.peer_time_limit)
    print(format_table(HEADERS, table.rows))
    for note in table.notes:
        print(note)
    return 1 if any("failed" in cell for row in table.rows for cell in row) else 0


if __name__ == "__main__":
    raise SystemExit(main())
