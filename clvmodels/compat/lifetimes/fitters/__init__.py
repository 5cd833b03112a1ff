"""The lifetimes-compatible fitters (``lifetimes.fitters``): ``BaseFitter`` here, each model
in the module of lifetimes' name."""

from clvmodels.compat.lifetimes.fitters.base import BaseFitter

__all__ = ["BaseFitter"]
