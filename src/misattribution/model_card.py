"""The judge's model card and the repository it describes.

:func:`render_model_card` fills the shipped template (``templates/model_card.md``) from a training run:
the metrics JSON of :func:`misattribution.training.evaluate_judge` become ``EvalResult`` entries (so the
card's YAML carries a ``model-index`` the Hub shows as a results table), the hyperparameters are read
from the run's own config objects, and the prompt and output example is rendered by the core
(:func:`~misattribution.prompts.build_messages`, :func:`~misattribution.format.render_target`), so the card
cannot show a format the judge was not trained on.

:func:`repo_files` decides what of a training output folder is published (weights or adapter, config,
tokenizer, metrics; never optimizer states, checkpoints or logs); :func:`stage_model_repo` writes that
exact layout to a folder (a dry run) and :func:`push_model` uploads it in one commit.

Example:
    >>> card = render_model_card({"n": 4, "parse_rate": 1.0, "pearson": 0.5, "micro_f1": 0.25},
    ...                          repo_id="me/judge", base_model="Qwen/Qwen2.5-7B-Instruct")
    >>> [(r.metric_type, r.metric_value) for r in card.data.eval_results]
    [('pearson', 0.5), ('micro_f1', 0.25), ('parse_rate', 1.0)]
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from misattribution.citations import BIBTEX
from misattribution.format import DEFAULT_ORDER, render_target
from misattribution.prompts import build_messages
from misattribution.taxonomy import Taxonomy, load_taxonomy

#: metric key -> (display name, what it is measured on); the order of the results table.
CARD_METRICS = {
    "pearson": ("Pearson r", "score"),
    "spearman": ("Spearman ρ", "score"),
    "kendall": ("Kendall τ", "score"),
    "detection_precision": ("Error detection precision", "misattribution"),
    "detection_recall": ("Error detection recall", "misattribution"),
    "micro_f1": ("Category micro-F1", "misattribution"),
    "parse_rate": ("Parse rate", "output format"),
}
TASK_TYPE = "text-generation"
TASK_NAME = "LLM answer judging with error attribution"
TAGS = ("misattribution", "llm-as-a-judge", "error-attribution", "evaluation", "trl", "sft")

#: What a training output folder contributes to the model repository (top level only).
REPO_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "adapter_config.json",
    "adapter_model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "chat_template.jinja",
    "judge_metrics.json",
)
_SHARD_PREFIX = "model-"  # model-00001-of-00004.safetensors

# The training settings the card lists, in order, as (config attribute, label).
_HYPERPARAMETERS = (
    ("model_name_or_path", "base model"),
    ("dataset_name", "dataset"),
    ("taxonomy", "taxonomy"),
    ("language", "prompt language"),
    ("output_order", "output order"),
    ("learning_rate", "learning rate"),
    ("lr_scheduler_type", "scheduler"),
    ("warmup_steps", "warmup (steps, or ratio if < 1)"),
    ("num_train_epochs", "epochs"),
    ("max_steps", "max steps (-1: epochs decide)"),
    ("per_device_train_batch_size", "batch size per device"),
    ("gradient_accumulation_steps", "gradient accumulation"),
    ("optim", "optimizer"),
    ("weight_decay", "weight decay"),
    ("max_grad_norm", "max gradient norm"),
    ("max_length", "max sequence length"),
    ("bf16", "bf16"),
    ("gradient_checkpointing", "gradient checkpointing"),
    ("assistant_only_loss", "loss on the judgment only"),
    ("packing", "packing"),
    ("seed", "seed"),
    ("use_peft", "LoRA"),
    ("lora_r", "LoRA r"),
    ("lora_alpha", "LoRA alpha"),
    ("lora_dropout", "LoRA dropout"),
    ("lora_target_modules", "LoRA target modules"),
    ("load_in_4bit", "4-bit base (QLoRA)"),
)
_LORA_KEYS = {"lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "load_in_4bit"}
_CITATION = BIBTEX


def _template_path() -> str:
    return str(resources.files("misattribution") / "templates" / "model_card.md")


def _looks_like_hub_id(name: str | None) -> bool:
    return bool(name) and name.count("/") == 1 and not Path(name).exists() and ":" not in name


# -- numbers --------------------------------------------------------------------------------------


def eval_results(
    metrics: Mapping[str, Any] | None,
    *,
    dataset_id: str | None = None,
    dataset_name: str = "AttriData",
    split: str = "test",
) -> list[Any]:
    """The ``EvalResult`` entries of the model-index: one per metric of :data:`CARD_METRICS` that has a value."""
    from huggingface_hub import EvalResult

    if not metrics:
        return []
    results = []
    for key, (name, target) in CARD_METRICS.items():
        value = metrics.get(key)
        if value is None:
            continue
        results.append(
            EvalResult(
                task_type=TASK_TYPE,
                task_name=TASK_NAME,
                dataset_type=dataset_id or "attridata",
                dataset_name=dataset_name,
                dataset_split=split,
                metric_type=key,
                metric_name=f"{name} ({target})",
                metric_value=float(value),
            )
        )
    return results


def _results_table(metrics: Mapping[str, Any]) -> str:
    rows = ["| metric | on | value | 95% interval |", "| --- | --- | --- | --- |"]
    for key, (name, target) in CARD_METRICS.items():
        value = metrics.get(key)
        if value is None:
            continue
        low, high = metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
        interval = f"[{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
        rows.append(f"| {name} | {target} | {float(value):.3f} | {interval} |")
    return "\n".join(rows)


def _config_items(configs: Iterable[Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for config in configs:
        if dataclasses.is_dataclass(config) and not isinstance(config, type):
            items = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
            if hasattr(config, "world_size"):
                items["world_size"] = config.world_size
        elif isinstance(config, Mapping):
            items = dict(config)
        else:
            raise TypeError(f"a config must be a dataclass instance or a mapping, got {type(config).__name__}")
        for key, value in items.items():
            values.setdefault(key, value)
    return values


def training_hyperparameters(configs: Iterable[Any]) -> dict[str, Any]:
    """The settings the card lists, read from the run's config objects (dataclasses or mappings).

    Adds ``effective batch size`` (per device x accumulation x processes, when known). LoRA settings
    appear only when LoRA was used.

    >>> training_hyperparameters([{"learning_rate": 1e-4, "per_device_train_batch_size": 2,
    ...                            "gradient_accumulation_steps": 8, "use_peft": False}])
    {'learning rate': 0.0001, 'batch size per device': 2, 'gradient accumulation': 8, 'LoRA': False,
     'effective batch size': 16}
    """
    values = _config_items(configs)
    table = {}
    for key, label in _HYPERPARAMETERS:
        if key in values and values[key] is not None and not (key in _LORA_KEYS and not values.get("use_peft")):
            table[label] = values[key]
    per_device, accumulation = values.get("per_device_train_batch_size"), values.get("gradient_accumulation_steps")
    if per_device and accumulation:
        table["effective batch size"] = per_device * accumulation * int(values.get("world_size") or 1)
    return table


def _hyperparameters_table(table: Mapping[str, Any]) -> str:
    if not table:
        return "The run's configuration was not recorded."
    rows = ["| setting | value |", "| --- | --- |"]
    rows += [f"| {label} | `{value}` |" for label, value in table.items()]
    return "\n".join(rows)


def _versions() -> str:
    found = []
    for package in ("misattribution", "transformers", "trl", "peft", "accelerate", "deepspeed", "torch", "datasets"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


# -- the card -------------------------------------------------------------------------------------


def _example(tax: Taxonomy, language: str, order: Sequence[str]) -> tuple[list[dict[str, str]], str]:
    """A worked example rendered by the core: the prompt messages and the judgment."""
    lang = "zh" if language == "zh" else "en"
    messages = build_messages("What is 3 x 4 + 2?", "16", reference="14", language=lang, taxonomy=tax, order=order)
    label = "result_error" if "result_error" in tax else tax.secondary_ids[0]
    score = next((s for s in tax.scale.values if tax.scale.expects_error(s) and s > tax.scale.min), tax.scale.min)
    feedback = "3 x 4 is 12 and 12 + 2 is 14, so the answer 16 is wrong."
    return messages, render_target(feedback, [label], score, taxonomy=tax, language=lang, order=order)


def render_model_card(
    metrics: Mapping[str, Any] | None,
    *,
    repo_id: str,
    base_model: str | None = None,
    dataset_id: str | None = None,
    configs: Iterable[Any] = (),
    taxonomy: Taxonomy | str | None = None,
    order: str | Sequence[str] = DEFAULT_ORDER,
    language: str = "auto",
    languages: Sequence[str] = ("en", "zh"),
    license: str = "apache-2.0",
    adapter: bool = False,
    template_path: str | Path | None = None,
) -> Any:
    """The judge's ``huggingface_hub.ModelCard``.

    Args:
        metrics: the metrics JSON of :func:`~misattribution.training.evaluate_judge` (``None``: not
            evaluated; the card says so).
        repo_id: the model's Hub id (used in the usage examples and as the model-index name).
        base_model: the model it was fine-tuned from (linked when it is a Hub id).
        dataset_id: the training data's Hub id (``None`` for local data).
        configs: the run's config objects (script arguments, ``SFTConfig``, ``ModelConfig``) or mappings.
        taxonomy, order, language: what the judge was trained with.
        languages: the languages of its training data (card metadata).
        license: the card's license.
        adapter: the repository holds a LoRA adapter, not full weights.
        template_path: another Jinja template (default: the shipped ``templates/model_card.md``).
    """
    from huggingface_hub import ModelCard, ModelCardData

    from misattribution.format import parse_order

    tax = load_taxonomy(taxonomy)
    fields = parse_order(order)
    hub_base = base_model if _looks_like_hub_id(base_model) else None
    hub_dataset = dataset_id if _looks_like_hub_id(dataset_id) else None
    model_name = repo_id.rstrip("/").split("/")[-1]
    results = eval_results(metrics, dataset_id=hub_dataset)
    card_data = ModelCardData(
        base_model=hub_base,
        datasets=[hub_dataset] if hub_dataset else None,
        language=list(languages),
        license=license,
        library_name="peft" if adapter else "transformers",
        pipeline_tag=TASK_TYPE,
        tags=[*TAGS, *(("lora", "peft") if adapter else ())],
        model_name=model_name,
        eval_results=results or None,
    )
    messages, target = _example(tax, language, fields)
    n = (metrics or {}).get("n")
    if metrics:
        results_intro = (
            f"On {n} rows of the AttriData test split ({(metrics.get('settings') or {}).get('split_size', n)} "
            "in all), judged greedily from the saved checkpoint and compared with the human labels "
            "(`misattribution.stats.agreement_report`; intervals: seeded bootstrap):"
        )
        table = _results_table(metrics)
    else:
        results_intro, table = "This checkpoint was not evaluated at the end of its training run.", ""
    names = {"feedback": "feedback", "misattribution": "the error categories (misattribution)", "score": "a score"}
    ablation = "misattribution" not in fields
    non_default = tuple(fields) != tuple(DEFAULT_ORDER)
    hyperparameters = training_hyperparameters(configs)
    card = ModelCard.from_template(
        card_data,
        template_path=str(template_path or _template_path()),
        model_name=model_name,
        repo_id=repo_id,
        output_description=", then ".join(names[f] for f in fields),
        base_model_link=f"[`{hub_base}`](https://huggingface.co/{hub_base})" if hub_base else f"`{base_model}`",
        dataset_link=f"[AttriData](https://huggingface.co/datasets/{hub_dataset})" if hub_dataset else "AttriData",
        taxonomy=tax,
        n_primary=len(tax.primaries),
        n_secondary=len(tax.secondaries),
        scale_min=tax.scale.min,
        scale_max=tax.scale.max,
        results_intro=results_intro,
        results_table=table,
        max_length=_config_items(configs).get("max_length", "the training"),
        order_argument=f", order={list(fields)!r}" if non_default else "",
        fields_argument=f", fields={list(fields)!r}" if non_default else "",
        order_note=(
            f"\nThis judge writes its fields in the order {list(fields)}"
            + (" (the ablation without misattribution)" if ablation else "")
            + ": pass that `order` to `build_messages` and `judge_dataset`, and `fields` to `parse_judgment`, as "
            "above; the metric and the CLI assume the default order.\n"
            if non_default
            else ""
        ),
        language=language,
        language_note={
            "auto": 'English or Chinese per row, decided from the row\'s text as `language="auto"` does at inference',
            "en": "always English, whatever the row's language",
            "zh": "always Chinese, whatever the row's language",
        }.get(language, language),
        example_user=messages[1]["content"],
        example_system=messages[0]["content"],
        example_target=target,
        order_text=", ".join(f"`{f}`" for f in fields),
        training_summary=(
            "Supervised fine-tuning with TRL's `SFTTrainer` on the conversations of "
            "`misattribution.training.to_conversation`, with the loss on the judgment only "
            "(`assistant_only_loss`; the chat template marks the assistant turn and its end-of-turn token)"
            + (", as a LoRA adapter" if adapter else "")
            + ". Settings of this run:"
        ),
        hyperparameters_table=_hyperparameters_table(hyperparameters),
        versions=_versions(),
        citation=_CITATION,
    )
    return card


# -- the repository -------------------------------------------------------------------------------


def repo_files(model_dir: str | Path) -> list[str]:
    """The files of ``model_dir`` that belong in the model repository (names relative to it)."""
    folder = Path(model_dir)
    names = [name for name in REPO_FILES if (folder / name).is_file()]
    names += sorted(p.name for p in folder.glob(f"{_SHARD_PREFIX}*.safetensors") if p.is_file() and p.name not in names)
    if not any(name.endswith(".safetensors") for name in names):
        raise FileNotFoundError(f"{folder}: no weights (model*.safetensors or adapter_model.safetensors)")
    return names


def stage_model_repo(model_dir: str | Path, card: Any, out_dir: str | Path) -> Path:
    """Write the exact repository layout (the files of :func:`repo_files` and ``README.md``) to ``out_dir``."""
    source, target = Path(model_dir), Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    for name in repo_files(source):
        shutil.copy2(source / name, target / name)
    card.save(target / "README.md")
    return target


def push_model(
    model_dir: str | Path,
    repo_id: str,
    *,
    card: Any = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str = "Upload the misattribution judge",
) -> str:
    """Upload the files of :func:`repo_files` and the card (``README.md``) in one commit; return its URL.

    The token comes from ``token`` or ``$HF_TOKEN`` (or the cached login) and is never printed.
    Without ``card`` the folder's own ``README.md`` is uploaded.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    folder = Path(model_dir)
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in repo_files(folder)
    ]
    if card is not None:
        operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode("utf-8")))
    elif (folder / "README.md").is_file():
        operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(folder / "README.md")))
    api = HfApi(token=token or os.environ.get("HF_TOKEN") or None)
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.create_commit(repo_id, operations, commit_message=commit_message, revision=revision)
    return str(info.commit_url)


