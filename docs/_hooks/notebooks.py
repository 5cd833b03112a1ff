"""MkDocs hook: the notebooks under ``notebooks/`` become pages ``notebooks/<name>.ipynb``.

The notebooks stay where the test suite runs them (nbmake); the site reads them from there, so
there is no copy under ``docs/`` to keep in step. Each is added as a file whose source
directory is the repository root (its path ``notebooks/<name>.ipynb`` is then both where it is
and where it goes), before mkdocs-jupyter's ``on_files`` (a higher priority runs first), which
renders it as a page.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

REPOSITORY = Path(__file__).resolve().parents[2]


@event_priority(100)
def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add every ``notebooks/*.ipynb`` of the repository to the site's files."""
    for notebook in sorted((REPOSITORY / "notebooks").glob("*.ipynb")):
        files.append(File(f"notebooks/{notebook.name}", src_dir=str(REPOSITORY),
                          dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files
