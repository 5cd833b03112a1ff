"""Bayesian Gamma-Gamma spend model: :mod:`clvmodels.models.gamma_gamma` with priors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor.tensor as pt

from clvmodels.bayes._base import BayesianModel, log_normal
from clvmodels.bayes._posterior import DistinctRows, check_level, summarise
from clvmodels.models._base import FitData
from clvmodels.models.gamma_gamma import GammaGammaModel, _expected_spend, spend_fit_exclusions


def log_likelihood_rows(params: dict, fit_data: FitData):
    """The Gamma-Gamma log-likelihood of each row, as
    :meth:`clvmodels.GammaGammaModel._log_likelihood`, in PyTensor.

    The log-gamma terms depend on the purchase count alone and are computed once per distinct
    count.
    """
    p, q, gamma = (params[name] for name in GammaGammaModel.param_names)
    x_values, x_codes = fit_data.levels("x")
    x, zbar = fit_data["x"], fit_data["zbar"]
    px_values = p * x_values
    level = (pt.gammaln(px_values + q) - pt.gammaln(px_values) - pt.gammaln(q)
             + px_values * np.log(x_values))
    px = p * x
    return (
        level[x_codes]
        + q * pt.log(gamma)
        + (px - 1) * np.log(zbar)
        - (px + q) * pt.log(gamma + x * zbar)
    )


def spend_values(params: tuple[np.ndarray, ...], x: np.ndarray, spend: np.ndarray, owner: str):
    """Expected spend per transaction per draw (rows of ``params``) and customer.

    Raises when a draw has ``q <= 1``, where the mean spend is infinite.
    """
    q = np.asarray(params[1])
    if np.any(q <= 1):
        raise ValueError(
            f"{owner}: {int(np.count_nonzero(q <= 1))} of {q.size} draw(s) have q <= 1, where "
            "the mean spend per transaction is infinite; check the monetary values for extreme "
            "outliers or use a prior on q with support above 1"
        )
    return _expected_spend(params, x, spend)


class BayesianGammaGammaModel(BayesianModel):
    """Gamma-Gamma spend model with a posterior over its parameters (PyMC).

    Each transaction of a customer is worth z ~ Gamma(p, nu), nu ~ Gamma(q, gamma). Fitted on
    the customers with ``frequency > 0`` and a positive ``monetary_value``, like
    :class:`clvmodels.GammaGammaModel`, whose likelihood and rules it shares: repeat buyers
    whose repeat purchases are all worth 0 are left out with a UserWarning, and they and the
    customers without repeat purchases get the population mean spend ``p gamma / (q - 1)``
    (per draw).

    Default priors (weakly informative log-normals with log-scale sd 2):

    - ``p``, ``q`` ~ LogNormal(log 1, 2);
    - ``gamma`` ~ LogNormal(log m, 2) with m the mean ``monetary_value`` of the repeat buyers,
      so the prior follows the data's currency.

    Parameters
    ----------
    priors : dict, optional
        Replacement priors by parameter name (unnamed PyMC distributions, positive support).

    Attributes
    ----------
    idata, params_, n_customers_, n_customers_excluded_
        The posterior, the posterior means, the customers fitted and those left out.
    n_customers_zero_spend_
        Those left out because their repeat purchases are all worth 0.
    """

    mle_class = GammaGammaModel

    def _default_priors(self, fit_data: FitData) -> dict:
        mean_spend = float(np.average(fit_data["zbar"], weights=fit_data.weights))
        return {"p": log_normal(1.0), "q": log_normal(1.0), "gamma": log_normal(mean_spend)}

    _log_likelihood_rows = staticmethod(log_likelihood_rows)

    def _fit_data(self, data: pd.DataFrame, weights=None) -> FitData:
        # Counted (and announced) as by the maximum-likelihood model; the warning points at
        # the caller of fit() or build_model().
        self.n_customers_excluded_, self.n_customers_zero_spend_ = spend_fit_exclusions(
            data, weights, type(self).__name__, stacklevel=3)
        return super()._fit_data(data, weights)

    def _set_posterior(self, idata) -> None:
        super()._set_posterior(idata)
        attrs = idata.posterior.attrs
        self.n_customers_excluded_ = float(attrs["n_customers_excluded"])
        # After a fit the count joins the posterior's attributes (which save() writes); a
        # loaded file has it, or predates fitting such customers (then there were none).
        attrs.setdefault("n_customers_zero_spend", getattr(self, "n_customers_zero_spend_", 0.0))
        self.n_customers_zero_spend_ = float(attrs["n_customers_zero_spend"])

    def _spend_columns(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        return GammaGammaModel._spend_arrays(data)

    def expected_spend(
        self, data: pd.DataFrame, *, level: float = 0.9, return_draws: bool = False,
        max_draws: int | None = None,
    ) -> pd.DataFrame:
        """Posterior of each customer's expected spend per transaction.

        See :meth:`clvmodels.GammaGammaModel.expected_spend`. Returns a DataFrame with
        ``mean``, ``lower``, ``upper`` indexed by customer (and the draws, one row per draw,
        with ``return_draws=True``).
        """
        level = check_level(level)
        x, spend = self._spend_columns(data)
        rows = DistinctRows({"x": x, "spend": spend})
        params = self._param_draws(max_draws)
        name = type(self).__name__
        summary = summarise(
            lambda block: spend_values(params, rows["x"][block], rows["spend"][block], name),
            len(rows), len(params[0]), level=level, keep_draws=return_draws,
        )
        frame = summary.frame(rows, data.index)
        return (frame, summary.draws_frame(rows, data.index)) if return_draws else frame
