"""The ```python blocks of README.md and of every page under docs/ run, one test per block.

How a block is run:

- README.md: each block alone, in a fresh namespace (a reader copies one snippet, e.g. the
  Spark one; a name defined only in another snippet, or nowhere, would be a NameError for
  them), so every README block must also define every name it uses (checked statically for
  every block, executed or not).
- A docs page builds on itself: its blocks run in order in one namespace, so a block may use
  what an earlier block of the page defined.
- Every page runs in its own temporary working directory (files a block writes, e.g.
  ``model.save("bgnbd.json")``, land there and later blocks of the page can read them).

A block that cannot run here says so right above it, for the reader too, with an HTML comment
(invisible on GitHub and on the site) giving the reason::

    <!-- not executed: needs a Spark cluster and S3 -->

Such a block is parsed, and every name it uses must be defined by it or (on a docs page) by
an earlier executed block. A block too slow for the default run (a Bayesian fit) is marked::

    <!-- slow: a NUTS fit, about a minute -->

and runs under ``pytest -m slow``. Neither kind feeds the namespace of later blocks: what a
later executed block needs must come from executed blocks.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # the plotting examples draw on no screen

import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

REPOSITORY = Path(__file__).resolve().parents[1]
README = REPOSITORY / "README.md"
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<language>[\w+-]*)")
HEADING = re.compile(r"^#{1,6} (?P<title>.+?)\s*#*\s*$")
ANNOTATION = re.compile(r"^\s*<!--\s*(?P<kind>not executed|slow)\s*:\s*(?P<reason>.*?)\s*-->\s*$")
# A line that starts like an annotation: a misspelt one must not silently run the block (an
# annotation quoted inside a sentence, as in the README, is not one).
ANNOTATION_LIKE = re.compile(r"^\s*<!--\s*(not[ -]?exec|no[ -]?exec|skip|slow)", re.IGNORECASE)


@dataclass(frozen=True)
class Block:
    """One ```python block of a Markdown page."""

    page: Path
    index: int
    line: int
    heading: str
    code: str
    not_executed: str | None = None
    slow: str | None = None

    @property
    def standalone(self) -> bool:
        """README blocks run alone; a docs page's blocks share one namespace."""
        return self.page == README

    @property
    def feeds_later_blocks(self) -> bool:
        return not self.standalone and self.not_executed is None and self.slow is None

    @property
    def label(self) -> str:
        return f"{self.page.relative_to(REPOSITORY)}:{self.line}"


@dataclass
class Annotated:
    """The blocks of one page and the annotations that precede no block (mistakes)."""

    blocks: list[Block] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)


def parse_page(page: Path) -> Annotated:
    """The ```python blocks of ``page`` with their annotations, headings and line numbers."""
    lines = page.read_text(encoding="utf-8").splitlines()
    result = Annotated()
    heading = page.stem
    pending: tuple[str, str, int] | None = None  # (kind, reason, line) of an annotation
    number = 0
    while number < len(lines):
        line = lines[number]
        fence = FENCE.match(line)
        if fence is None:
            if (title := HEADING.match(line)) is not None:
                heading = title["title"]
            if (annotation := ANNOTATION.match(line)) is not None:
                if pending is not None:
                    result.orphans.append(f"{page.name}:{pending[2]}")
                pending = (annotation["kind"], annotation["reason"], number + 1)
            elif ANNOTATION_LIKE.search(line):
                result.orphans.append(f"{page.name}:{number + 1} (not understood: {line.strip()})")
            elif line.strip() and pending is not None:
                result.orphans.append(f"{page.name}:{pending[2]}")
                pending = None
            number += 1
            continue
        # A fenced block: find its end (the same fence, at most as indented).
        indent, marker = len(fence["indent"]), fence["fence"]
        end = number + 1
        while end < len(lines) and not lines[end].strip().startswith(marker):
            end += 1
        body = "\n".join(text[indent:] for text in lines[number + 1:end]) + "\n"
        if fence["language"] == "python":
            kind, reason = (pending[0], pending[1]) if pending is not None else (None, None)
            if kind is not None and not reason:
                result.orphans.append(f"{page.name}:{pending[2]} (no reason given)")
            result.blocks.append(Block(
                page=page, index=len(result.blocks), line=number + 1, heading=heading,
                code=body,
                not_executed=reason if kind == "not executed" else None,
                slow=reason if kind == "slow" else None,
            ))
        elif pending is not None:
            result.orphans.append(f"{page.name}:{pending[2]} (before a {fence['language']} block)")
        pending = None
        number = end + 1
    if pending is not None:
        result.orphans.append(f"{page.name}:{pending[2]}")
    return result


def pages() -> list[Path]:
    """README.md and every Markdown page of the documentation site."""
    return [README, *sorted((REPOSITORY / "docs").rglob("*.md"))]


PARSED = {page: parse_page(page) for page in pages()}
BLOCKS = [block for parsed in PARSED.values() for block in parsed.blocks]


def names_defined_and_used(code: str) -> tuple[set[str], set[str]]:
    """The names a block binds at any level and the names it reads."""
    tree = ast.parse(code)
    defined: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, (ast.Store, ast.Del)) else used).add(node.id)
    return defined, used


def undefined_names(block: Block) -> set[str]:
    """Names ``block`` reads that neither it nor the blocks it may build on define."""
    available = set(dir(builtins))
    if not block.standalone:
        for earlier in PARSED[block.page].blocks[:block.index]:
            if earlier.feeds_later_blocks:
                available |= names_defined_and_used(earlier.code)[0]
    defined, used = names_defined_and_used(block.code)
    return used - defined - available


@dataclass
class PageRun:
    """The namespace and working directory that a docs page's blocks share."""

    workdir: Path
    namespace: dict = field(default_factory=lambda: {"__name__": "__main__"})
    executed: set[int] = field(default_factory=set)


