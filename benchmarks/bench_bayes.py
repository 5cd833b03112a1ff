"""Benchmark the Bayesian models, measured in one run.

Run from the repository root::

    python -m benchmarks.bench_bayes [--customers 1000000] [--clv-draws N] [--skip-peer]
                                     [--skip-million] [--model NAME]

(``--model``: bgnbd, mbgnbd, gg, pnbd, bgbb, sbg, bdw or ggom.)

- BG/NBD, MBG/NBD, Gamma-Gamma, Pareto/NBD and GGompertz/NBD on the CDNOW sample, the BG/BB
  on the donations, the sBG and BdW on the high-end retention cohort (years 0-7), 4 chains x
  1,000 draws after 1,000 tuning steps (wall time including compilation), each against
  PyMC-Marketing's model of the same name with the same settings where it has one (no BdW or
  GGompertz/NBD there; targets: under 3 s warm, 10 s for Pareto/NBD and GGompertz/NBD, R-hat
  <= 1.01 without divergences, at least 10x faster). Both compile code and cache it on disk
  (numba's cache, PyTensor's compiledir), so each fit runs in a fresh process twice: with
  empty caches (cold, a machine's first fit) and with the caches that run filled (warm,
  every later fit);
- the CDNOW sample's year of discounted CLV with 90% intervals from all 4,000 paired draws
  (target: under 2 s);
- 1,000,000 simulated customers (CDNOW's BG/NBD and Gamma-Gamma parameters, purchases on whole
  days, times in weeks, as a transaction log gives them): the BG/NBD fit with the same settings
  (target: under 2 minutes), then a year's discounted CLV with 90% intervals for every customer
  from all 4,000 draws, with its peak memory (target: under 4 GiB).

Peak memory is what tracemalloc sees allocated during the CLV call (its input excluded) and the
process's peak resident size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import (
    format_bytes,
    machine_description,
    max_rss_bytes,
    peak_allocated,
    timed,
)
from clvmodels import (
    BayesianBetaDiscreteWeibullModel,
    BayesianBetaGeoBetaBinomModel,
    BayesianBetaGeoModel,
    BayesianGammaGammaModel,
    BayesianGGompertzNBDModel,
    BayesianModifiedBetaGeoModel,
    BayesianParetoNBDModel,
    BayesianShiftedBetaGeoModel,
    BetaGeoModel,
    GammaGammaModel,
    cohort_to_customers,
    customer_lifetime_value,
    load_cdnow_summary,
    load_donations,
    load_retention_cohorts,
)

CDNOW_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CDNOW_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
SETTINGS = {"draws": 1000, "tune": 1000, "chains": 4}
WEEKLY_DISCOUNT = 1.10 ** (1 / 52) - 1  # 10% a year


def _load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def simulated_customers(n: int, seed: int = 0) -> pd.DataFrame:
    """CDNOW-like customers acquired over 12 weeks, observed 39 weeks after the last
    acquisition, with purchase times rounded up to whole days (in weeks) and spend to cents."""
    rng = np.random.default_rng(seed)
    T = (273 + rng.integers(0, 84, n)) / 7
    data = BetaGeoModel().set_params_(CDNOW_BGNBD, time_unit="W").simulate(n, T,
                                                                            random_state=rng)
    data["recency"] = np.minimum(np.ceil(data["recency"] * 7 - 1e-9) / 7, data["T"])
    spend = GammaGammaModel().set_params_(CDNOW_GG).simulate(data["frequency"], rng)
    data["monetary_value"] = np.where(data["frequency"] > 0,
                                      np.maximum(np.round(spend, 2), 0.01), 0.0)
    return data


OURS = {"bgnbd": BayesianBetaGeoModel, "mbgnbd": BayesianModifiedBetaGeoModel,
        "gg": BayesianGammaGammaModel, "pnbd": BayesianParetoNBDModel,
        "bgbb": BayesianBetaGeoBetaBinomModel, "sbg": BayesianShiftedBetaGeoModel,
        "bdw": BayesianBetaDiscreteWeibullModel, "ggom": BayesianGGompertzNBDModel}
# PyMC-Marketing's model of the same name (in pymc_marketing.clv); it has no BdW or
# GGompertz/NBD.
PEERS = {"bgnbd": "BetaGeoModel", "mbgnbd": "ModifiedBetaGeoModel", "gg": "GammaGammaModel",
         "pnbd": "ParetoNBDModel", "bgbb": "BetaGeoBetaBinomModel",
         "sbg": "ShiftedBetaGeoModel"}
# The data of each model's family page: the donations for the BG/BB (discrete time), the
# high-end retention cohort's years 0-7 for the contractual sBG and BdW, CDNOW for the rest.
DATA_NAMES = {"bgbb": "donations (11,104 donors, 22 distinct rows)",
              "sbg": "high-end cohort, years 0-7 (1,000 customers)",
              "bdw": "high-end cohort, years 0-7 (1,000 customers)"}
CDNOW_NAME = "CDNOW (2,357 customers)"
# Issue 17's warm targets: 3 s for a closed-form likelihood, 10 s for the two that integrate.
TARGET_SECONDS = {"pnbd": 10.0, "ggom": 10.0}


def _model_data(model: str) -> tuple[pd.DataFrame, dict]:
    """The table ``model`` is fitted on and the fit's extra arguments (the BG/BB's weights)."""
    if model == "bgbb":
        donations = load_donations()
        return donations, {"weights": donations["weights"]}
    if model in ("sbg", "bdw"):
        cohorts = load_retention_cohorts()
        return cohort_to_customers(cohorts["high_end"].loc[:7], time_unit="Y"), {}
    return load_cdnow_summary(), {}


def _peer_data(rfm: pd.DataFrame, model: str) -> pd.DataFrame:
    """The table as PyMC-Marketing reads it: one row per customer (the BG/BB's donors
    repeated by their weights; the sBG's lifetimes as ``recency``, censored at ``T``, the
    periods observed plus one), the Gamma-Gamma's repeat buyers."""
    if model == "bgbb":
        donors = rfm.loc[rfm.index.repeat(rfm["weights"])].reset_index(drop=True)
        return donors.rename(columns={"periods": "T"})[["frequency", "recency", "T"]].rename_axis(
            "customer_id").reset_index()
    if model == "sbg":
        periods = int(rfm["renewals"].max()) + 1
        recency = np.where(rfm["churned"], rfm["renewals"] + 1, periods)
        return pd.DataFrame({"customer_id": np.arange(len(rfm)), "recency": recency,
                             "T": periods, "cohort": "high_end"})
    columns = ["frequency", "monetary_value"] if model == "gg" else ["frequency", "recency", "T"]
    data = rfm[columns].rename_axis("customer_id").reset_index()
    return data[data["frequency"] > 0] if model == "gg" else data


