"""The TRL recipes, for real on CPU: every YAML parses with the installed TRL, the tiny recipe trains
(full and LoRA) and its checkpoint judges, and ZeRO-3 shards the model over two CPU processes."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("trl", reason="the training extra is not installed: pip install -e '.[train]'")

from huggingface_hub import ModelCard  # noqa: E402
from trl import ModelConfig, SFTConfig, TrlParser  # noqa: E402

from misattribution import build_messages, parse_judgment  # noqa: E402
from misattribution.judges.base import SamplingParams  # noqa: E402
from misattribution.judges.transformers import TransformersJudge  # noqa: E402
from misattribution.training import read_metrics  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "trl_recipes"
TINY_RECIPE = RECIPES / "tiny" / "sft" / "config_cpu.yaml"
SFT_RECIPES = sorted(p for p in RECIPES.rglob("*.yaml") if "accelerate_configs" not in p.parts)
ACCELERATE_CONFIGS = sorted((RECIPES / "accelerate_configs").glob("*.yaml"))
QUESTION = ("What is 3 x 4 + 2?", "16", "14")


def _load_sft():
    """trl_recipes/sft.py as a module (it is a script, not part of the package)."""
    if "misattribution_sft_recipe" in sys.modules:
        return sys.modules["misattribution_sft_recipe"]
    spec = importlib.util.spec_from_file_location("misattribution_sft_recipe", RECIPES / "sft.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses with postponed annotations look their module up
    spec.loader.exec_module(module)
    return module


def _parse(recipe: Path, *extra: str):
    sft = _load_sft()
    parser = TrlParser((sft.AttriDataArguments, SFTConfig, ModelConfig))
    return parser.parse_args_and_config(["--config", str(recipe), *extra])


def _cpu_overrides(recipe: Path) -> list[str]:
    """GPU recipes ask for bf16, which SFTConfig refuses on a machine without a GPU unless use_cpu is set."""
    config = yaml.safe_load(recipe.read_text())
    return [] if config.get("use_cpu") or torch.cuda.is_available() else ["--use_cpu", "true"]


# -- every recipe parses with the real parsers ----------------------------------------------------


def test_the_expected_recipes_exist():
    names = {str(p.relative_to(RECIPES)) for p in SFT_RECIPES}
    assert {
        "qwen2.5-7b/sft/config_full.yaml",
        "qwen2.5-7b/sft/config_lora.yaml",
        "qwen2.5-7b/sft/config_qlora.yaml",
        "tiny/sft/config_cpu.yaml",
    } <= names
    assert {p.name for p in ACCELERATE_CONFIGS} >= {
        "zero3.yaml",
        "zero3_cpu.yaml",
        "multi_gpu.yaml",
        "single_gpu.yaml",
        "multi_node.yaml",
    }


@pytest.mark.parametrize("recipe", SFT_RECIPES, ids=lambda p: str(p.relative_to(RECIPES)))
def test_every_recipe_parses_with_the_installed_trl(recipe):
    # fail_with_unknown_args defaults to True: a key TRL no longer knows (max_seq_length) raises here.
    script_args, training_args, model_args = _parse(recipe, *_cpu_overrides(recipe))
    config = yaml.safe_load(recipe.read_text())
    assert model_args.model_name_or_path == config["model_name_or_path"]
    assert training_args.assistant_only_loss is True
    assert script_args.output_order == config["output_order"]
    for key in ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size", "max_length"):
        if key in config:
            assert getattr(training_args, key) == config[key], key


def test_the_paper_recipe_holds_the_papers_settings():
    full, qlora_recipe = RECIPES / "qwen2.5-7b/sft/config_full.yaml", RECIPES / "qwen2.5-7b/sft/config_qlora.yaml"
    config = yaml.safe_load(full.read_text())
    _, training_args, model_args = _parse(full, *_cpu_overrides(full))
    assert training_args.learning_rate == 1e-4 and training_args.warmup_steps == 0.1
    assert training_args.num_train_epochs == 2 and training_args.bf16 and training_args.optim.startswith("adamw")
    # effective batch 16 on the 8 processes the launch line in the recipe uses
    launch = re.search(r"--num_processes (\d+)", full.read_text())
    processes = int(launch.group(1))
    assert config["per_device_train_batch_size"] * config["gradient_accumulation_steps"] * processes == 16
    assert not model_args.use_peft
    _, _, qlora = _parse(qlora_recipe, *_cpu_overrides(qlora_recipe))
    assert qlora.load_in_4bit and qlora.use_peft


def test_a_stale_key_is_refused(tmp_path):
    stale = tmp_path / "stale.yaml"
    stale.write_text(TINY_RECIPE.read_text() + "max_seq_length: 1024\n")
    with pytest.raises(ValueError, match="max_seq_length"):
        _parse(stale)


@pytest.mark.parametrize("config", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_every_accelerate_config_parses_with_accelerate(config):
    from accelerate.commands.config.config_args import ClusterConfig

    parsed = ClusterConfig.from_yaml_file(str(config))  # raises on unknown keys
    deepspeed_file = (parsed.deepspeed_config or {}).get("deepspeed_config_file")
    if deepspeed_file:
        assert "mixed_precision" not in yaml.safe_load(config.read_text())  # it clashes with the DeepSpeed file
        ds = json.loads((ROOT / deepspeed_file).read_text())
        assert ds["zero_optimization"]["stage"] == 3
        assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_the_documented_paths_exist():
    """Every trl_recipes/... path named in the script, the README and the recipes' comments exists."""
    texts = [RECIPES / "sft.py", RECIPES / "README.md", *SFT_RECIPES, *ACCELERATE_CONFIGS]
    named = {m for path in texts for m in re.findall(r"trl_recipes/[\w./-]+\.(?:yaml|py|jinja|json)", path.read_text())}
    assert named
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, missing


