"""Shared checks of the compiled likelihood kernels: a Bayesian model's native nutpie model,
nutpie's C callbacks called as nutpie calls them, and central differences of a kernel's
value."""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import numpy as np


def central_differences(value: Callable[[np.ndarray], float], params: np.ndarray,
                        relative_step: float = 1e-6) -> np.ndarray:
    """The central-difference gradient of ``value`` at ``params``, a step of
    ``relative_step * |param|`` in each parameter in turn."""
    params = np.asarray(params, dtype=float)
    steps = np.diag(relative_step * np.abs(params))
    return np.array([(value(params + step) - value(params - step)) / (2 * step[i])
                     for i, step in enumerate(steps)])


def native_model(model, table) -> tuple:
    """A Bayesian ``model``'s fit data on ``table``, its PyMC model with the model's priors,
    and nutpie's native model of it (None where the priors take PyMC's graph)."""
    from clvmodels.bayes import native
    from clvmodels.bayes.model import pymc_model

    fit_data = model.fit_data(table)
    graph = pymc_model(model.family, fit_data, model.priors)
    return fit_data, graph, native.compile_native(graph, model.family, fit_data,
                                                  model.param_names)


class NutpieCallbacks:
    """A native nutpie model's two C callbacks, called through ctypes with its packed data as
    the user-data pointer, as nutpie calls them."""

    def __init__(self, compiled) -> None:
        self.compiled = compiled
        self.packed = compiled.user_data
        self.user_data = ctypes.c_void_p(self.packed.ctypes.data)

    @staticmethod
    def _pointer(array: np.ndarray):
        return array.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

    def log_density(self, z: np.ndarray, dim: int | None = None) -> tuple[int, float, np.ndarray]:
        """(status, value, gradient) of the log-density callback at ``z`` (``dim`` defaults to
        ``len(z)``; another one must be refused)."""
        dim = len(z) if dim is None else dim
        gradient, value = np.empty(len(z)), np.empty(1)
        status = self.compiled.compiled_logp_func.ctypes(
            dim, self._pointer(z), self._pointer(gradient), self._pointer(value), self.user_data)
        return status, float(value[0]), gradient

    def draw(self, z: np.ndarray) -> tuple[int, np.ndarray]:
        """(status, stored draw) of the expansion callback at ``z``: the log-parameters, then
        the parameters."""
        draw = np.empty(2 * len(z))
        status = self.compiled.compiled_expand_func.ctypes(
            len(z), len(draw), self._pointer(np.asarray(z, dtype=float)), self._pointer(draw),
            self.user_data)
        return status, draw
