"""The PyMC side of the Bayesian models (needs the ``bayes`` extra): the PyMC model of a
family, sampling (nutpie, PyMC's NUTS, the Laplace approximation), convergence checks and the
netCDF reader. The Bayesian classes themselves (:class:`clvmodels.BayesianBetaGeoModel`, ...)
are declared with their families in :mod:`clvmodels.models` and import this package when they
fit or load.

Importing this module settles PyTensor's search for a BLAS library to link its C code to, and
ignores the one warning that search gives when it finds none (see below); ``pytensor.config.
blas__ldflags`` still says what it found (empty: none), for other PyTensor models in the process.
"""

import warnings

try:
    import arviz  # noqa: F401
    import pymc  # noqa: F401
    import pytensor
except ImportError as error:
    raise ImportError(
        f"the Bayesian models need PyMC and ArviZ ({error}); install them with "
        'pip install "clvmodels[bayes]"'
    ) from error

# PyTensor looks for a BLAS library once per process, when a graph being compiled first reads
# config.blas__ldflags (a lazily computed default), and warns when it finds none, as with a pip
# install: at the first fit. That is harmless for these models: their graphs are a likelihood of
# 3-4 parameters made of elementwise terms and one product with the row weights (a Gemv, which
# PyTensor then runs by calling SciPy's BLAS, once per evaluation), nutpie compiles them with
# numba, not PyTensor's C, and the BG/NBD posterior runs a numba kernel. So the search is made
# here, with that warning (only it) ignored; PyTensor keeps the result for the process. A
# user's blas__ldflags (PYTENSOR_FLAGS, .pytensorrc) is used as is, without a search.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="PyTensor could not link to a BLAS installation",
        category=UserWarning, module=r"pytensor\.link\.c\.cmodule",
    )
    pytensor.config.blas__ldflags  # noqa: B018 (read for its side effect: the search)

from clvmodels.bayes.model import pymc_model  # noqa: E402
from clvmodels.bayes.sampling import (  # noqa: E402
    read_netcdf,
    sample_posterior,
    summary,
    warn_unconverged,
)

__all__ = ["pymc_model", "read_netcdf", "sample_posterior", "summary", "warn_unconverged"]