def test_ablation_and_permutations_are_one_option():
    script_args, _, _ = _parse(TINY_RECIPE, "--output_order", "feedback,score")
    assert script_args.output_order == "feedback,score"
    script_args, _, _ = _parse(TINY_RECIPE, "--output_order", "score,misattribution,feedback")
    assert script_args.output_order == "score,misattribution,feedback"
    with pytest.raises(ValueError, match="output order"):
        _parse(TINY_RECIPE, "--output_order", "feedback,verdict")


# -- the tiny recipe trains for real --------------------------------------------------------------


@pytest.fixture(scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train(tiny_model_dir, output_dir, *extra):
    sft = _load_sft()
    args = _parse(TINY_RECIPE, "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(output_dir), *extra)
    return sft.main(*args)


@pytest.fixture(scope="module")
def full_run(tiny_model_dir, tmp_path_factory, one_torch_thread):
    output_dir = tmp_path_factory.mktemp("tiny_sft")
    trainer = _train(tiny_model_dir, output_dir)
    return trainer, output_dir


def test_tiny_recipe_loss_decreases(full_run):
    trainer, _ = full_run
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == trainer.state.max_steps == 8
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.3, losses


def test_tiny_recipe_trains_on_the_judgment_only(full_run):
    trainer, _ = full_run
    tokenizer = trainer.processing_class
    batch = next(iter(trainer.get_train_dataloader()))
    for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist()):
        trained = [i for i, (token, label) in enumerate(zip(ids, labels)) if label != -100]
        assert trained, "no assistant token is trained"
        start, end = trained[0], trained[-1]
        assert trained == list(range(start, end + 1)), "the trained tokens are not one span"
        assert all(labels[i] == ids[i] for i in trained)
        prompt = tokenizer.decode(ids[:start], skip_special_tokens=False)
        judgment = tokenizer.decode(ids[start : end + 1], skip_special_tokens=False)
        assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
        assert judgment.startswith(("Feedback: ", "反馈：")) and judgment.endswith("<|im_end|>")
        assert re.search(r"(Score: |分数：)\d<\|im_end\|>$", judgment)


def test_tiny_checkpoint_reloads_into_the_judge_and_judges(full_run):
    _, output_dir = full_run
    judge = TransformersJudge(str(output_dir), sampling=SamplingParams(greedy=True, max_new_tokens=16), device="cpu")
    texts = judge.generate([build_messages(*QUESTION, language="en"), build_messages("3 乘 4？", "12", language="zh")])
    assert all(isinstance(text, str) for text in texts)
    statuses = [parse_judgment(text).status for text in texts]
    assert set(statuses) <= {"ok", "partial", "failed"}


def test_tiny_run_writes_metrics_and_a_card_that_parses_back(full_run):
    _, output_dir = full_run
    metrics = read_metrics(output_dir / "judge_metrics.json")
    assert metrics["n"] == 4 and metrics["settings"]["subset_size"] == 4
    assert sum(metrics[f"n_{s}"] for s in ("ok", "partial", "failed", "error")) == 4
    assert 0.0 <= metrics["parse_rate"] <= 1.0
    predictions = (output_dir / "judge_predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 4
    card = ModelCard.load(output_dir / "README.md")
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values["parse_rate"] == metrics["parse_rate"]
    assert all(values[key] == metrics[key] for key in values)
    assert 'evaluate.load("misattribution"' in card.text


def test_tiny_lora_run_saves_an_adapter_that_loads_with_peft_and_judges(tiny_model_dir, tmp_path, one_torch_thread):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    output_dir = tmp_path / "lora"
    _train(
        tiny_model_dir,
        output_dir,
        "--use_peft",
        "true",
        "--lora_r",
        "8",
        "--lora_alpha",
        "16",
        "--lora_target_modules",
        "all-linear",
        "--max_steps",
        "3",
        "--eval_subset_size",
        "1",
        "--eval_max_new_tokens",
        "8",
    )
    assert (output_dir / "adapter_config.json").is_file() and (output_dir / "adapter_model.safetensors").is_file()
    assert not (output_dir / "model.safetensors").exists()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, output_dir)
    assert any("lora_A" in name for name, _ in model.named_parameters())
    greedy = SamplingParams(greedy=True, max_new_tokens=8)
    judge = TransformersJudge(model.merge_and_unload(), tokenizer=str(output_dir), sampling=greedy, device="cpu")
    [text] = judge.generate([build_messages(*QUESTION, language="en")])
    assert isinstance(text, str)
    parse_judgment(text)  # never raises
    by_path = TransformersJudge(str(output_dir), sampling=greedy, device="cpu")  # transformers loads base + adapter
    [again] = by_path.generate([build_messages(*QUESTION, language="en")])
    assert again == text
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.library_name == "peft" and "lora" in card.data.tags


# -- ZeRO-3 for real, two CPU processes ------------------------------------------------------------


_TEARDOWN_ABORT = "terminate called without an active exception"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ~2 minutes on an idle 2-core machine; a fresh clone's `make test` at load 10 needed more than 300 s.
# The run may happen twice (the teardown-abort rerun below), so the test's own limit covers both.
ZERO3_TIMEOUT = 1200


@pytest.mark.slow
@pytest.mark.timeout(2 * ZERO3_TIMEOUT + 300)
def test_zero3_on_two_cpu_processes_each_rank_holds_a_shard(tiny_model_dir, tmp_path):
    """ZeRO-3 (DeepSpeed stage 3) for real: each of the 2 ranks holds half of every parameter."""
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed: DS_BUILD_OPS=0 pip install deepspeed")
    output_dir, report_dir = tmp_path / "z3", tmp_path / "z3_report"
    env = {**os.environ, "MISATTRIBUTION_ZERO3_REPORT": str(report_dir), "OMP_NUM_THREADS": "1"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        "trl_recipes/accelerate_configs/zero3_cpu.yaml",
        "--main_process_port",
        str(_free_port()),
        "trl_recipes/sft.py",
        "--config",
        "trl_recipes/tiny/sft/config_cpu.yaml",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "3",
        "--eval_subset_size",
        "2",
        "--eval_max_new_tokens",
        "8",
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=ZERO3_TIMEOUT)
    if done.returncode != 0 and _TEARDOWN_ABORT in done.stderr and (output_dir / "judge_metrics.json").is_file():
        # Seen once on a saturated machine: a rank aborts in the C++ teardown after all the work is done
        # (a joinable thread destroyed at exit). One clean rerun is required; a second abort fails.
        warnings.warn(
            f"ZeRO-3 run aborted at teardown after finishing; rerunning once:\n{done.stderr[-800:]}", stacklevel=1
        )
        shutil.rmtree(output_dir)
        shutil.rmtree(report_dir, ignore_errors=True)
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=ZERO3_TIMEOUT)
    assert done.returncode == 0, done.stderr[-4000:]
    reports = [json.loads((report_dir / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for rank, report in enumerate(reports):
        assert (report["rank"], report["world_size"]) == (rank, 2)
        assert report["engine"] == "DeepSpeedEngine" and report["zero_stage"] == 3
        for param in report["params"]:
            assert param["partitioned"], param["name"]
            assert param["local_numel"] == math.ceil(param["ds_numel"] / 2), param
        assert report["local_numel"] < report["total_numel"]
    assert reports[0]["total_numel"] == reports[1]["total_numel"]
    assert sum(r["local_numel"] for r in reports) >= reports[0]["total_numel"]
    assert "[zero3] rank 1/2" in done.stdout + done.stderr
    # the 16-bit gather at save time wrote the whole model, which reloads and judges
    judge = TransformersJudge(str(output_dir), sampling=SamplingParams(greedy=True, max_new_tokens=8), device="cpu")
    assert sum(p.numel() for p in judge.model.parameters()) == reports[0]["total_numel"]
    assert isinstance(judge.generate([build_messages(*QUESTION, language="en")])[0], str)
    assert read_metrics(output_dir / "judge_metrics.json")["n"] == 2
