"""Compatibility layers: other packages' APIs on clvmodels (``clvmodels.compat.lifetimes``)."""