def render_run_card(
    model_dir: str | Path,
    *,
    repo_id: str,
    recipe: str | Path | Mapping[str, Any] | None = None,
    license: str | None = None,
) -> Any:
    """The card of a finished training run, from its output folder alone (and optionally its recipe).

    Reads ``judge_metrics.json`` (numbers, and the taxonomy, language and order the run evaluated
    with), the recipe (a YAML path or a mapping: hyperparameters, base model, dataset) and
    ``adapter_config.json`` (a LoRA run; its base model when the recipe does not say).
    """
    import json

    import yaml

    from misattribution.training import read_metrics

    folder = Path(model_dir)
    metrics = read_metrics(folder / "judge_metrics.json") if (folder / "judge_metrics.json").is_file() else None
    settings = (metrics or {}).get("settings") or {}
    if recipe is None:
        config: dict[str, Any] = {}
    elif isinstance(recipe, Mapping):
        config = dict(recipe)
    else:
        config = yaml.safe_load(Path(recipe).read_text(encoding="utf-8")) or {}
    adapter_file = folder / "adapter_config.json"
    adapter = json.loads(adapter_file.read_text()) if adapter_file.is_file() else None
    base_model = config.get("model_name_or_path") or (adapter or {}).get("base_model_name_or_path")
    return render_model_card(
        metrics,
        repo_id=repo_id,
        base_model=base_model,
        dataset_id=config.get("dataset_name"),
        configs=[config] if config else [],
        taxonomy=config.get("taxonomy") or settings.get("taxonomy"),
        order=config.get("output_order") or settings.get("order") or DEFAULT_ORDER,
        language=config.get("language") or settings.get("language") or "auto",
        license=license or config.get("license") or "apache-2.0",
        adapter=adapter is not None,
    )
