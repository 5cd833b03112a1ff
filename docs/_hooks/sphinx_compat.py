"""Griffe extension: what the docstrings write for Sphinx, rendered by mkdocstrings.

Roles. Sphinx cross-reference roles in the docstrings become links on the site.

The docstrings are numpydoc, written for Sphinx as well: ``:func:`~clvmodels.rfm_summary```.
mkdocstrings renders Markdown, where such a role would show as typed. Each role becomes an
*optional* mkdocs-autorefs cross-reference: a link when its target is documented on the site,
its name in code type otherwise (a role naming a private helper is not an error). A leading
``~`` shows the last component only, as in Sphinx; a name without a dot is looked up beside the
object (the class of a method, the module of a function).

``#:`` comments. A module constant documented Sphinx's way, by ``#:`` comment lines right above
its assignment, gets those lines as its docstring (griffe reads only a string after it).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from griffe import Docstring, Extension, Object

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj):`(?P<target>[^`]+)`")


def _identifier(target: str, obj: Object) -> str:
    """The full dotted path a role's target most likely names, seen from ``obj``."""
    if target.startswith("clvmodels"):
        return target
    scope = obj if obj.is_class or obj.is_module else obj.parent
    if scope is None:
        return target
    if target.startswith("."):
        return scope.path + target
    return f"{scope.path}.{target}"


def _replace(text: str, obj: Object) -> str:
    def link(match: re.Match[str]) -> str:
        target = match["target"].strip()
        shown = target.lstrip("~.")
        if target.startswith("~"):
            shown = shown.rsplit(".", 1)[-1]
        identifier = escape(_identifier(target.lstrip("~"), obj), quote=True)
        return f'<autoref identifier="{identifier}" optional><code>{escape(shown)}</code></autoref>'

    return ROLE.sub(link, text)


def _comment_docstring(obj: Object) -> str | None:
    """The ``#:`` comment lines right above an attribute's first line, without the markers."""
    if obj.lineno is None or obj.parent is None:
        return None
    lines = obj.parent.module.lines
    comment = []
    index = obj.lineno - 2  # the line above the assignment (lineno counts from 1)
    while index >= 0 and lines[index].lstrip().startswith("#:"):
        comment.insert(0, lines[index].lstrip()[2:].strip())
        index -= 1
    return "\n".join(comment) or None


class SphinxCompat(Extension):
    """Give ``#:``-commented attributes their docstring; make roles optional cross-references."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        """Complete and rewrite ``obj``'s docstring as it is loaded."""
        if obj.docstring is None and obj.is_attribute:
            text = _comment_docstring(obj)
            if text is not None:
                obj.docstring = Docstring(text, lineno=obj.lineno, parent=obj)
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = _replace(obj.docstring.value, obj)
