"""What every model shares: the family declaration (:mod:`clvmodels.estimation.family`), the
maximum-likelihood and Bayesian estimators (:mod:`~clvmodels.estimation.mle`,
:mod:`~clvmodels.estimation.bayesian`) and the predictions over parameter draws
(:mod:`~clvmodels.estimation.predictions`).

A regular package (this file holds only this docstring) so that the documentation's
static analysis (griffe) finds its modules; it imports nothing.
"""
