"""Compatibility layers: other libraries' APIs on clvmodels' models.

``from clvmodels.compat import lifetimes`` is lifetimes' API (``BetaGeoFitter``,
``ParetoNBDFitter``, ``GammaGammaFitter``, ...) computed by clvmodels. Code that cannot be
edited (a scheduled job, lifetimes' own tests) can call :func:`install_lifetimes_alias` first,
after which ``import lifetimes`` (and ``lifetimes.fitters...``, ``lifetimes.utils``, ...)
gives the compat modules.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType, TracebackType

#: lifetimes' modules, each the compat module of the same path under clvmodels.compat.
LIFETIMES_MODULES = (
    "",
    ".fitters",
    ".fitters.beta_geo_fitter",
    ".fitters.beta_geo_beta_binom_fitter",
    ".fitters.modified_beta_geo_fitter",
    ".fitters.pareto_nbd_fitter",
    ".fitters.gamma_gamma_fitter",
    ".utils",
    ".datasets",
    ".plotting",
    ".generate_data",
)


class LifetimesAlias:
    """``import lifetimes`` resolving to ``clvmodels.compat.lifetimes`` (see
    :func:`install_lifetimes_alias`); :meth:`uninstall` (or leaving the ``with`` block)
    puts back whatever ``sys.modules`` held before."""

    def __init__(self) -> None:
        self.saved = {name: module for name, module in sys.modules.items()
                      if name == "lifetimes" or name.startswith("lifetimes.")}
        self.installed: list[str] = []
        for name in self.saved:
            del sys.modules[name]
        for suffix in LIFETIMES_MODULES:
            try:
                module = importlib.import_module("clvmodels.compat.lifetimes" + suffix)
            except ModuleNotFoundError as error:
                # A compat module not (yet) provided: importing it under lifetimes' name
                # fails as a missing module would.
                if error.name != "clvmodels.compat.lifetimes" + suffix:
                    raise
                continue
            sys.modules["lifetimes" + suffix] = module
            self.installed.append("lifetimes" + suffix)

    @property
    def modules(self) -> dict[str, ModuleType]:
        """The aliased module names and their compat modules."""
        return {name: sys.modules[name] for name in self.installed if name in sys.modules}

    def uninstall(self) -> None:
        """Remove the aliases and restore the modules they replaced."""
        for name in self.installed:
            sys.modules.pop(name, None)
        self.installed = []
        sys.modules.update(self.saved)

    def __enter__(self) -> LifetimesAlias:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.uninstall()


def install_lifetimes_alias() -> LifetimesAlias:
    """Make ``import lifetimes`` give ``clvmodels.compat.lifetimes``, for code that cannot be
    edited.

    Registers the compat modules in ``sys.modules`` under lifetimes' names (``lifetimes``,
    ``lifetimes.fitters`` and its modules, ``lifetimes.utils``, ``lifetimes.datasets``,
    ``lifetimes.plotting``, ``lifetimes.generate_data``), replacing a real lifetimes already
    imported. Works as a plain call (for the rest of the process) or as a context manager
    that restores the previous modules on exit::

        from clvmodels.compat import install_lifetimes_alias
        install_lifetimes_alias()
        import lifetimes            # clvmodels.compat.lifetimes

        with install_lifetimes_alias():
            run_old_job()

    Modules imported before the call keep the objects they imported.

    Returns
    -------
    LifetimesAlias
        Its ``uninstall()`` removes the aliases.
    """
    return LifetimesAlias()


__all__ = ["LifetimesAlias", "install_lifetimes_alias"]
