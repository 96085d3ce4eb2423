"""Fine-tune the misattribution judge on AttriData with TRL's SFTTrainer.

Run from the repository root (recipes and accelerate configs use paths relative to it).

Single GPU (LoRA; full fine-tuning of a 7B model needs several GPUs)::

    accelerate launch --config_file trl_recipes/accelerate_configs/single_gpu.yaml \\
        trl_recipes/sft.py --config trl_recipes/qwen2.5-7b/sft/config_lora.yaml

QLoRA on one smaller GPU::

    accelerate launch --config_file trl_recipes/accelerate_configs/single_gpu.yaml \\
        trl_recipes/sft.py --config trl_recipes/qwen2.5-7b/sft/config_qlora.yaml

Multi GPU, data parallel (8 GPUs; change ``--num_processes`` to yours)::

    accelerate launch --config_file trl_recipes/accelerate_configs/multi_gpu.yaml --num_processes 8 \\
        trl_recipes/sft.py --config trl_recipes/qwen2.5-7b/sft/config_lora.yaml

The paper's run, full fine-tuning with DeepSpeed ZeRO-3 (8 GPUs)::

    accelerate launch --config_file trl_recipes/accelerate_configs/zero3.yaml --num_processes 8 \\
        trl_recipes/sft.py --config trl_recipes/qwen2.5-7b/sft/config_full.yaml

Multi-node (2 nodes x 8 GPUs; the same line on each node, ``--machine_rank`` 0 then 1)::

    accelerate launch --config_file trl_recipes/accelerate_configs/multi_node.yaml \\
        --machine_rank 0 --main_process_ip 10.0.0.1 --main_process_port 29500 \\
        trl_recipes/sft.py --config trl_recipes/qwen2.5-7b/sft/config_full.yaml

CPU, the tiny random model on the bundled sample (a smoke test of the whole path, ~10 s)::

    python -m misattribution.testing.tiny_model build/tiny-judge/base
    python trl_recipes/sft.py --config trl_recipes/tiny/sft/config_cpu.yaml

CPU, ZeRO-3 for real over 2 processes (set ``MISATTRIBUTION_ZERO3_REPORT=DIR`` to have every rank
write what it holds of each parameter to ``DIR/rank<N>.json``)::

    accelerate launch --config_file trl_recipes/accelerate_configs/zero3_cpu.yaml \\
        trl_recipes/sft.py --config trl_recipes/tiny/sft/config_cpu.yaml

Any recipe key can be overridden on the command line (``--learning_rate 5e-5``), and the ablations
are one option: ``--output_order feedback,score`` (no misattribution) or any permutation such as
``--output_order score,misattribution,feedback``.

After training, the main process reloads the saved checkpoint, judges ``eval_subset_size`` rows of the
test split (greedy), writes ``judge_metrics.json`` and ``judge_predictions.jsonl`` and the model card
(``README.md``) into ``output_dir``, and with ``push_model: true`` uploads weights, tokenizer, card and
metrics to ``hub_model_id``.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from misattribution._extras import missing_extra

try:  # the `train` extra; without it, one line naming it (exit 2) instead of a traceback
    from transformers import AutoTokenizer, TrainerCallback, set_seed
    from trl import ModelConfig, ScriptArguments, SFTConfig, TrlParser
except ImportError as err:
    if (missing := missing_extra(err, "training the judge (trl_recipes/sft.py)", extra="train")) is None:
        raise
    print(f"error: {missing}", file=sys.stderr)
    raise SystemExit(2) from None

from misattribution.model_card import push_model, render_model_card
from misattribution.training import (
    SAMPLE_DATASET,
    chat_template_problems,
    evaluate_judge,
    format_dataset,
    install_chat_template,
    load_attridata,
    load_checkpoint_judge,
    parse_order,
    prompt_language,
    write_metrics,
    zero3_partition_report,
)

logger = logging.getLogger(__name__)

METRICS_FILE = "judge_metrics.json"
PREDICTIONS_FILE = "judge_predictions.jsonl"
ZERO3_REPORT_ENV = "MISATTRIBUTION_ZERO3_REPORT"


@dataclass
class AttriDataArguments(ScriptArguments):
    """TRL's script arguments plus what AttriData and the judge need."""

    dataset_name: str | None = field(
        default=SAMPLE_DATASET,
        metadata={
            "help": f"A Hub dataset id, a save_to_disk folder, a folder of Parquet files, or {SAMPLE_DATASET!r}."
        },
    )
    taxonomy: str = field(default="attridata-v1", metadata={"help": "Taxonomy name or YAML path."})
    language: str = field(
        default="auto",
        metadata={"help": "Prompt language: en, zh, or auto (per row).", "choices": ["auto", "en", "zh"]},
    )
    output_order: str = field(
        default="feedback,misattribution,score",
        metadata={"help": "Output fields in order; 'feedback,score' is the ablation without misattribution."},
    )
    eval_subset_size: int | None = field(
        default=None, metadata={"help": "Test rows judged after training (None: all, 0: skip)."}
    )
    eval_max_new_tokens: int = field(default=512, metadata={"help": "Token budget of each judgment."})
    eval_batch_size: int = field(default=8, metadata={"help": "Prompts per generate call."})
    eval_seed: int = field(default=0, metadata={"help": "Seed of the evaluation subset."})
    push_model: bool = field(
        default=False,
        metadata={"help": "Upload weights, tokenizer, card and metrics to hub_model_id (token from $HF_TOKEN)."},
    )
    license: str = field(default="apache-2.0", metadata={"help": "License written into the model card."})

    def __post_init__(self):
        if not self.dataset_name:
            raise ValueError("dataset_name is required")
        parse_order(self.output_order)
        prompt_language(self.language, "", "")
        if self.eval_subset_size is not None and self.eval_subset_size < 0:
            raise ValueError("eval_subset_size must be >= 0 (0 skips the evaluation) or None (the whole split)")


