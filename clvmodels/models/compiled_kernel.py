"""A discrete-time family's compiled likelihood on one fit's data, as the samplers take it.

:class:`CompiledKernel` holds the data arrays the kernels of
:mod:`clvmodels.models.discrete_kernel` read and imports that module (numba) only when it is
used, so the family modules import without the ``bayes`` extra. With log-normal priors it is
nutpie's native model (:meth:`~CompiledKernel.packed`, :meth:`~CompiledKernel.log_density`,
:meth:`~CompiledKernel.callbacks`, see :mod:`clvmodels.bayes.native`); it has no PyTensor Op
(no ``tensor``), so with other priors the samplers run the family's NumPy likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np


def _kernel():
    from clvmodels.models import discrete_kernel

    return discrete_kernel


class SampledInLogParameters:
    """A compiled likelihood whose nutpie model samples the log-parameters themselves (the
    Pareto/NBD's samples other coordinates: its ``sampling_point`` maps to them)."""

    @staticmethod
    def sampling_point(theta: np.ndarray) -> np.ndarray:
        """The sampling coordinates of log-parameters ``theta``: ``theta`` itself."""
        return np.asarray(theta, dtype=float)


@dataclass(frozen=True)
class CompiledKernel(SampledInLogParameters):
    """A family's likelihood on one fit's data: ``data`` holds its arrays of distinct rows
    (rows of one 2-d array, in the order its kernel reads them); a subclass sets
    ``family_code`` (``discrete_kernel.BGBB`` or ``CONTRACT``)."""

    data: np.ndarray
    family_code: ClassVar[float]

    @classmethod
    def of(cls, *columns: np.ndarray) -> CompiledKernel:
        """The kernel on these columns of distinct rows (contiguous floats)."""
        return cls(np.ascontiguousarray(np.vstack(columns), dtype=float))

    def value_and_gradient(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        """The weighted total log-likelihood and its gradient in the parameters."""
        kernel = _kernel()
        function = (kernel.bgbb_value_and_gradient if self.family_code == kernel.BGBB
                    else kernel.contract_value_and_gradient)
        return function(np.asarray(params, dtype=float), self.data)

    def packed(self, priors: np.ndarray, centre: np.ndarray, factor: np.ndarray) -> np.ndarray:
        """The one float array nutpie's callbacks read: its length, the number of parameters,
        the family's code, the log-normal priors' (mean, sd) of each log-parameter, the
        whitening (centre and Cholesky factor, row-major), then the data."""
        parts = [np.array([0.0, len(centre), self.family_code]), np.ravel(priors),
                 np.ravel(centre), np.ravel(factor), np.ravel(self.data)]
        packed = np.concatenate([np.asarray(part, dtype=float) for part in parts])
        packed[0] = len(packed)
        return packed

    def log_density(self, theta: np.ndarray, packed: np.ndarray) -> tuple[float, np.ndarray]:
        """The log posterior density of the log-parameters and its gradient (log-normal
        priors, as packed)."""
        return _kernel().log_density(np.asarray(theta, dtype=float), packed)

    def callbacks(self) -> tuple:
        """nutpie's C callbacks (log density, expansion of a draw), cached by numba."""
        return _kernel().compiled_callbacks()


class CompiledBetaGeoBetaBinom(CompiledKernel):
    """The BG/BB likelihood: x, t_x, n and the weight of each distinct row."""

    family_code = 0.0


class CompiledContract(CompiledKernel):
    """The sBG (two parameters) or BdW (three) likelihood: n, churned and the weight of
    each distinct row."""

    family_code = 1.0


__all__ = ["CompiledBetaGeoBetaBinom", "CompiledContract", "CompiledKernel",
           "SampledInLogParameters"]
