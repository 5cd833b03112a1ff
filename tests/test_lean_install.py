"""The default install has none of the ``bayes`` extra (PyMC, PyTensor, ArviZ, nutpie, numba):
``import clvmodels`` and the maximum-likelihood work (fits, CLV, equity, the covariate fit)
must run without them. Simulated in a subprocess where importing them fails."""

from __future__ import annotations

import subprocess
import sys

_BLOCKED = ("numba", "pymc", "pytensor", "arviz", "nutpie")


def test_maximum_likelihood_work_runs_without_the_bayes_extra():
    code = (
        "import sys\n"
        f"for name in {_BLOCKED!r}:\n"
        "    sys.modules[name] = None\n"
        "import numpy as np\n"
        "import clvmodels\n"
        "rfm = clvmodels.load_cdnow_summary()\n"
        "purchases = clvmodels.BetaGeoModel().fit(rfm)\n"
        "spend = clvmodels.GammaGammaModel().fit(rfm)\n"
        "value = clvmodels.customer_lifetime_value(purchases, spend, rfm, horizon=52,\n"
        "                                          discount_rate=0.002)\n"
        "equity = clvmodels.customer_equity(clvmodels.ParetoNBDModel().fit(rfm), spend, rfm,\n"
        "                                   horizon=52, discount_rate=0.002)\n"
        "table = rfm.assign(group=np.arange(len(rfm)) % 2)\n"
        "covariates = clvmodels.ParetoNBDModel(purchase_covariates=['group']).fit(table)\n"
        "assert np.isfinite(value['clv']).all() and np.isfinite(equity.total)\n"
        "assert np.isfinite(covariates.log_likelihood_)\n"
        f"assert not [name for name in {_BLOCKED!r} if sys.modules.get(name) is not None]\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
