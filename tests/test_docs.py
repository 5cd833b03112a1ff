"""The documentation site builds with ``mkdocs build --strict`` and documents the public API.

Strict mode turns every warning into a failure: a broken link between pages, a cross-reference
mkdocstrings cannot resolve, a docstring griffe cannot parse, a page missing from the nav. The
site is built once per test session into a temporary directory (the build reads the sources
and the notebooks in place and writes nothing into the repository).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

import clvmodels

REPOSITORY = Path(__file__).resolve().parents[1]
# What the `docs` extra installs; the build needs all of them.
BUILD_MODULES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python",
                 "mkdocs_jupyter")
# The modules users import from by name (beside the package namespace itself).
PUBLIC_MODULES = (
    "clvmodels.plotting", "clvmodels.evaluate", "clvmodels.baselines",
    "clvmodels.likelihood_ratio", "clvmodels.scoring", "clvmodels.contract_value",
    "clvmodels.spark", "clvmodels.engines", "clvmodels.engines.discrete", "clvmodels.report",
    "clvmodels.errors", "clvmodels.estimation.family", "clvmodels.estimation.mle",
    "clvmodels.estimation.bayesian", "clvmodels.estimation.predictions", "clvmodels.display",
    "clvmodels.compat", "clvmodels.compat.lifetimes", "clvmodels.compat.lifetimes.utils",
    "clvmodels.compat.lifetimes.datasets", "clvmodels.compat.lifetimes.plotting",
    "clvmodels.compat.lifetimes.generate_data",
)


def _missing_build_modules() -> list[str]:
    missing = []
    for name in BUILD_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


def read_inventory(path: Path) -> dict[str, str]:
    """The object names of a Sphinx inventory (``objects.inv``, version 2) and their URLs.

    The file is four header lines, then zlib-compressed lines of
    ``name domain:role priority uri display-name``; a ``$`` at the end of the URI stands for
    the name.
    """
    raw = path.read_bytes()
    header_lines = raw.split(b"\n", 4)
    assert header_lines[0] == b"# Sphinx inventory version 2", header_lines[0]
    body = zlib.decompress(header_lines[4]).decode("utf-8")
    entries = {}
    for line in body.splitlines():
        name, _domain_role, _priority, uri, *_display = line.split(" ")
        entries[name] = uri[:-1] + name if uri.endswith("$") else uri
    return entries


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built with ``mkdocs build --strict``, its build time printed for the CI log."""
    missing = _missing_build_modules()
    if missing:
        pytest.skip(f"the documentation tools are not installed ({', '.join(missing)}): "
                    "pip install -e '.[docs]'")
    workdir = tmp_path_factory.mktemp("docs")
    site_dir = workdir / "site"
    # The working directory is the temporary one: mkdocs-jupyter keeps its cache under ./.cache.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])),
        "NO_MKDOCS_2_WARNING": "1"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "--config-file", str(REPOSITORY / "mkdocs.yml"), "--site-dir", str(site_dir)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
    )
    seconds = time.perf_counter() - started
    print(f"mkdocs build --strict: {seconds:.1f} s")
    assert result.returncode == 0, result.stdout + result.stderr
    return site_dir


def test_the_site_builds_strictly(site):
    assert (site / "index.html").is_file()
    assert (site / "objects.inv").is_file()


def test_every_exported_name_is_in_the_api_reference(site):
    inventory = read_inventory(site / "objects.inv")
    missing = [name for name in clvmodels.__all__ if f"clvmodels.{name}" not in inventory]
    assert missing == []
    # ... and on the API reference's pages, not only somewhere on the site.
    elsewhere = {name: inventory[f"clvmodels.{name}"] for name in clvmodels.__all__
                 if not inventory[f"clvmodels.{name}"].startswith("api/")}
    assert elsewhere == {}


def test_every_public_module_is_in_the_api_reference(site):
    inventory = read_inventory(site / "objects.inv")
    missing = [name for name in PUBLIC_MODULES if name not in inventory]
    assert missing == []
    # Each module's own public names (its __all__), not just its heading.
    absent = {}
    for module_name in PUBLIC_MODULES:
        exported = getattr(importlib.import_module(module_name), "__all__", ())
        names = [name for name in exported if f"{module_name}.{name}" not in inventory]
        if names:
            absent[module_name] = names
    assert absent == {}


def test_the_notebooks_are_pages_of_the_site(site):
    notebooks = sorted(path.stem for path in (REPOSITORY / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebook found"
    for name in notebooks:
        page = site / "notebooks" / name / "index.html"
        assert page.is_file(), name
        assert "jupyter-wrapper" in page.read_text(encoding="utf-8"), name


def test_no_notebook_is_copied_into_the_docs_directory():
    # The site reads them from notebooks/ (docs/_hooks/notebooks.py): a copy would go stale.
    assert list((REPOSITORY / "docs").rglob("*.ipynb")) == []


def test_read_inventory_reads_a_sphinx_inventory(tmp_path):
    body = ("clvmodels.rfm_summary py:function 1 api/data/#$ -\n"
            "clvmodels.spark py:module 1 api/scale/#clvmodels.spark -\n")
    path = tmp_path / "objects.inv"
    path.write_bytes(b"# Sphinx inventory version 2\n# Project: x\n# Version: 0\n"
                     b"# The remainder of this file is compressed using zlib.\n"
                     + zlib.compress(body.encode()))
    assert read_inventory(path) == {
        "clvmodels.rfm_summary": "api/data/#clvmodels.rfm_summary",
        "clvmodels.spark": "api/scale/#clvmodels.spark",
    }


TEST_FILE = re.compile(r"(?:tests/)?\b(test_\w+\.py)(?:::(\w+))?")
# "`::test_name`" right after a file's mention names a test of that file.
SAME_FILE_TEST = re.compile(r"(?<![\w.])::(test_\w+)")


def named_tests(text: str) -> list[tuple[str, str | None]]:
    """The (test file, test function or None) pairs a page names, in order."""
    named = []
    current = None
    for match in re.finditer(f"{TEST_FILE.pattern}|{SAME_FILE_TEST.pattern}", text):
        if match.group(1) is not None:
            current = match.group(1)
            named.append((current, match.group(2)))
        elif current is not None:
            named.append((current, match.group(3)))
    return named


def test_every_test_a_docs_page_names_exists():
    # The model pages (and the README's promises) cite the tests that check them: a renamed or
    # removed test must not leave a page pointing at nothing.
    missing = []
    for page in [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").rglob("*.md"))]:
        for file_name, function in named_tests(page.read_text(encoding="utf-8")):
            path = REPOSITORY / "tests" / file_name
            if not path.is_file():
                missing.append(f"{page.name}: {file_name}")
                continue
            if function is None:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
            if function not in defined:
                missing.append(f"{page.name}: {file_name}::{function}")
    assert missing == []


def test_named_tests_reads_files_and_their_tests():
    text = ("`tests/test_a.py::test_one` and `::test_two`; `test_b.py` checks it, "
            "`test_b.py::test_three`.")
    assert named_tests(text) == [("test_a.py", "test_one"), ("test_a.py", "test_two"),
                                 ("test_b.py", None), ("test_b.py", "test_three")]
