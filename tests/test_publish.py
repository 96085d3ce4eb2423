"""Publishing AttriData: the dry-run repository, load_dataset round trips, and a token that never leaks."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import datasets
import huggingface_hub
import pytest
from attridata_small import AGREEMENT, REPO_ID, build_attridata
from datasets.arrow_dataset import PUSH_TO_HUB_WITHOUT_METADATA_CONFIGS_SPLIT_PATTERN_SHARDED
from datasets.utils.py_utils import glob_pattern_to_regex

from misattribution.cards import render_dataset_card
from misattribution.data import publish
from misattribution.data.publish import PublishError, load_built_dataset, push_dataset, shard_paths

ROOT = Path(__file__).resolve().parents[1]
FAKE_TOKEN = "hf_FakeToken0123456789abcdefSECRET"


@pytest.fixture(scope="module")
def attridata():
    return build_attridata()


@pytest.fixture(scope="module")
def card(attridata):
    return render_dataset_card(attridata, AGREEMENT, repo_id=REPO_ID)


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def load_repo(folder: Path, cache: Path):
    return datasets.load_dataset(str(folder), cache_dir=str(cache))


def assert_same(loaded, expected) -> None:
    assert list(loaded) == list(expected)
    for split in expected:
        assert loaded[split].features == expected[split].features
        assert loaded[split].to_list() == expected[split].to_list()


# -- dry run ----------------------------------------------------------------------------------------
def test_dry_run_writes_the_hub_layout_and_loads_back(attridata, card, tmp_path):
    repo = tmp_path / "repo"
    assert push_dataset(attridata, card, REPO_ID, dry_run_dir=repo) == repo
    assert files_under(repo) == {
        "README.md",
        "data/train-00000-of-00001.parquet",
        "data/test-00000-of-00001.parquet",
    }
    assert shard_paths(attridata) == {
        "train": ["data/train-00000-of-00001.parquet"],
        "test": ["data/test-00000-of-00001.parquet"],
    }
    assert (repo / "README.md").read_text(encoding="utf-8") == str(card)
    assert_same(load_repo(repo, tmp_path / "cache"), attridata)


def test_shards_are_named_as_push_to_hub_names_them(attridata, card, tmp_path):
    repo = tmp_path / "repo"
    push_dataset(attridata, card, REPO_ID, dry_run_dir=repo, max_shard_size=400)
    names = sorted(files_under(repo / "data"))
    assert len(names) > 2, "a tiny max_shard_size must split the data"
    for name in names:
        split = name.split("-", 1)[0]
        pattern = PUSH_TO_HUB_WITHOUT_METADATA_CONFIGS_SPLIT_PATTERN_SHARDED.replace("{split}", split)
        assert re.fullmatch(glob_pattern_to_regex(pattern), f"data/{name}"), name
    assert sorted(f"data/{n}" for n in names) == sorted(
        p for paths in shard_paths(attridata, 400).values() for p in paths
    )
    assert_same(load_repo(repo, tmp_path / "cache"), attridata)  # shards are read back in order


def test_a_non_empty_folder_is_not_overwritten_without_consent(attridata, card, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        push_dataset(attridata, card, REPO_ID, dry_run_dir=repo)
    assert files_under(repo) == {"notes.txt"}

    (repo / "data").mkdir()
    (repo / "data" / "train-00001-of-00002.parquet").write_bytes(b"stale shard")
    push_dataset(attridata, card, REPO_ID, dry_run_dir=repo, overwrite=True)
    assert files_under(repo) == {
        "notes.txt",
        "README.md",
        "data/train-00000-of-00001.parquet",
        "data/test-00000-of-00001.parquet",
    }
    assert_same(load_repo(repo, tmp_path / "cache"), attridata)


def test_a_card_for_other_splits_is_refused(attridata, card, tmp_path):
    only_train = datasets.DatasetDict({"train": attridata["train"]})
    with pytest.raises(ValueError, match="splits"):
        push_dataset(only_train, card, REPO_ID, dry_run_dir=tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


# -- the token --------------------------------------------------------------------------------------
class EchoingHub(BaseHTTPRequestHandler):
    """A hostile Hub: every request fails with 401 and an error message that quotes the token."""

    seen: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        self.seen.append(auth)
        body = json.dumps({"error": f"Invalid credentials in Authorization header: {auth}"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def echoing_hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingHub)
    EchoingHub.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def all_logs(caplog):
    """Capture every record of our, datasets' and huggingface_hub's loggers (they do not propagate)."""
    loggers = [logging.getLogger(name) for name in ("misattribution", "datasets", "huggingface_hub")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(caplog.handler)
        lg.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    yield caplog
    for lg, level in zip(loggers, levels):
        lg.removeHandler(caplog.handler)
        lg.setLevel(level)


def _assert_no_token(error: BaseException, all_logs, capsys) -> None:
    rendered = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    out, err = capsys.readouterr()
    for where, text in {"error": str(error), "repr": repr(error), "traceback": rendered, "logs": all_logs.text}.items():
        assert FAKE_TOKEN not in text, where
    assert FAKE_TOKEN not in out and FAKE_TOKEN not in err


@pytest.mark.parametrize("source", ["argument", "HF_TOKEN"])
def test_the_token_never_leaks_when_the_hub_echoes_it(
    attridata, card, echoing_hub, monkeypatch, all_logs, capsys, source
):
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", echoing_hub)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", echoing_hub)
    # CI runs with HF_HUB_OFFLINE=1 (read at import): this test talks to a loopback fake Hub on purpose.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN if source == "HF_TOKEN" else "hf_unused")
    token = FAKE_TOKEN if source == "argument" else None
    with pytest.raises(PublishError) as caught:
        push_dataset(attridata, card, REPO_ID, token=token)
    assert f"Bearer {FAKE_TOKEN}" in EchoingHub.seen, "the fake Hub must have been sent the token"
    assert "***" in str(caught.value) and "401" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    _assert_no_token(caught.value, all_logs, capsys)


def test_the_token_never_leaks_offline(attridata, card, monkeypatch, all_logs, capsys):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(huggingface_hub.errors.OfflineModeIsEnabled) as caught:
        push_dataset(attridata, card, REPO_ID, token=FAKE_TOKEN)
    _assert_no_token(caught.value, all_logs, capsys)


def test_token_precedence_and_a_missing_token(attridata, card, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_from_login")
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert publish._resolve_token("hf_arg") == ("hf_arg", "the token argument")
    assert publish._resolve_token(None) == ("hf_from_env", "HF_TOKEN")
    monkeypatch.delenv("HF_TOKEN")
    assert publish._resolve_token(None) == ("hf_from_login", "the huggingface_hub login")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(PublishError, match="no Hugging Face token"):
        push_dataset(attridata, card, REPO_ID)


# -- the script -------------------------------------------------------------------------------------
def _script():
    spec = importlib.util.spec_from_file_location("push_dataset_script", ROOT / "scripts" / "push_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def built(attridata, tmp_path) -> Path:
    """What the builder writes: data/<split>.parquet and agreement.json."""
    out = tmp_path / "built"
    (out / "data").mkdir(parents=True)
    for split, part in attridata.items():
        part.to_parquet(str(out / "data" / f"{split}.parquet"))
    (out / "agreement.json").write_text(json.dumps(AGREEMENT), encoding="utf-8")
    return out


def test_load_built_dataset_reads_the_builder_output(attridata, built):
    dataset, agreement = load_built_dataset(built)
    assert_same(dataset, attridata)
    assert agreement["score_kappa"] == AGREEMENT["score_kappa"]
    files = [built / "data" / "test.parquet", built / "data" / "train.parquet"]
    dataset, agreement = load_built_dataset(files, taxonomy="attridata-v1")
    assert_same(dataset, attridata)  # split order is train, test whatever the order of the files
    assert agreement is None


def test_script_dry_run_round_trips(attridata, built, tmp_path, capsys):
    repo = tmp_path / "repo"
    assert _script().main([REPO_ID, "--data", str(built), "--dry-run", str(repo)]) == 0
    assert "wrote test-org/attridata-sample (train 8, test 4 rows)" in capsys.readouterr().out
    assert_same(load_repo(repo, tmp_path / "cache"), attridata)
    assert "0.812" in (repo / "README.md").read_text(encoding="utf-8")  # the agreement.json made it in

    assert _script().main([REPO_ID, "--data", str(built), "--dry-run", str(repo)]) == 2
    assert "overwrite" in capsys.readouterr().err


def test_script_push_fails_without_printing_the_token(built, echoing_hub, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}  # CI sets HF_HUB_OFFLINE=1
    env.update(HF_TOKEN=FAKE_TOKEN, HF_ENDPOINT=echoing_hub, HF_HOME=str(tmp_path / "hf"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "push_dataset.py"), REPO_ID, "--data", str(built)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 1, done.stderr
    assert f"Bearer {FAKE_TOKEN}" in EchoingHub.seen
    assert "PublishError" in done.stderr and "***" in done.stderr
    assert FAKE_TOKEN not in done.stdout + done.stderr
