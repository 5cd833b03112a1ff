"""Benchmark the Bayesian models, measured in one run.

Run from the repository root::

    python -m benchmarks.bench_bayes [--customers 1000000] [--clv-draws N] [--skip-peer]
                                     [--skip-million]

- BG/NBD on the CDNOW sample, 4 chains x 1,000 draws after 1,000 tuning steps (wall time
  including compilation), against PyMC-Marketing's ``BetaGeoModel`` with the same settings
  (target: at least 3x faster). Both compile code and cache it on disk (numba's cache, PyTensor's
  compiledir), so each fit runs in a fresh process twice: with empty caches (cold, a machine's
  first fit) and with the caches that run filled (warm, every later fit);
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
    BayesianBetaGeoModel,
    BayesianGammaGammaModel,
    BetaGeoModel,
    GammaGammaModel,
    customer_lifetime_value,
    load_cdnow_summary,
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


def _fit_cdnow(who: str) -> dict:
    """One CDNOW fit, by ``"ours"`` or ``"peer"`` (PyMC-Marketing): its wall time and
    results."""
    rfm = load_cdnow_summary()
    if who == "ours":
        model, seconds = timed(BayesianBetaGeoModel().fit, rfm, random_seed=1, **SETTINGS)
        attrs = model.idata.posterior.attrs
        return {"seconds": seconds, "compile": attrs.get("compile_seconds", float("nan")),
                "sampling": attrs["sampling_seconds"], "sampler": attrs["sampler"],
                "rows": attrs["n_distinct_rows"],
                "r_hat": float(model.summary()["r_hat"].max()),
                "divergences": int(model.idata.sample_stats["diverging"].sum()),
                "steps": float(model.idata.sample_stats["n_steps"].mean()),
                "means": model.params_.round(3).to_dict()}
    from pymc_marketing.clv import BetaGeoModel as PeerModel

    data = pd.DataFrame({"customer_id": rfm.index, "frequency": rfm["frequency"],
                         "recency": rfm["recency"], "T": rfm["T"]}).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = PeerModel(data=data)
        # As many parallel chains as ours (one run without it sampled sequentially).
        _, seconds = timed(peer.fit, random_seed=1, progressbar=False,
                           cores=min(SETTINGS["chains"], os.cpu_count() or 1), **SETTINGS)
    return {"seconds": seconds,
            "means": {k: round(float(peer.idata.posterior[k].mean()), 3) for k in CDNOW_BGNBD}}


def _fit_cdnow_in_fresh_process(who: str, cache: Path) -> dict:
    """:func:`_fit_cdnow` in a new Python process whose compilation caches (PyTensor's C
    modules, numba's machine code) live under ``cache``: empty the first time (cold), filled
    by then the second (warm)."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache / 'pytensor'}",
           "NUMBA_CACHE_DIR": str(cache / "numba")}
    result = subprocess.run([sys.executable, "-m", "benchmarks.bench_bayes", "--fit-cdnow", who],
                            env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def compare_with_pymc_marketing(skip_peer: bool) -> None:
    """Ours and PyMC-Marketing's CDNOW fits, each in a fresh process, first with empty
    compilation caches (cold: a first fit on a machine), then again with the caches the first
    run filled (warm: every later fit); the two runs of a state back to back."""
    print(f"\nBG/NBD on CDNOW (2,357 customers), {SETTINGS}, each fit in a fresh process "
          "(wall time of fit(), compilation included)")
    who = ("ours",) if skip_peer else ("ours", "peer")
    with tempfile.TemporaryDirectory() as tmp:
        for state in ("cold", "warm"):
            print(f"  {state} caches; {_load()}")
            runs = {name: _fit_cdnow_in_fresh_process(name, Path(tmp) / name) for name in who}
            ours = runs["ours"]
            print(f"    clvmodels ({ours['sampler']}, {ours['rows']:,} distinct rows): "
                  f"{ours['seconds']:6.1f} s (compile {ours['compile']:.1f} s, sampling "
                  f"{ours['sampling']:.1f} s, {ours['steps']:.1f} leapfrog steps a draw); "
                  f"max R-hat {ours['r_hat']:.3f}, divergences {ours['divergences']}; "
                  f"posterior means {ours['means']}")
            if skip_peer:
                continue
            peer = runs["peer"]
            ratio = peer["seconds"] / ours["seconds"]
            print(f"    PyMC-Marketing BetaGeoModel (PyMC NUTS): {peer['seconds']:6.1f} s; "
                  f"posterior means {peer['means']}")
            print(f"    speed-up {ratio:.1f}x (target >= 3x: "
                  f"{'met' if ratio >= 3 else 'NOT met'}); {_load()}")


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
    args = parser.parse_args(argv)
    if args.fit_cdnow:
        print(json.dumps(_fit_cdnow(args.fit_cdnow)))
        return
    print(machine_description())
    compare_with_pymc_marketing(args.skip_peer)
    if not args.skip_million:
        million_customers(args.customers, args.clv_draws)


if __name__ == "__main__":
    main()
