"""The README's Python snippets stand on their own: every name they use is defined in them.

(A reader copies one snippet, e.g. the Spark one; a name defined only in another snippet, or
nowhere, is a NameError for them.) The snippets are parsed, not run: some need S3 or a cluster.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _snippets() -> list[tuple[str, str]]:
    """(heading above the snippet, its code) for every Python snippet of the README."""
    text = README.read_text(encoding="utf-8")
    snippets = []
    for match in BLOCK.finditer(text):
        headings = re.findall(r"^#+ (.*)$", text[:match.start()], re.MULTILINE)
        snippets.append((headings[-1], match.group(1)))
    return snippets


def _undefined_names(code: str) -> set[str]:
    tree = ast.parse(code)
    defined = set(dir(builtins))
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, ast.Store) else used).add(node.id)
    return used - defined


@pytest.mark.parametrize(("heading", "code"), _snippets(), ids=[h for h, _ in _snippets()])
def test_readme_snippet_defines_every_name_it_uses(heading, code):
    assert _undefined_names(code) == set(), heading


def test_the_spark_snippet_is_checked():
    assert "Spark" in [heading for heading, _ in _snippets()]
