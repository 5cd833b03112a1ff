"""lifetimes' own tests on the compat layer: ``python -m benchmarks.lifetimes_suite DIR``.

Runs the lifetimes test files found in DIR (``test_estimation.py``, ``test_utils.py``, and
``conftest.py`` if there) with ``import lifetimes`` resolving to ``clvmodels.compat.lifetimes``
(:func:`clvmodels.compat.install_lifetimes_alias`, installed by this module acting as a pytest
plugin, ``-p benchmarks.lifetimes_suite``), and prints how many passed, failed and errored,
with the names of those that did not pass. ``--real`` runs the same files against the real
lifetimes for comparison.

Nothing in DIR is changed: DIR (the test files and the data they read by relative paths,
e.g. ``lifetimes/datasets/example_transactions.csv``) is copied to a temporary directory, the
tests' working directory, where the one documented rewrite is made: ``pandas.util.testing``
(removed in pandas 2) becomes ``pandas.testing``. A ``conftest.py`` in DIR is lifetimes'
own (it is used). lifetimes' tests are not part of this repository; fetch them from
lifetimes 0.11's sources.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

#: The lifetimes test files run, if present in DIR.
TEST_FILES = ("conftest.py", "test_estimation.py", "test_utils.py")
#: The environment variable telling the plugin to alias lifetimes (unset with ``--real``).
ALIAS_VARIABLE = "CLVMODELS_LIFETIMES_ALIAS"
_REPOSITORY = Path(__file__).resolve().parent.parent


def pytest_configure(config) -> None:
    """pytest plugin hook: alias ``lifetimes`` to the compat layer before the tests import
    it (unless the run is against the real lifetimes)."""
    if os.environ.get(ALIAS_VARIABLE) == "1":
        from clvmodels.compat import install_lifetimes_alias

        config._clvmodels_lifetimes_alias = install_lifetimes_alias()


def copy_tests(source: Path, target: Path) -> list[str]:
    """Copy ``source`` (lifetimes' test files and the data they read by relative paths, such
    as ``lifetimes/datasets/example_transactions.csv``) into ``target``, with
    ``pandas.util.testing`` read as ``pandas.testing`` in the test files; the names of the
    test files found."""
    shutil.copytree(source, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc",
                                                  "pytest.ini", "setup.cfg", "tox.ini",
                                                  "pyproject.toml"))
    copied = []
    for name in TEST_FILES:
        path = target / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("pandas.util.testing", "pandas.testing"),
                            encoding="utf-8")
            if name.startswith("test_"):
                copied.append(name)
    # An empty configuration: the run must not pick up this repository's pytest options.
    (target / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return copied


def outcomes(report: Path) -> dict[str, list[str]]:
    """Test ids by outcome (passed, failed, errors, skipped) from a JUnit XML report."""
    result: dict[str, list[str]] = {"passed": [], "failed": [], "errors": [], "skipped": []}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None:
            result["failed"].append(name)
        elif case.find("error") is not None:
            result["errors"].append(name)
        elif case.find("skipped") is not None:
            result["skipped"].append(name)
        else:
            result["passed"].append(name)
    return result


def run(directory: Path, real: bool = False, extra: list[str] | None = None
        ) -> dict[str, list[str]]:
    """Run lifetimes' tests of ``directory`` (on the compat layer, or the real lifetimes)."""
    with tempfile.TemporaryDirectory(prefix="lifetimes_suite_") as temporary:
        target = Path(temporary)
        files = copy_tests(directory, target)
        if not files:
            raise SystemExit(f"no lifetimes test files ({', '.join(TEST_FILES[1:])}) in "
                             f"{directory}")
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(_REPOSITORY), *filter(None, [environment.get("PYTHONPATH")])])
        environment[ALIAS_VARIABLE] = "0" if real else "1"
        report = target / "report.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "-p", "benchmarks.lifetimes_suite", "-c", str(target / "pytest.ini"),
                   "--rootdir", str(target), f"--junitxml={report}", *files, *(extra or [])]
        subprocess.run(command, cwd=target, env=environment, check=False,
                       stdout=subprocess.DEVNULL)
        if not report.exists():
            raise SystemExit("pytest wrote no report: " + " ".join(command))
        return outcomes(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lifetimes_suite",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="directory holding lifetimes' tests")
    parser.add_argument("--real", action="store_true",
                        help="run against the real lifetimes instead of the compat layer")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    options = parser.parse_args(argv)
    if not options.directory.is_dir():
        parser.error(f"{options.directory} is not a directory")
    result = run(options.directory, options.real, options.pytest_args)
    target = "the real lifetimes" if options.real else "clvmodels.compat.lifetimes"
    total = sum(len(names) for names in result.values())
    print(f"lifetimes' tests on {target}: {len(result['passed'])} passed, "
          f"{len(result['failed'])} failed, {len(result['errors'])} errors, "
          f"{len(result['skipped'])} skipped (of {total})")
    for outcome in ("failed", "errors"):
        for name in result[outcome]:
            print(f"  {outcome[:-1] if outcome == 'errors' else 'failed'}: {name}")
    return 0 if not (result["failed"] or result["errors"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