def _fit_cdnow(who: str, model: str = "bgnbd", draws: int = SETTINGS["draws"]) -> dict:
    """One CDNOW fit of ``model`` (a key of ``OURS``), by ``"ours"`` or ``"peer"``
    (PyMC-Marketing's model of the same name), 4 chains x ``draws`` after as many tuning steps:
    its wall time and results. PyMC is imported before the timer for both."""
    import pymc  # noqa: F401

    rfm, data_arguments = _model_data(model)
    settings = {**SETTINGS, "draws": draws, "tune": draws}
    if who == "ours":
        fitted, seconds = timed(OURS[model]().fit, rfm, random_seed=1, **settings,
                                **data_arguments)
        attrs = fitted.idata.posterior.attrs
        return {"seconds": seconds, "compile": attrs.get("compile_seconds", float("nan")),
                "sampling": attrs["sampling_seconds"], "sampler": attrs["sampler"],
                "rows": attrs["n_distinct_rows"],
                "r_hat": float(fitted.summary()["r_hat"].max()),
                "divergences": int(fitted.idata.sample_stats["diverging"].sum()),
                "steps": float(fitted.idata.sample_stats["n_steps"].mean()),
                # gradient calls of the whole fit, tuning included (nutpie only)
                "calls": attrs.get("leapfrog_steps"),
                "means": fitted.params_.round(3).to_dict()}
    from pymc_marketing import clv as peer_clv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = getattr(peer_clv, PEERS[model])(data=_peer_data(rfm, model))
        # As many parallel chains as ours (one run without it sampled sequentially).
        # NUTS, as ours (PyMC-Marketing's Pareto/NBD would otherwise take its MAP default).
        _, seconds = timed(peer.fit, fit_method="mcmc", random_seed=1, progressbar=False,
                           cores=min(settings["chains"], os.cpu_count() or 1), **settings)
    names = OURS[model].family.param_names
    return {"seconds": seconds,
            "means": {k: round(float(peer.idata.posterior[k].mean()), 3) for k in names
                      if k in peer.idata.posterior}}