class Zero3ReportCallback(TrainerCallback):
    """Writes what this rank holds of every parameter once training has started (see the docstring)."""

    def __init__(self, trainer, out_dir: str):
        self.trainer = trainer
        self.out_dir = Path(out_dir)

    def on_train_begin(self, args, state, control, **kwargs):
        import json

        accelerator = self.trainer.accelerator
        engine = self.trainer.model_wrapped
        report = zero3_partition_report(accelerator.unwrap_model(engine))
        report |= {
            "rank": accelerator.process_index,
            "world_size": accelerator.num_processes,
            "engine": type(engine).__name__,
            "zero_stage": engine.zero_optimization_stage() if hasattr(engine, "zero_optimization_stage") else None,
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{report['rank']}.json").write_text(json.dumps(report, indent=1))
        print(
            f"[zero3] rank {report['rank']}/{report['world_size']} {report['engine']} stage {report['zero_stage']}: "
            f"holds {report['local_numel']} of {report['total_numel']} parameter values",
            flush=True,
        )


def _hub_dataset_id(name: str) -> str | None:
    """The dataset's Hub id for the card, or None for the sample and local folders."""
    return None if name == SAMPLE_DATASET or Path(name).exists() else name


def main(script_args: AttriDataArguments, training_args: SFTConfig, model_args: ModelConfig):
    """Train, save, then (main process) evaluate, write the card and push. Returns the trainer."""
    from trl import SFTTrainer, get_peft_config, get_quantization_config

    if script_args.push_model and not training_args.hub_model_id:
        raise ValueError("push_model needs hub_model_id (the repository to create or update)")
    if training_args.push_to_hub:
        raise ValueError("use push_model: TRL's push_to_hub would upload its own card instead of the judge's")
    if not training_args.assistant_only_loss:
        logger.warning("assistant_only_loss is off: the judge also learns to write its prompts")
    set_seed(training_args.seed)
    order = parse_order(script_args.output_order)

    training_args.model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(training_args.model_init_kwargs or {}),
    }
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=training_args.trust_remote_code,
    )
    if training_args.chat_template_path:
        # Checked here; TRL then sets the same file again, which changes nothing.
        install_chat_template(tokenizer, training_args.chat_template_path)
    elif problems := chat_template_problems(tokenizer):
        raise ValueError(
            f"{model_args.model_name_or_path}'s chat template cannot train the judge (set chat_template_path, "
            "see trl_recipes/README.md):\n- " + "\n- ".join(problems)
        )

    raw = load_attridata(script_args.dataset_name, script_args.dataset_config, taxonomy=script_args.taxonomy)
    dataset = format_dataset(raw, taxonomy=script_args.taxonomy, language=script_args.language, order=order)
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=dataset[script_args.dataset_train_split],
        eval_dataset=dataset[script_args.dataset_test_split] if training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )
    if os.environ.get(ZERO3_REPORT_ENV):
        trainer.add_callback(Zero3ReportCallback(trainer, os.environ[ZERO3_REPORT_ENV]))

    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    trainer.accelerator.wait_for_everyone()
    is_main = trainer.accelerator.is_main_process
    if hasattr(trainer, "end"):  # transformers >= 5.18: close trackers and the process group
        trainer.end()
    if is_main:
        _finish(script_args, training_args, model_args, raw[script_args.dataset_test_split])
    return trainer


def _finish(script_args: AttriDataArguments, training_args: SFTConfig, model_args: ModelConfig, test_split) -> None:
    """Main process only: judge the test subset with the saved checkpoint, write metrics and card, push."""
    output_dir = Path(training_args.output_dir)
    metrics = None
    if script_args.eval_subset_size != 0:
        # After ZeRO-3, from_pretrained would still build the model partitioned across the (now gone)
        # process group and wait for the other ranks forever: this is a plain single-process load.
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
        judge = load_checkpoint_judge(
            output_dir,
            max_new_tokens=script_args.eval_max_new_tokens,
            batch_size=script_args.eval_batch_size,
            device="cpu" if training_args.use_cpu else None,
        )
        metrics = evaluate_judge(
            judge,
            test_split,
            taxonomy=script_args.taxonomy,
            language=script_args.language,
            order=script_args.output_order,
            subset_size=script_args.eval_subset_size,
            seed=script_args.eval_seed,
            batch_size=script_args.eval_batch_size,
            predictions_path=output_dir / PREDICTIONS_FILE,
        )
        write_metrics(metrics, output_dir / METRICS_FILE)
        print(f"judge metrics: parse_rate={metrics['parse_rate']:.3f} n={metrics['n']} -> {output_dir / METRICS_FILE}")
    card = render_model_card(
        metrics,
        repo_id=training_args.hub_model_id or output_dir.name,
        base_model=model_args.model_name_or_path,
        dataset_id=_hub_dataset_id(script_args.dataset_name),
        configs=(script_args, training_args, model_args),
        taxonomy=script_args.taxonomy,
        order=script_args.output_order,
        language=script_args.language,
        license=script_args.license,
        adapter=model_args.use_peft,
    )
    card.save(output_dir / "README.md")
    if script_args.push_model:
        url = push_model(output_dir, training_args.hub_model_id, card=card, private=training_args.hub_private_repo)
        print(f"pushed to {url}")


if __name__ == "__main__":
    parser = TrlParser((AttriDataArguments, SFTConfig, ModelConfig))
    main(*parser.parse_args_and_config())