_RUNS: dict[Path, PageRun] = {}


def _execute(block: Block, namespace: dict) -> None:
    try:
        exec(compile(block.code, block.label, "exec"), namespace)  # noqa: S102 (the docs' code)
    finally:
        plt.close("all")


def _param(block: Block):
    marks = [pytest.mark.slow] if block.slow is not None else []
    return pytest.param(block, id=f"{block.label} {block.heading}", marks=marks)


@pytest.mark.parametrize("block", [_param(block) for block in BLOCKS])
def test_example_runs(block, tmp_path_factory, monkeypatch):
    if block.not_executed is not None:
        # Parsed (a syntax error fails here) and checked for names, not run.
        compile(block.code, block.label, "exec")
        assert undefined_names(block) == set()
        pytest.skip(f"not executed: {block.not_executed}")
    if block.standalone:
        monkeypatch.chdir(tmp_path_factory.mktemp("example"))
        _execute(block, {"__name__": "__main__"})
        return
    run = _RUNS.get(block.page)
    if run is None:
        run = _RUNS[block.page] = PageRun(workdir=tmp_path_factory.mktemp(block.page.stem))
    monkeypatch.chdir(run.workdir)
    # Run on its own (`-k`), a block still gets what the page's earlier blocks define.
    for earlier in PARSED[block.page].blocks[:block.index]:
        if earlier.feeds_later_blocks and earlier.index not in run.executed:
            _execute(earlier, run.namespace)
            run.executed.add(earlier.index)
    if block.feeds_later_blocks:
        _execute(block, run.namespace)
        run.executed.add(block.index)
    else:  # a slow block: what it defines is not for later blocks (they run without it)
        _execute(block, dict(run.namespace))


@pytest.mark.parametrize("block", [_param(block) for block in BLOCKS])
def test_example_defines_every_name_it_uses(block):
    assert undefined_names(block) == set(), block.label


def test_every_annotation_precedes_a_python_block():
    orphans = [orphan for parsed in PARSED.values() for orphan in parsed.orphans]
    assert orphans == []


def test_the_readme_spark_snippet_is_checked():
    spark = [block for block in PARSED[README].blocks if block.heading == "Spark"]
    assert len(spark) == 1
    assert spark[0].not_executed


def test_a_misspelt_annotation_is_refused(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n<!-- not-executed: S3 -->\n```python\nx = 1\n```\n"
                    "<!-- slow: a fit -->\n\nSome text.\n\n```python\ny = 2\n```\n")
    parsed = parse_page(page)
    assert [block.not_executed for block in parsed.blocks] == [None, None]
    assert len(parsed.orphans) == 2


def test_a_docs_page_block_may_use_an_earlier_executed_block(tmp_path):
    docs_page = REPOSITORY / "docs" / "example-page.md"  # a path only: nothing is written
    first = Block(page=docs_page, index=0, line=1, heading="h", code="rfm = 1\n")
    skipped = Block(page=docs_page, index=1, line=5, heading="h", code="fit = 2\n", slow="a fit")
    PARSED[docs_page] = Annotated(blocks=[first, skipped])
    try:
        later = Block(page=docs_page, index=2, line=9, heading="h", code="print(rfm, fit)\n")
        assert undefined_names(later) == {"fit"}
        readme_block = Block(page=README, index=0, line=1, heading="h", code="print(rfm)\n")
        assert undefined_names(readme_block) == {"rfm"}
    finally:
        del PARSED[docs_page]
