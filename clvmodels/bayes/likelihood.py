"""A family's likelihood as a PyTensor Op: the maximum-likelihood model's own mathematics.

:class:`FamilyLogLikelihood` evaluates :meth:`~clvmodels.estimation.family.Family.derivatives`
(the weighted total and its gradient, in blocks of distinct rows) for PyMC's samplers and
optimisers, so the Bayesian and the maximum-likelihood fits share one likelihood. nutpie runs it
in numba's object mode; a family with a compiled kernel
(:meth:`~clvmodels.estimation.family.Family.compiled_likelihood`) is sampled through that
instead. :class:`CovariateLogLikelihood` is the likelihood with static covariates, of the base
parameters and the coefficients.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from clvmodels.estimation.covariate_posterior import CovariateLikelihood
from clvmodels.estimation.family import Family
from clvmodels.estimation.fitdata import FitData

# Each Op holds its own data, so no two may compare equal (PyTensor merges equal Ops).
_TOKENS = itertools.count()


class LogLikelihoodOp(Op):
    """A weighted total log-likelihood of scalar parameters, evaluated in Python: two
    outputs, the value and the gradient in the parameters (what ``grad`` returns, times the
    upstream gradient). The gradient has no derivative of its own (the Laplace approximation
    differences the gradient). Subclasses set ``n_inputs`` and ``title`` and implement
    ``perform``."""

    __props__ = ("token",)
    n_inputs: int
    title: str

    def make_node(self, *params):
        if len(params) != self.n_inputs:
            raise ValueError(f"expected {self.n_inputs} parameters, got {len(params)}")
        inputs = [pt.as_tensor_variable(v, dtype="float64") for v in params]
        return Apply(self, inputs, [pt.dscalar(), pt.dvector()])

    def connection_pattern(self, node):
        return [[True, True]] * len(node.inputs)

    def grad(self, inputs, output_grads):
        upstream, gradient_upstream = output_grads
        if not isinstance(gradient_upstream.type, DisconnectedType):
            raise NotImplementedError(f"the {self.title} likelihood has no second "
                                      "derivatives here")
        # The same node as the value's (PyTensor merges them): one evaluation for both.
        gradient = self(*inputs)[1]
        return [upstream * gradient[i] for i in range(len(inputs))]


class FamilyLogLikelihood(LogLikelihoodOp):
    """The weighted total log-likelihood of ``family`` on ``fit_data``, of the parameters."""

    def __init__(self, family: Family, fit_data: FitData) -> None:
        self.family = family
        self.fit_data = fit_data
        self.n_inputs = len(family.parameters)
        self.title = family.title
        self.token = next(_TOKENS)

    def perform(self, node, inputs, outputs):
        params = np.array([float(value) for value in inputs])
        with np.errstate(all="ignore"):
            parts = [self.family.derivatives(params, block) for block in self.fit_data.blocks()]
        total = float(sum(part[0] for part in parts))
        gradient = np.sum([part[1] for part in parts], axis=0)
        outputs[0][0] = np.asarray(total if np.isfinite(total) else -np.inf)
        outputs[1][0] = np.asarray(gradient, dtype=float)


class CovariateLogLikelihood(LogLikelihoodOp):
    """The weighted total log-likelihood of a model with covariates, of the reported
    parameters (base parameters, then coefficients; see
    :class:`~clvmodels.estimation.covariate_posterior.CovariateLikelihood`)."""

    def __init__(self, likelihood: CovariateLikelihood) -> None:
        self.likelihood = likelihood
        self.n_inputs = len(likelihood.names)
        self.title = f"{likelihood.family.title} (with covariates)"
        self.token = next(_TOKENS)

    def perform(self, node, inputs, outputs):
        total, gradient = self.likelihood.at_values(np.array([float(v) for v in inputs]))
        outputs[0][0] = np.asarray(total)
        outputs[1][0] = np.asarray(gradient, dtype=float)


def log_likelihood_term(family: Family, fit_data: FitData, params: list):
    """The weighted total log-likelihood of ``fit_data`` as a PyTensor scalar of ``params``:
    the family's compiled kernel when it has one as a PyTensor Op (its ``tensor``), else
    :class:`FamilyLogLikelihood`. A kernel without ``tensor`` serves nutpie's native route
    only (:mod:`clvmodels.bayes.native`)."""
    compiled = family.compiled_likelihood(fit_data)
    if compiled is not None and hasattr(compiled, "tensor"):
        return compiled.tensor(params)
    return FamilyLogLikelihood(family, fit_data)(*params)[0]


__all__ = ["CovariateLogLikelihood", "FamilyLogLikelihood", "LogLikelihoodOp",
           "log_likelihood_term"]
