"""``lifetimes``' API on clvmodels: ``from clvmodels.compat import lifetimes``."""
