"""Build the deployable Space folder: ``python scripts/build_space.py [--out build/space]`` (``make space``).

The folder holds everything a fresh Hugging Face Space (Gradio SDK) needs and nothing unpublished:

- ``app.py``: :file:`space/app.py`, which makes the wheel beside it importable and opens the bundled report;
- ``misattribution-<version>-py3-none-any.whl``: this package, built from the working tree;
- ``requirements.txt``: what the wheel needs (its core requirements and the ``[space]`` extra), pinned to
  the versions installed where this script runs (the ones the tests ran with), all published on PyPI;
  torch as the CPU build from ``https://download.pytorch.org/whl/cpu`` (the PyPI wheel pulls CUDA: GBs);
- ``README.md``: :file:`space/README.md` with its Space YAML (``sdk_version`` = the installed gradio,
  ``python_version`` = this Python);
- ``sample_bundle/``: an issue report of the bundled attridata-sample (197 rows), found offline by
  ``discover`` (``clusters+rules`` by default, as ``make demo`` does), which ``app.py`` opens on.

Why the wheel is not a line of ``requirements.txt``: the Space builder installs the requirements in an image
layer where only ``requirements.txt`` is mounted (``RUN --mount=target=/tmp/requirements.txt,
source=requirements.txt pip install -r /tmp/requirements.txt ...``) and copies the rest of the folder in a
later layer, so a ``./misattribution-...whl`` line fails the build with "file not found". ``app.py`` puts
the wheel on ``sys.path`` itself (a pure-Python wheel is a zip of the installed files).

Push the folder with ``huggingface-cli upload OWNER/NAME build/space . --repo-type space`` or
``HfApi().upload_folder(folder_path="build/space", repo_id="OWNER/NAME", repo_type="space")``;
``--dry-run-upload OWNER/NAME`` prints what would be uploaded without touching the network.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "space"
DEFAULT_OUT = REPO / "build" / "space"
BUNDLE_DIR = "sample_bundle"
EXTRA = "space"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Files of the source tree the wheel is built from; everything else (tests, .venv, build/) stays out.
WHEEL_SOURCES = ("setup.py", "pyproject.toml", "README.md", "src")
SMALL_LIMIT = 10 * 1024**2  # the folder besides the wheel


@dataclass
class SpaceFolder:
    """What :func:`build_space` wrote."""

    path: Path
    wheel: Path
    requirements: list[str]
    total_bytes: int
    wheel_bytes: int

    @property
    def other_bytes(self) -> int:
        return self.total_bytes - self.wheel_bytes

    def summary(self) -> str:
        """The size line ``make space`` prints."""
        return (
            f"Space folder {self.path}: {_mb(self.total_bytes)} "
            f"(wheel {self.wheel.name} {_mb(self.wheel_bytes)}, everything else {_mb(self.other_bytes)})"
        )


# -- the wheel ----------------------------------------------------------------------------------------


def build_wheel(dest: Path) -> Path:
    """Build this package's wheel into ``dest`` from a copy of the sources (the checkout stays clean).

    Offline: ``pip wheel --no-deps --no-build-isolation`` with the setuptools of this environment.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="misattribution-wheel-") as tmp:
        source = Path(tmp) / "source"
        source.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        for name in WHEEL_SOURCES:
            path = REPO / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=ignore)
            else:
                shutil.copy2(path, source / name)
        built = Path(tmp) / "wheels"
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        subprocess.run([*command, "--wheel-dir", str(built), str(source)], check=True)
        (wheel,) = built.glob("misattribution-*.whl")
        return Path(shutil.copy2(wheel, dest / wheel.name))


def wheel_requirements(wheel: Path, extra: str = EXTRA) -> list[Requirement]:
    """The wheel's own requirements plus those of ``extra``, markers of the extra dropped."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        headers = Parser().parsestr(archive.read(name).decode("utf-8"))
    selected = []
    for line in headers.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.marker is None:
            selected.append(requirement)
        elif requirement.marker.evaluate({"extra": extra}) and not requirement.marker.evaluate({"extra": ""}):
            requirement.marker = None
            selected.append(requirement)
    return selected


# -- requirements.txt ---------------------------------------------------------------------------------


def pinned(requirement: Requirement) -> list[str]:
    """``requirement`` pinned to the installed version (the tested one) when that is a published release.

    torch becomes the CPU build on Linux (``2.13.0+cpu`` from the CPU index; the PyPI wheel pulls CUDA).
    A package missing here, or installed as a development or local build, keeps the wheel's range.
    """
    name = requirement.name
    try:
        installed = Version(metadata.version(name))
    except metadata.PackageNotFoundError:
        return [str(requirement)]
    release = Version(installed.public)
    if release.is_devrelease or not requirement.specifier.contains(release, prereleases=True):
        return [str(requirement)]
    if _canonical(name) == "torch":
        return [f'{name}=={release}+cpu; sys_platform == "linux"', f'{name}=={release}; sys_platform != "linux"']
    return [f"{name}=={release}"]


def space_requirements(wheel: Path) -> list[str]:
    """The lines of the Space's ``requirements.txt`` (options first, then one requirement per line)."""
    requirements = wheel_requirements(wheel)
    lines = []
    if any(_canonical(r.name) == "torch" for r in requirements):
        lines.append(f"--extra-index-url {TORCH_CPU_INDEX}")
    for requirement in sorted(requirements, key=lambda r: _canonical(r.name)):
        lines += pinned(requirement)
    return lines


