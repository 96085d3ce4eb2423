"""The misattribution issue explorer as a Hugging Face Space.

Layout and wiring live in :mod:`misattribution.space_app`; this file only finds the package and a report.
``make space`` puts this file in a folder beside the package's wheel and a sample report bundle:

- the wheel: a Space installs ``requirements.txt`` before the rest of the folder is copied in, so the wheel
  cannot be one of its lines; it goes first on ``sys.path`` instead (extracted once to a temporary
  folder named after its hash). Without a wheel here (``space/`` in a clone), the installed package is used.
- the report: ``$MISATTRIBUTION_BUNDLE`` (a bundle folder or zip) when set, else ``sample_bundle/`` beside
  this file, else the package's own sample with rule-based issues.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE_BUNDLE = HERE / "sample_bundle"
BUNDLE_ENV = "MISATTRIBUTION_BUNDLE"
MAX_UPLOAD_MB = 200


def use_bundled_wheel(folder: Path = HERE) -> Path | None:
    """Put the ``misattribution`` wheel found in ``folder`` first on ``sys.path``; return it (or ``None``)."""
    wheels = sorted(folder.glob("misattribution-*.whl"))
    if not wheels:
        return None
    wheel = wheels[-1]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"misattribution-wheel-{digest}"
    if not (target / "misattribution" / "__init__.py").is_file():
        staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=target.parent))
        with zipfile.ZipFile(wheel) as archive:  # our own wheel, built by scripts/build_space.py
            archive.extractall(staging)
        try:
            staging.rename(target)
        except OSError:  # another replica extracted it first
            shutil.rmtree(staging, ignore_errors=True)
    sys.path.insert(0, str(target))
    return wheel


def load_report(bundle: str | Path | None = None):
    """The report the page opens on (see the module docstring)."""
    bundle = bundle or os.environ.get(BUNDLE_ENV) or (SAMPLE_BUNDLE if SAMPLE_BUNDLE.is_dir() else None)
    if bundle is not None:
        from misattribution.space_app import load_bundle

        return load_bundle(bundle)
    from misattribution.uploads import load_sample_report

    return load_sample_report().report


def build(bundle: str | Path | None = None):
    """The Space's ``gr.Blocks`` opened on :func:`load_report` (not launched)."""
    from misattribution.space_app import build_app

    return build_app(load_report(bundle), max_upload_mb=MAX_UPLOAD_MB)


use_bundled_wheel()
demo = build()

if __name__ == "__main__":
    # No run history: Gradio would copy every event's inputs and outputs into each visitor's localStorage.
    demo.queue(default_concurrency_limit=4).launch(max_file_size=f"{MAX_UPLOAD_MB}mb", run_history=False)