def _fit_cdnow_in_fresh_process(who: str, model: str, cache: Path) -> dict:
    """:func:`_fit_cdnow` in a new Python process whose compilation caches (PyTensor's C
    modules, numba's machine code) live under ``cache``: empty the first time (cold), filled
    by then the second (warm)."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache / 'pytensor'}",
           "NUMBA_CACHE_DIR": str(cache / "numba")}
    result = subprocess.run([sys.executable, "-m", "benchmarks.bench_bayes", "--fit-cdnow", who,
                             "--model", model],
                            env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def compare_with_pymc_marketing(skip_peer: bool, models: tuple[str, ...] = tuple(OURS)) -> None:
    """Ours and PyMC-Marketing's CDNOW fits of each model, each in a fresh process, first with
    empty compilation caches (cold: a first fit on a machine), then again with the caches the
    first run filled (warm: every later fit); the two runs of a state back to back. Targets:
    under 3 s warm, R-hat <= 1.01, no divergences, at least 10x the peer."""
    for model in models:
        who = ("ours",) if skip_peer or model not in PEERS else ("ours", "peer")
        print(f"\n{OURS[model].__name__} on {DATA_NAMES.get(model, CDNOW_NAME)}, {SETTINGS}, "
              "each fit in a "
              "fresh process (wall time of fit(), compilation included)")
        with tempfile.TemporaryDirectory() as tmp:
            for state in ("cold", "warm"):
                print(f"  {state} caches; {_load()}")
                runs = {name: _fit_cdnow_in_fresh_process(name, model, Path(tmp) / name)
                        for name in who}
                ours = runs["ours"]
                converged = ours["r_hat"] <= 1.01 and ours["divergences"] == 0
                print(f"    clvmodels ({ours['sampler']}, {ours['rows']:,} distinct rows): "
                      f"{ours['seconds']:6.1f} s (compile {ours['compile']:.1f} s, sampling "
                      f"{ours['sampling']:.1f} s, {ours['steps']:.1f} leapfrog steps a draw); "
                      f"max R-hat {ours['r_hat']:.3f}, divergences {ours['divergences']} "
                      f"({'converged' if converged else 'NOT converged'}); "
                      f"posterior means {ours['means']}")
                if state == "warm":
                    target = TARGET_SECONDS.get(model, 3.0)
                    print(f"    target < {target:.0f} s warm: "
                          f"{'met' if ours['seconds'] < target else 'NOT met'}")
                if "peer" not in runs:
                    continue
                peer = runs["peer"]
                ratio = peer["seconds"] / ours["seconds"]
                print(f"    PyMC-Marketing {PEERS[model]} (PyMC NUTS): {peer['seconds']:6.1f} s; "
                      f"posterior means {peer['means']}")
                print(f"    speed-up {ratio:.1f}x (target >= 10x: "
                      f"{'met' if ratio >= 10 else 'NOT met'}); {_load()}")


def cdnow_clv(clv_draws: int | None) -> None:
    """A year's discounted CLV with 90% intervals of the CDNOW sample from the NUTS fits'
    paired draws (target: under 2 s with all 4,000)."""
    rfm = load_cdnow_summary()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        purchases = BayesianBetaGeoModel().fit(rfm, random_seed=1, **SETTINGS)
        spend = BayesianGammaGammaModel().fit(rfm, random_seed=1, **SETTINGS)
    _, seconds = timed(customer_lifetime_value, purchases, spend, rfm, horizon=52.0,
                       discount_rate=WEEKLY_DISCOUNT, max_draws=clv_draws)
    draws = min(purchases.n_draws, clv_draws or purchases.n_draws)
    print(f"\nCDNOW CLV with 90% intervals over {draws:,} draws: {seconds:6.2f} s (target < 2 s: "
          f"{'met' if seconds < 2 else 'NOT met'}); {_load()}")


def million_customers(n: int, clv_draws: int | None) -> None:
    data = simulated_customers(n)
    print(f"\n{n:,} simulated customers; {_load()}")
    model, seconds = timed(BayesianBetaGeoModel().fit, data, random_seed=1, **SETTINGS)
    attrs = model.idata.posterior.attrs
    print(f"  BG/NBD fit ({attrs['n_distinct_rows']:,} distinct rows): {seconds:6.1f} s "
          f"(compile {attrs.get('compile_seconds', float('nan')):.1f} s, sampling "
          f"{attrs['sampling_seconds']:.1f} s, "
          f"{float(model.idata.sample_stats['n_steps'].mean()):.1f} leapfrog steps a draw); "
          f"target < 120 s: "
          f"{'met' if seconds < 120 else 'NOT met'}; "
          f"max R-hat {model.summary()['r_hat'].max():.3f}")
    print(f"  posterior means {model.params_.round(3).to_dict()} (truth {CDNOW_BGNBD})")
    spend, seconds = timed(BayesianGammaGammaModel().fit, data, method="map", random_seed=1,
                           **SETTINGS)
    print(f"  Gamma-Gamma fit (Laplace, {spend.n_distinct_rows_:,} distinct rows): "
          f"{seconds:6.1f} s; posterior means {spend.params_.round(3).to_dict()}")

    def clv():
        return customer_lifetime_value(model, spend, data, horizon=52.0,
                                       discount_rate=WEEKLY_DISCOUNT, max_draws=clv_draws)

    draws = min(model.n_draws, clv_draws or model.n_draws)
    print(f"  CLV of every customer over {draws:,} draws; {_load()}")
    (result, peak), seconds = timed(peak_allocated, clv)
    print(f"  CLV with 90% intervals: {seconds:6.1f} s (under tracemalloc), peak allocated "
          f"{format_bytes(peak)}, process peak RSS {format_bytes(max_rss_bytes())}; target "
          f"< 4 GiB: {'met' if max(peak, max_rss_bytes()) < 4 * 2**30 else 'NOT met'}")
    print(f"  total expected CLV {result['mean'].sum():,.0f}; mean interval width "
          f"{(result['upper'] - result['lower']).mean():.2f}")


# ----------------------------------------------------------------------------- suite steps
# ``python -m benchmarks`` (benchmarks/run.py) runs these in fresh worker processes.
def cdnow_fit_step(implementation: str, model: str, draws: int) -> dict:
    """:func:`_fit_cdnow` for the suite's table: ``implementation`` is ``"clvmodels"`` or
    ``"pymc-marketing"``."""
    return _fit_cdnow("ours" if implementation == "clvmodels" else "peer", model, draws)


def clv_step(customers: int, draws: int) -> dict:
    """A year's discounted CLV (10% a year) with 90% intervals from ``4 x draws`` paired
    posterior draws: of the CDNOW sample (``customers=0``; NUTS fits) or of that many simulated
    CDNOW-like customers (Laplace fits: the CLV's cost does not depend on the sampler). Only
    the CLV call is timed (``seconds``: the process's first, numba's disk cache warm;
    ``cpu_seconds``: its processor time over every thread, less disturbed by other load than
    the wall time; ``second_seconds``: a second call, for CDNOW only); the peak RSS includes
    the fits."""
    import time

    if customers == 0:
        data, method = load_cdnow_summary(), "nuts"
    else:
        data, method = simulated_customers(customers), "map"
    settings = {"draws": draws, "tune": draws, "chains": 4, "random_seed": 1, "method": method}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        purchases = BayesianBetaGeoModel().fit(data, **settings)
        spend = BayesianGammaGammaModel().fit(data, **settings)
    def clv() -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        customer_lifetime_value(purchases, spend, data, horizon=52.0,
                                discount_rate=WEEKLY_DISCOUNT)
        return time.perf_counter() - start, time.process_time() - cpu

    seconds, cpu_seconds = clv()
    result = {"seconds": seconds, "cpu_seconds": cpu_seconds, "customers": len(data),
              "draws": purchases.n_draws, "load": _load()}
    if customers == 0:
        result["second_seconds"] = clv()[0]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--clv-draws", type=int, default=None,
                        help="posterior draws for the CLV (default: all)")
    parser.add_argument("--skip-peer", action="store_true",
                        help="do not run PyMC-Marketing's BetaGeoModel")
    parser.add_argument("--skip-million", action="store_true",
                        help="only the CDNOW comparison")
    parser.add_argument("--fit-cdnow", choices=("ours", "peer"),
                        help="internal: one CDNOW fit, printed as JSON")
    parser.add_argument("--model", choices=tuple(OURS), default=None,
                        help="only this model's CDNOW comparison (with --fit-cdnow: the model "
                        "to fit)")
    args = parser.parse_args(argv)
    if args.fit_cdnow:
        print(json.dumps(_fit_cdnow(args.fit_cdnow, args.model or "bgnbd")))
        return
    print(machine_description())
    compare_with_pymc_marketing(args.skip_peer, (args.model,) if args.model else tuple(OURS))
    cdnow_clv(args.clv_draws)
    if not args.skip_million:
        million_customers(args.customers, args.clv_draws)


if __name__ == "__main__":
    main()
