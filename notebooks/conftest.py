"""Run the notebooks (collected by nbmake) in a kernel of the interpreter running pytest.

A "python3" kernel spec found first on the Jupyter path (e.g. in ~/.local/share/jupyter) may
point at another Python, without clvmodels or with another version of it. A spec written here
and put first on JUPYTER_PATH makes the kernel this interpreter, in a CI venv as in a dev one.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

_KERNEL_DIR = Path(tempfile.mkdtemp(prefix="clvmodels-jupyter-"))
atexit.register(shutil.rmtree, _KERNEL_DIR, ignore_errors=True)
_SPEC = _KERNEL_DIR / "kernels" / "python3" / "kernel.json"
_SPEC.parent.mkdir(parents=True)
_SPEC.write_text(json.dumps({
    "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
    "display_name": f"Python {sys.version_info.major}.{sys.version_info.minor} (pytest)",
    "language": "python",
}))
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    filter(None, [str(_KERNEL_DIR), os.environ.get("JUPYTER_PATH")])
)
