"""Make ``evaluate.load("misattribution")`` work for an installed user, offline included.

``evaluate`` resolves a bare name to ``./misattribution/misattribution.py``, then to the Hub Spaces
``evaluate-metric/misattribution`` (and the other module types), and when those fail, to the newest
copy in its modules cache::

    $HF_MODULES_CACHE/evaluate_modules/metrics/evaluate-metric--misattribution/<hash>/misattribution.py

:func:`install_metric` writes the metric script shipped inside this package into that cache slot,
the way ``evaluate`` itself would after a download, so the bare name resolves without the Hub.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from pathlib import Path

METRIC_NAME = "misattribution"


def metric_script() -> Path:
    """The metric script shipped with the package."""
    return Path(str(resources.files("misattribution") / "metric_module" / f"{METRIC_NAME}.py"))


def _modules_root(modules_cache: str | Path | None) -> Path:
    if modules_cache is not None:
        return Path(modules_cache)
    import evaluate.config

    return Path(os.environ.get("HF_MODULES_CACHE", evaluate.config.HF_MODULES_CACHE))


def install_metric(modules_cache: str | Path | None = None) -> Path:
    """Install the metric into ``evaluate``'s modules cache and return the installed file.

    Args:
        modules_cache: the ``HF_MODULES_CACHE`` folder (default: ``evaluate``'s, which follows
            ``HF_MODULES_CACHE`` and ``HF_HOME``).

    Installing again after an upgrade adds the new version beside the old one; ``evaluate`` takes
    the most recently written.
    """
    from evaluate.loading import files_to_hash

    script = metric_script()
    digest = files_to_hash([str(script)])  # the same 64-hex folder name evaluate would use
    root = _modules_root(modules_cache) / "evaluate_modules"
    module_dir = root / "metrics" / f"evaluate-metric--{METRIC_NAME}"
    target_dir = module_dir / digest
    target_dir.mkdir(parents=True, exist_ok=True)
    for folder in (root, root / "metrics", module_dir, target_dir):
        (folder / "__init__.py").touch(exist_ok=True)
    target = target_dir / f"{METRIC_NAME}.py"
    shutil.copyfile(script, target)
    os.utime(target)  # newest copy wins when several versions are cached
    meta = {"original file path": str(script), "local file path": str(target)}
    (target_dir / f"{METRIC_NAME}.json").write_text(json.dumps(meta), encoding="utf-8")
    return target
