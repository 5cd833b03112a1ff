"""The Gamma-Gamma conditional mean spend of one draw and customer, compiled.

The formula of :meth:`clvmodels.models.gamma_gamma.GammaGammaFamily.expected_spend` for one
element, called by the fused valuation (:mod:`clvmodels.models.fused_value_kernel`), which
visits one draw and customer at a time. Kept apart from
:mod:`clvmodels.models.gamma_gamma_kernel` (the likelihood), which imports PyTensor: scoring
a saved model need not import it. Imported only for posterior draws (numba is in the
``bayes`` extra).
"""

from __future__ import annotations

import numba


@numba.njit(cache=True, error_model="numpy", nogil=True)
def conditional_mean_spend(p, q, gamma, x, spend):
    """``p (gamma + x spend) / (p x + q - 1)``: the population mean ``p gamma / (q - 1)``
    and the customer's mean ``spend`` over ``x`` purchases, weighted; a customer whose mean
    spend is 0 counts as having no purchase (x = 0), as in the fit."""
    purchases = x if spend > 0 else 0.0
    return p * (gamma + purchases * spend) / (p * purchases + q - 1.0)
