"""Benchmark the maximum-likelihood fits against lifetimes, measured in the same run.

Run from the repository root::

    python -m benchmarks.bench_models [--customers 1000000]

- BG/NBD on simulated customers with continuous-time recency and T (nothing compresses), against
  ``lifetimes.BetaGeoFitter`` (target: at least 10x faster);
- Pareto/NBD on the full CDNOW master data (23,570 customers, weeks, to 1998-06-30), against
  ``lifetimes.ParetoNBDFitter`` (target: faster).

Peak memory is what tracemalloc sees allocated during a separate, untimed call.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from benchmarks._common import format_bytes, machine_description, peak_allocated, timed
from clvmodels import BetaGeoModel, ParetoNBDModel, load_cdnow_transactions, rfm_summary

CDNOW_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def _simulated_customers(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    T = rng.uniform(20.0, 80.0, n)  # continuous ages: every customer is a distinct row
    return BetaGeoModel().set_params_(CDNOW_BGNBD).simulate(n, T, random_state=rng)


def _compare(name: str, ours, theirs, data: pd.DataFrame, target: float) -> None:
    import lifetimes  # noqa: F401  (fail early with a clear ImportError)

    args = (data["frequency"], data["recency"], data["T"])
    fitted, our_seconds = timed(ours().fit, data)
    _, our_peak = peak_allocated(ours().fit, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter, their_seconds = timed(theirs().fit, *args)
    ratio = their_seconds / our_seconds
    print(f"\n{name}: {len(data):,} customers ({fitted.n_distinct_rows_:,} distinct rows)")
    print(f"  clvmodels  {our_seconds:8.2f} s   peak {format_bytes(our_peak)}   "
          f"LL {fitted.log_likelihood_:.4f}")
    print(f"  lifetimes  {their_seconds:8.2f} s   params {np.round(fitter.params_.to_numpy(), 4)}")
    print(f"  clvmodels params {np.round(fitted.params_.to_numpy(), 4)}")
    verdict = "met" if ratio >= target else "NOT met"
    print(f"  speed-up {ratio:.1f}x (target >= {target:g}x: {verdict})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    from lifetimes import BetaGeoFitter, ParetoNBDFitter

    print(machine_description())
    _compare("BG/NBD, simulated", BetaGeoModel, BetaGeoFitter,
             _simulated_customers(args.customers), target=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        master = rfm_summary(load_cdnow_transactions(sample=False), observation_end="1998-06-30",
                             time_unit="W")
    _compare("Pareto/NBD, CDNOW master", ParetoNBDModel, ParetoNBDFitter, master, target=1)


if __name__ == "__main__":
    main()
