"""Everything the judge's fine-tuning needs from the core: data in, chat template, evaluation out.

* :func:`to_conversation` turns one AttriData row into the chat the judge is trained on: the system
  and user messages of :func:`~misattribution.prompts.build_messages` (the very function the metric,
  the CLI and the Space call) and an assistant message written by
  :func:`~misattribution.format.render_target` (what :func:`~misattribution.format.parse_judgment`
  reads). :func:`format_dataset` maps a whole ``DatasetDict``; :func:`load_attridata` loads one from the
  Hub, a ``save_to_disk`` folder, a folder of Parquet files, or the bundled sample.
* :func:`install_chat_template` puts a chat template with ``{% generation %}`` markers on a tokenizer
  after :func:`chat_template_problems` checked it: TRL's ``assistant_only_loss`` needs the markers,
  the end-of-turn token must be inside them (or the judge never learns to stop), and the prompt
  rendered for generation must be the exact prefix of the training conversation.
* :func:`evaluate_judge` generates on (a subset of) the test split, parses with the core and compares
  with the gold labels through :func:`~misattribution.stats.agreement_report`; :func:`write_metrics`
  writes the flat JSON that :mod:`misattribution.model_card` turns into a model-index.

``trl_recipes/sft.py`` only wires these into TRL; no formatting logic lives in a recipe.

Example:
    >>> row = {"question": "What is 3 x 4?", "answer": "14", "reference": "12",
    ...        "feedback": "3 x 4 is 12, not 14.", "misattribution": ["result_error"], "score": 1}
    >>> conversation = to_conversation(row, language="en")
    >>> [m["role"] for m in conversation["messages"]]
    ['system', 'user', 'assistant']
    >>> print(conversation["messages"][-1]["content"])
    Feedback: 3 x 4 is 12, not 14.
    Misattribution: Result Error
    Score: 1
    >>> print(to_conversation(row, language="en", order="feedback,score")["messages"][-1]["content"])
    Feedback: 3 x 4 is 12, not 14.
    Score: 1
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from misattribution.format import DEFAULT_ORDER, parse_order, render_target
from misattribution.io.tables import optional_text
from misattribution.prompts import build_messages
from misattribution.runner import detect_language
from misattribution.taxonomy import Taxonomy, load_taxonomy

#: ``dataset_name`` for the sample shipped with the package (built by ``misattribution.data.sample``).
SAMPLE_DATASET = "misattribution:sample"
#: The output order without misattribution: the paper's ablation.
ABLATION_ORDER = ("feedback", "score")
#: The metrics a model-index carries, in the order the card lists them.
HEADLINE_METRICS = ("pearson", "spearman", "kendall", "detection_precision", "detection_recall", "micro_f1")

_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")
_LANGUAGES = ("auto", "en", "zh")


# -- options --------------------------------------------------------------------------------------


def prompt_language(language: str, question: str, answer: str) -> str:
    """``"en"`` or ``"zh"``; ``"auto"`` decides from the text with the rule the runner uses at inference.

    >>> prompt_language("auto", "3 乘 4 等于多少？", "14"), prompt_language("zh", "What?", "No")
    ('zh', 'zh')
    """
    if language not in _LANGUAGES:
        raise ValueError(f"language must be one of {_LANGUAGES}, got {language!r}")
    return detect_language(f"{question}\n{answer}") if language == "auto" else language


# -- rows to conversations ------------------------------------------------------------------------


def _category_names(features: Any) -> Any:
    """Whatever maps a class index to a name: a ClassLabel, or a list of names."""
    if features is None:
        return None
    if isinstance(features, Mapping) and "misattribution" in features:
        features = features["misattribution"]
    feature = getattr(features, "feature", features)  # List(ClassLabel) / Sequence(ClassLabel)
    if hasattr(feature, "int2str"):
        return feature
    if isinstance(feature, Sequence) and not isinstance(feature, str):
        return list(feature)
    raise TypeError(f"cannot read category names from {type(features).__name__}")


def misattribution_ids(
    labels: Sequence[Any] | None, *, taxonomy: Taxonomy | str | None = None, features: Any = None
) -> list[str]:
    """Secondary category ids from ClassLabel indices (named by ``features``), ids or names.

    Args:
        labels: one row's misattribution: ``[11]``, ``["result_error"]`` or ``["Result Error"]``.
        taxonomy: the taxonomy the ids belong to.
        features: the dataset's ``Features``, its ``misattribution`` feature, a ``ClassLabel`` or the
            list of names; needed only when ``labels`` holds integers.

    >>> from misattribution.data import attridata_features
    >>> misattribution_ids([11, 10], features=attridata_features())
    ['process_error', 'result_error']
    """
    tax = load_taxonomy(taxonomy)
    names = []
    for label in labels or []:
        if isinstance(label, int) or type(label).__name__.startswith(("int", "uint")):
            index = int(label)
            mapping = _category_names(features)
            if mapping is None:
                raise ValueError(f"misattribution holds the class index {index}: pass features= to name it")
            names.append(mapping.int2str(index) if hasattr(mapping, "int2str") else mapping[index])
        else:
            names.append(str(label))
    return tax.normalize_labels(names)


def to_conversation(
    row: Mapping[str, Any],
    *,
    taxonomy: Taxonomy | str | None = None,
    language: str = "auto",
    order: str | Sequence[str] = DEFAULT_ORDER,
    features: Any = None,
) -> dict[str, list[dict[str, str]]]:
    """One AttriData row as ``{"messages": [system, user, assistant]}``, TRL's conversational format.

    Args:
        row: needs ``question``, ``answer``, ``score``, and ``feedback`` / ``misattribution`` when the
            order has them; ``reference`` and ``instruction`` (or ``criteria``) are optional.
        taxonomy: the taxonomy shown in the prompt and used for category names.
        language: the prompt's language, ``"en"``, ``"zh"``, or ``"auto"`` (per row, from its text,
            as :func:`~misattribution.runner.judge_dataset` decides at inference).
        order: the output fields, e.g. ``"feedback,misattribution,score"`` (see :func:`parse_order`).
        features: names the ClassLabel indices of ``misattribution`` (see :func:`misattribution_ids`).
    """
    tax = load_taxonomy(taxonomy)
    fields = parse_order(order)
    question, answer = row["question"], row["answer"]
    lang = prompt_language(language, question, answer)
    criteria = row.get("instruction", row.get("criteria"))
    messages = build_messages(
        question,
        answer,
        optional_text(row.get("reference")),
        optional_text(criteria),
        taxonomy=tax,
        language=lang,
        order=fields,
    )
    feedback = optional_text(row.get("feedback"))
    if "feedback" in fields and feedback is None:
        raise ValueError(f"row {row.get('id', '?')!r} has no feedback, but the output order asks for it")
    labels = misattribution_ids(row.get("misattribution"), taxonomy=tax, features=features)
    target = render_target(feedback or "", labels, int(row["score"]), taxonomy=tax, language=lang, order=fields)
    return {"messages": [*messages, {"role": "assistant", "content": target}]}


def format_dataset(
    dataset: Any,
    *,
    taxonomy: Taxonomy | str | None = None,
    language: str = "auto",
    order: str | Sequence[str] = DEFAULT_ORDER,
    num_proc: int | None = None,
) -> Any:
    """Map a ``DatasetDict`` (or a ``Dataset``) of AttriData rows to a single ``messages`` column.

    Every split is formatted the same way; the class names come from each split's own features.
    """
    from datasets import DatasetDict

    if isinstance(dataset, DatasetDict):
        return DatasetDict(
            {
                split: format_dataset(part, taxonomy=taxonomy, language=language, order=order, num_proc=num_proc)
                for split, part in dataset.items()
            }
        )
    tax = load_taxonomy(taxonomy)
    fields = parse_order(order)
    prompt_language(language, "", "")  # fail before the map, not inside it
    features = dataset.features

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        return to_conversation(row, taxonomy=tax, language=language, order=fields, features=features)

    return dataset.map(convert, remove_columns=dataset.column_names, num_proc=num_proc, desc="formatting")


def load_attridata(
    name_or_path: str,
    config: str | None = None,
    *,
    revision: str | None = None,
    taxonomy: Taxonomy | str | None = None,
) -> Any:
    """AttriData as a ``DatasetDict``, from wherever it is.

    Args:
        name_or_path: :data:`SAMPLE_DATASET` (the bundled sample); a folder written by
            ``save_to_disk``; a folder of Parquet files (split = the file name up to its first ``-``:
            ``train.parquet``, ``data/test-00000-of-00001.parquet``); or a Hub dataset id.
        config, revision: passed to ``datasets.load_dataset`` for a Hub id.
        taxonomy: the taxonomy of the sample's labels (only for the sample).
    """
    import datasets

    if name_or_path == SAMPLE_DATASET:
        from misattribution.data.sample import load_sample

        return load_sample(taxonomy)
    path = Path(name_or_path)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            loaded = datasets.load_from_disk(str(path))
            return loaded if isinstance(loaded, datasets.DatasetDict) else datasets.DatasetDict({"train": loaded})
        files: dict[str, list[str]] = {}
        for file in sorted(path.rglob("*.parquet")):
            files.setdefault(file.stem.split("-")[0], []).append(str(file))
        if not files:
            raise FileNotFoundError(f"{path}: neither a save_to_disk folder nor a folder of Parquet files")
        return datasets.load_dataset("parquet", data_files=files)
    return datasets.load_dataset(name_or_path, config, revision=revision)


# -- chat template --------------------------------------------------------------------------------


def read_chat_template(template: str | Path) -> str:
    """The Jinja text of ``template``: a path to a ``.jinja`` file, or the template text itself."""
    text = str(template)
    if "{%" in text or "{{" in text:
        return text
    path = Path(template)
    if not path.is_file():
        raise FileNotFoundError(f"chat template {text!r} is neither a file nor Jinja text")
    return path.read_text(encoding="utf-8")


_PROBE = [
    {"role": "system", "content": "You judge answers."},
    {"role": "user", "content": "### Question\nWhat is 3 x 4?\n\n### Answer\n14"},
]
_PROBE_ANSWER = "Feedback: 3 x 4 is 12.\nMisattribution: Result Error\nScore: 1"


def chat_template_problems(tokenizer: Any, chat_template: str | None = None) -> list[str]:
    """What keeps ``chat_template`` (default: the tokenizer's) from training a judge; ``[]`` when fine.

    Checks that the generation prompt is the exact prefix of the training conversation and is directly
    followed by the assistant's content; that ``{% generation %}`` markers exist; and that the tokens
    they mark are the assistant's content followed by a special end-of-turn token.
    """
    template = chat_template or tokenizer.chat_template
    if not template:
        return ["the tokenizer has no chat template"]
    problems = []
    conversation = [*_PROBE, {"role": "assistant", "content": _PROBE_ANSWER}]
    prompt = tokenizer.apply_chat_template(_PROBE, chat_template=template, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(conversation, chat_template=template, tokenize=False)
    if not full.startswith(prompt + _PROBE_ANSWER):
        problems.append(
            "the prompt rendered with add_generation_prompt=True is not the prefix of the training "
            "conversation followed by the assistant's content: the judge would be trained on another prompt"
        )
    if not _GENERATION_TAG.search(template):
        problems.append("no {% generation %}...{% endgeneration %} markers: assistant_only_loss cannot mask the prompt")
        return problems
    encoded = tokenizer.apply_chat_template(
        conversation, chat_template=template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    marked = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    text = tokenizer.decode(marked, skip_special_tokens=False)
    if not text.lstrip("\n").startswith(_PROBE_ANSWER):
        problems.append(f"the generation markers do not start at the assistant's content (they hold {text[:40]!r})")
    special = set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())
    content = [t for t in marked if tokenizer.decode([t]).strip()]
    if not content or content[-1] not in special:
        problems.append("the end-of-turn token is outside the generation markers: the judge would never learn to stop")
    return problems


def install_chat_template(tokenizer: Any, template: str | Path) -> Any:
    """Check ``template`` (a ``.jinja`` path or text) with :func:`chat_template_problems` and set it.

    Returns the tokenizer; raises ``ValueError`` listing every problem instead of training a judge that
    sees another prompt or never stops.
    """
    text = read_chat_template(template)
    problems = chat_template_problems(tokenizer, text)
    if problems:
        raise ValueError(f"chat template {str(template)[:80]!r} cannot train the judge:\n- " + "\n- ".join(problems))
    tokenizer.chat_template = text
    return tokenizer


# -- evaluation -----------------------------------------------------------------------------------


def select_eval_subset(dataset: Any, size: int | None, *, seed: int = 0) -> Any:
    """``size`` rows drawn with ``seed`` (all rows when ``size`` is ``None`` or at least the split's size)."""
    if size is None or size >= len(dataset):
        return dataset
    if size < 0:
        raise ValueError(f"eval subset size must be positive or None, got {size}")
    return dataset.shuffle(seed=seed).select(range(size))


def load_checkpoint_judge(
    path: str | Path,
    *,
    greedy: bool = True,
    max_new_tokens: int = 512,
    batch_size: int = 8,
    device: str | None = None,
    dtype: str = "auto",
) -> Any:
    """A :class:`~misattribution.judges.transformers.TransformersJudge` on a saved checkpoint (greedy by default)."""
    from misattribution.judges.base import SamplingParams
    from misattribution.judges.transformers import TransformersJudge

    sampling = SamplingParams(greedy=greedy, max_new_tokens=max_new_tokens)
    return TransformersJudge(str(path), sampling=sampling, device=device, dtype=dtype, batch_size=batch_size)


def evaluate_judge(
    judge: Any,
    dataset: Any,
    *,
    taxonomy: Taxonomy | str | None = None,
    language: str = "auto",
    order: str | Sequence[str] = DEFAULT_ORDER,
    subset_size: int | None = None,
    seed: int = 0,
    batch_size: int = 8,
    n_resamples: int = 1000,
    predictions_path: str | Path | None = None,
) -> dict[str, Any]:
    """Judge (a seeded subset of) an AttriData split and compare with its gold scores and labels.

    Prompts go through :func:`~misattribution.runner.judge_dataset`, exactly as at inference; outputs
    are parsed with the order the judge was trained on. A row whose output did not parse has no score
    (it drops out of the correlations) and no categories (it drops out of the detection and category
    scores, ``n_labelled``): the ``parse_rate`` says how many rows that is.

    Returns:
        A flat, strict-JSON dict: ``n`` (rows judged), ``parse_rate`` (share with status ``ok``),
        ``n_ok`` / ``n_partial`` / ``n_failed`` / ``n_error``, every key of
        :func:`~misattribution.stats.agreement_report` (its ``n`` renamed ``n_scored``), and ``settings``.
    """
    import pandas as pd

    from misattribution.runner import judge_dataset
    from misattribution.stats import agreement_report

    tax = load_taxonomy(taxonomy)
    fields = parse_order(order)
    subset = select_eval_subset(dataset, subset_size, seed=seed)
    if len(subset) == 0:
        raise ValueError("the evaluation split is empty")
    columns = subset.column_names
    table = pd.DataFrame(
        {
            "id": subset["id"] if "id" in columns else list(range(len(subset))),
            "question": subset["question"],
            "answer": subset["answer"],
            "reference": subset["reference"] if "reference" in columns else None,
            "criteria": subset["instruction"] if "instruction" in columns else None,
        }
    )
    judged = judge_dataset(
        table,
        judge,
        predictions_path,
        taxonomy=tax,
        language=language,
        order=fields,
        batch_size=batch_size,
        resume=False,
        progress=False,
    )
    gold_scores = [int(s) for s in subset["score"]]
    pred_scores = [None if pd.isna(s) else int(s) for s in judged["score"]]
    if "misattribution" in fields:
        features = subset.features
        gold_labels = [misattribution_ids(v, taxonomy=tax, features=features) for v in subset["misattribution"]]
        pred_labels = [list(m) if isinstance(m, list) else None for m in judged["misattribution"]]
        report = agreement_report(
            pred_scores,
            gold_scores,
            pred_labels,
            gold_labels,
            categories=tax.secondary_ids,
            n_resamples=n_resamples,
            missing_labels="drop",
        )
    else:
        report = agreement_report(pred_scores, gold_scores, n_resamples=n_resamples)
    report["n_scored"] = report.pop("n")
    statuses = judged["status"].tolist()
    metrics: dict[str, Any] = {
        "n": len(subset),
        "parse_rate": statuses.count("ok") / len(statuses),
        **{f"n_{status}": statuses.count(status) for status in ("ok", "partial", "failed", "error")},
    }
    for key in HEADLINE_METRICS:
        metrics[key] = report.pop(key, None)
    metrics.update(report)
    metrics["settings"] = {
        "taxonomy": tax.name,
        "language": language,
        "order": list(fields),
        "subset_size": len(subset),
        "split_size": len(dataset),
        "seed": seed,
        "model": judge.model_id,
        "generation": judge.settings(),
    }
    return metrics


def write_metrics(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``metrics`` as indented, strict JSON (no NaN); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    return path


def read_metrics(path: str | Path) -> dict[str, Any]:
    """The metrics written by :func:`write_metrics`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


# -- ZeRO-3 evidence ------------------------------------------------------------------------------


def zero3_partition_report(model: Any) -> dict[str, Any]:
    """What this process holds of each parameter under DeepSpeed ZeRO-3.

    For every parameter: its full size (``ds_numel``) and the size of the local partition
    (``ds_tensor.numel()``). Outside ZeRO-3 a parameter has no ``ds_numel`` and is reported whole.
    """
    params = []
    for name, param in model.named_parameters():
        full = int(getattr(param, "ds_numel", param.numel()))
        partition = getattr(param, "ds_tensor", None)
        local = int(partition.numel()) if partition is not None else int(param.numel())
        params.append({"name": name, "ds_numel": full, "local_numel": local, "partitioned": hasattr(param, "ds_id")})
    return {
        "total_numel": sum(p["ds_numel"] for p in params),
        "local_numel": sum(p["local_numel"] for p in params),
        "params": params,
    }
