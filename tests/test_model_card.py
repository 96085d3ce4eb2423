"""The judge's model card: rendered from a run's numbers and config, parsed back by huggingface_hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from misattribution import render_target
from misattribution.model_card import (
    CARD_METRICS,
    eval_results,
    render_model_card,
    render_run_card,
    repo_files,
    stage_model_repo,
    training_hyperparameters,
)
from misattribution.training import write_metrics

ROOT = Path(__file__).resolve().parents[1]
METRICS = {
    "n": 120,
    "parse_rate": 0.975,
    "pearson": 0.8123,
    "pearson_ci_low": 0.75,
    "pearson_ci_high": 0.86,
    "spearman": 0.7911,
    "kendall": 0.7012,
    "detection_precision": 0.9,
    "detection_recall": 0.8571428571428571,
    "micro_f1": 0.6543,
    "macro_f1": 0.5,
    "settings": {"taxonomy": "attridata-v1", "language": "auto", "order": ["feedback", "misattribution", "score"]},
}
RECIPE = {
    "model_name_or_path": "Qwen/Qwen2.5-7B-Instruct",
    "dataset_name": "my-org/AttriData",
    "learning_rate": 1e-4,
    "warmup_steps": 0.1,
    "num_train_epochs": 2,
    "per_device_train_batch_size": 1,
    "gradient_accumulation_steps": 2,
    "bf16": True,
    "use_peft": False,
    "lora_r": 64,
}


def _card(tmp_path, **kwargs):
    card = render_model_card(
        kwargs.pop("metrics", METRICS),
        repo_id="my-org/judge",
        base_model="Qwen/Qwen2.5-7B-Instruct",
        dataset_id="my-org/AttriData",
        configs=[{**RECIPE, "world_size": 8}],
        **kwargs,
    )
    card.save(tmp_path / "README.md")
    return ModelCard.load(tmp_path / "README.md")


def test_the_model_index_parses_back_to_the_same_numbers(tmp_path):
    card = _card(tmp_path)
    results = {r.metric_type: r for r in card.data.eval_results}
    assert set(results) == set(CARD_METRICS)
    for key, result in results.items():
        assert result.metric_value == METRICS[key]
        assert (result.dataset_type, result.dataset_name, result.dataset_split) == (
            "my-org/AttriData",
            "AttriData",
            "test",
        )
        assert result.task_type == "text-generation"
    assert card.data.model_name == "judge"
    assert card.data.base_model == "Qwen/Qwen2.5-7B-Instruct" and card.data.datasets == ["my-org/AttriData"]
    assert card.data.library_name == "transformers" and "llm-as-a-judge" in card.data.tags
    assert "model-index" in card.content.split("---")[1]


def test_the_card_shows_the_numbers_the_format_and_the_run(tmp_path):
    text = _card(tmp_path).text
    assert "| Pearson r | score | 0.812 | [0.750, 0.860] |" in text
    assert "| Category micro-F1 | misattribution | 0.654 |" in text
    assert 'evaluate.load("misattribution", "my-org/judge")' in text
    assert "misattribution judge rows.jsonl --model my-org/judge" in text
    target = render_target("3 x 4 is 12 and 12 + 2 is 14, so the answer 16 is wrong.", ["result_error"], 1)
    assert target in text  # the example is the core's rendering
    assert "### Reference answer\n14" in text  # and so is the prompt
    assert "| learning rate | `0.0001` |" in text and "| effective batch size | `16` |" in text
    assert "LoRA r" not in text  # LoRA settings only for LoRA runs
    assert "## Limitations" in text and "@article{xu2025diagnosing" in text


def test_an_ablation_card_shows_the_ablation_format(tmp_path):
    metrics = {k: v for k, v in METRICS.items() if k not in ("detection_precision", "detection_recall", "micro_f1")}
    card = _card(tmp_path, metrics=metrics, order="feedback,score")
    assert {r.metric_type for r in card.data.eval_results} == {"pearson", "spearman", "kendall", "parse_rate"}
    assert "Feedback: 3 x 4 is 12 and 12 + 2 is 14, so the answer 16 is wrong.\nScore: 1" in card.text
    assert "the ablation without misattribution" in card.text
    assert "fields=['feedback', 'score']" in card.text


def test_a_card_without_an_evaluation_has_no_model_index(tmp_path):
    card = _card(tmp_path, metrics=None)
    assert card.data.eval_results is None
    assert "not evaluated" in card.text
    assert eval_results(None) == []


def test_hyperparameters_come_from_config_objects():
    from trl import ModelConfig, SFTConfig

    training = SFTConfig(output_dir="out", use_cpu=True, learning_rate=2e-4, gradient_accumulation_steps=4)
    model = ModelConfig(model_name_or_path="Qwen/Qwen2.5-7B-Instruct", use_peft=True, lora_r=16)
    table = training_hyperparameters([training, model])
    assert table["learning rate"] == 2e-4 and table["LoRA r"] == 16 and table["LoRA"] is True
    assert table["effective batch size"] == training.per_device_train_batch_size * 4 * training.world_size
    with pytest.raises(TypeError):
        training_hyperparameters(["not a config"])


def _fake_run(folder: Path) -> Path:
    """A training output folder as TRL leaves it, with files that must not be published."""
    folder.mkdir()
    for name in (
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
    ):
        (folder / name).write_text("{}")
    (folder / "model-00001-of-00002.safetensors").write_bytes(b"a")
    (folder / "model-00002-of-00002.safetensors").write_bytes(b"b")
    (folder / "model.safetensors.index.json").write_text("{}")
    (folder / "training_args.bin").write_bytes(b"pickle")
    (folder / "judge_predictions.jsonl").write_text("{}\n")
    (folder / "checkpoint-10").mkdir()
    (folder / "checkpoint-10" / "optimizer.pt").write_bytes(b"state")
    write_metrics(METRICS, folder / "judge_metrics.json")
    return folder


def test_repo_files_publish_weights_tokenizer_and_metrics_only(tmp_path):
    run = _fake_run(tmp_path / "run")
    names = repo_files(run)
    assert "model-00001-of-00002.safetensors" in names and "judge_metrics.json" in names
    assert not {"training_args.bin", "judge_predictions.jsonl", "checkpoint-10"} & set(names)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no weights"):
        repo_files(tmp_path / "empty")
    staged = stage_model_repo(run, _card(tmp_path), tmp_path / "staged")
    assert sorted(p.name for p in staged.iterdir()) == sorted([*names, "README.md"])


def test_push_model_dry_run_writes_the_exact_layout_and_never_prints_the_token(tmp_path):
    run = _fake_run(tmp_path / "run")
    (run / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "Qwen/Qwen2.5-7B-Instruct"}))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("model_name_or_path: Qwen/Qwen2.5-7B-Instruct\nlearning_rate: 0.0002\nuse_peft: true\n")
    secret = "hf_" + "x" * 34
    env = {**os.environ, "HF_TOKEN": secret, "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "repo"
    command = [sys.executable, "scripts/push_model.py", str(run), "--repo-id", "my-org/judge", "--recipe", str(recipe)]
    done = subprocess.run([*command, "--dry-run", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([*repo_files(run), "README.md"])
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "peft" and card.data.base_model == "Qwen/Qwen2.5-7B-Instruct"
    assert {r.metric_type: r.metric_value for r in card.data.eval_results}["pearson"] == METRICS["pearson"]
    assert 'evaluate.load("misattribution", "my-org/judge")' in card.text
    assert card.text == render_run_card(run, repo_id="my-org/judge", recipe=recipe).text