def requirements_text(lines: list[str], wheel: Path) -> str:
    header = [
        "# Written by scripts/build_space.py (make space): everything the wheel beside this file needs",
        f"# ({wheel.name}: its requirements and the [space] extra),",
        "# pinned to the versions the tests ran with; all published on PyPI.",
        "# The wheel itself is not listed: the Space builder mounts only this file when it installs it;",
        "# app.py puts the wheel beside it on sys.path. torch comes as the CPU build (PyPI's pulls CUDA).",
    ]
    return "\n".join(header + lines) + "\n"


# -- README and the sample report ---------------------------------------------------------------------


def space_readme(template: str, gradio_version: str, python_version: str) -> str:
    """``template`` with its YAML header's ``sdk_version`` and ``python_version`` set."""
    match = re.match(r"---\n(.*?\n)---\n", template, flags=re.S)
    if match is None:
        raise ValueError("space/README.md: no YAML header between --- lines")
    header = [line for line in match.group(1).splitlines() if not line.startswith("python_version:")]
    header = [f"sdk_version: {gradio_version}" if line.startswith("sdk_version:") else line for line in header]
    at = next(i for i, line in enumerate(header) if line.startswith("sdk_version:")) + 1
    header.insert(at, f'python_version: "{python_version}"')
    return "---\n" + "\n".join(header) + "\n---\n" + template[match.end() :]


def sample_bundle(dest: Path, mode: str = "clusters+rules", seed: int = 0) -> Path:
    """Discovery on the bundled attridata-sample (train and test, 197 rows), offline, saved to ``dest``."""
    import pandas as pd

    from misattribution.data import load_sample
    from misattribution.discovery import discover

    dataset = load_sample()
    frame = pd.concat([dataset[split].to_pandas() for split in dataset], ignore_index=True)
    report = discover(frame, mode=mode, seed=seed, progress=False)
    report.meta["source"] = "attridata-sample"
    if dest.exists():
        shutil.rmtree(dest)
    return report.save(dest)


# -- the folder ---------------------------------------------------------------------------------------


def build_space(out: Path = DEFAULT_OUT, *, mode: str = "clusters+rules", seed: int = 0) -> SpaceFolder:
    """Write the Space folder to ``out`` (replacing an earlier build there) and return what it holds."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    wheel = build_wheel(out)
    lines = space_requirements(wheel)
    (out / "requirements.txt").write_text(requirements_text(lines, wheel), encoding="utf-8")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    readme = space_readme((TEMPLATE / "README.md").read_text(encoding="utf-8"), metadata.version("gradio"), python)
    (out / "README.md").write_text(readme, encoding="utf-8")
    shutil.copy2(TEMPLATE / "app.py", out / "app.py")
    sample_bundle(out / BUNDLE_DIR, mode=mode, seed=seed)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return SpaceFolder(out, wheel, lines, total, wheel.stat().st_size)


def dry_run_upload(folder: Path, repo_id: str) -> list[str]:
    """The files ``HfApi.upload_folder`` would send to the Space ``repo_id``; nothing leaves the machine."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    print(f"would upload {len(files)} files to https://huggingface.co/spaces/{repo_id}:")
    for name in files:
        print(f"  {name}")
    print(f'  HfApi().upload_folder(folder_path="{folder}", repo_id="{repo_id}", repo_type="space")')
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the folder to write (default build/space)")
    parser.add_argument("--mode", default="clusters+rules", help="discovery mode of the sample report")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dry-run-upload", metavar="OWNER/NAME", help="then list what an upload would send")
    args = parser.parse_args(argv)
    folder = build_space(args.out, mode=args.mode, seed=args.seed)
    print(folder.summary())
    if folder.other_bytes > SMALL_LIMIT:
        print(f"warning: the folder besides the wheel is over {_mb(SMALL_LIMIT)}", file=sys.stderr)
    if args.dry_run_upload:
        dry_run_upload(folder.path, args.dry_run_upload)
    return 0


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _mb(size: float) -> str:
    return f"{size / 1024**2:.1f} MB"


if __name__ == "__main__":
    sys.exit(main())
