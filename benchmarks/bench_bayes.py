"""Benchmark the Bayesian models, measured in one run.

Run from the repository root::

    python -m benchmarks.bench_bayes [--customers 1000000] [--clv-draws N] [--skip-peer]

- BG/NBD on the CDNOW sample, 4 chains x 1,000 draws after 1,000 tuning steps (wall time
  including compilation), against PyMC-Marketing's ``BetaGeoModel`` with the same settings
  (target: at least 3x faster);
- 1,000,000 simulated customers (CDNOW's BG/NBD and Gamma-Gamma parameters, purchases on whole
  days, times in weeks, as a transaction log gives them): the BG/NBD fit with the same settings
  (target: under 2 minutes), then a year's discounted CLV with 90% intervals for every customer
  from all 4,000 draws, with its peak memory (target: under 4 GiB).

Peak memory is what tracemalloc sees allocated during the CLV call (its input excluded) and the
process's peak resident size.
"""

from __future__ import annotations

import argparse
import os
import warnings

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


def compare_with_pymc_marketing(skip_peer: bool) -> None:
    rfm = load_cdnow_summary()
    print(f"\nBG/NBD on CDNOW ({len(rfm):,} customers), {SETTINGS}; {_load()}")
    model, ours = timed(BayesianBetaGeoModel().fit, rfm, random_seed=1, **SETTINGS)
    attrs = model.idata.posterior.attrs
    summary = model.summary()
    print(f"  clvmodels ({attrs['sampler']}, {attrs['n_distinct_rows']:,} distinct rows): "
          f"{ours:6.1f} s  (compile {attrs.get('compile_seconds', float('nan')):.1f} s, "
          f"sampling {attrs['sampling_seconds']:.1f} s); max R-hat {summary['r_hat'].max():.3f}, "
          f"divergences {int(model.idata.sample_stats['diverging'].sum())}")
    print(f"  posterior means {model.params_.round(3).to_dict()}")
    if skip_peer:
        return
    from pymc_marketing.clv import BetaGeoModel as PeerModel

    data = pd.DataFrame({"customer_id": rfm.index, "frequency": rfm["frequency"],
                         "recency": rfm["recency"], "T": rfm["T"]}).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = PeerModel(data=data)
        # As many parallel chains as ours (one run without it sampled sequentially).
        _, theirs = timed(peer.fit, random_seed=1, progressbar=False,
                          cores=min(SETTINGS["chains"], os.cpu_count() or 1), **SETTINGS)
    means = {k: round(float(peer.idata.posterior[k].mean()), 3) for k in CDNOW_BGNBD}
    print(f"  PyMC-Marketing BetaGeoModel (PyMC NUTS): {theirs:6.1f} s; posterior means {means}")
    ratio = theirs / ours
    print(f"  speed-up {ratio:.1f}x (target >= 3x: {'met' if ratio >= 3 else 'NOT met'}); "
          f"{_load()}")


def million_customers(n: int, clv_draws: int | None) -> None:
    data = simulated_customers(n)
    print(f"\n{n:,} simulated customers; {_load()}")
    model, seconds = timed(BayesianBetaGeoModel().fit, data, random_seed=1, **SETTINGS)
    attrs = model.idata.posterior.attrs
    print(f"  BG/NBD fit ({attrs['n_distinct_rows']:,} distinct rows): {seconds:6.1f} s "
          f"(compile {attrs.get('compile_seconds', float('nan')):.1f} s, sampling "
          f"{attrs['sampling_seconds']:.1f} s); target < 120 s: "
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
    args = parser.parse_args(argv)
    print(machine_description())
    compare_with_pymc_marketing(args.skip_peer)
    million_customers(args.customers, args.clv_draws)


if __name__ == "__main__":
    main()
