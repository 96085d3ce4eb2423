"""The evaluate metric: loaded for real with evaluate.load, in both modes, its card's examples as doctests,
and the bare name resolving offline for an installed user."""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import evaluate
import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.preprocessing import MultiLabelBinarizer

REPO = Path(__file__).resolve().parents[1]
METRIC_DIR = REPO / "metric" / "misattribution"


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(str(METRIC_DIR))


def test_metric_folder_is_the_packaged_script():
    from misattribution.metric_install import metric_script

    assert (METRIC_DIR / "misattribution.py").read_bytes() == metric_script().read_bytes()
    for name in ("README.md", "app.py", "requirements.txt"):
        assert (METRIC_DIR / name).is_file()


def test_loads_from_repo_root_by_relative_path(monkeypatch):
    monkeypatch.chdir(REPO)
    module = evaluate.load("metric/misattribution")
    assert module.name == "misattribution"
    assert "Pearson" in module.description or "Pearson" in module.inputs_description


def test_agreement_mode_matches_scipy_and_sklearn(metric):
    rng = np.random.default_rng(7)
    human = rng.integers(0, 4, size=200)
    judge = np.clip(human + rng.integers(-1, 2, size=200), 0, 3)
    categories = ["result_error", "process_error", "hallucination", "typos", "irrelevance"]

    def labels(scores):
        out = []
        for s in scores:
            k = 0 if s == 3 else int(rng.integers(1, 3))
            out.append(sorted(rng.choice(categories, size=k, replace=False).tolist()))
        return out

    human_labels, judge_labels = labels(human), labels(judge)
    result = metric.compute(
        predictions=judge.astype(float).tolist(),
        references=human.astype(float).tolist(),
        predicted_misattribution=judge_labels,
        human_misattribution=human_labels,
        n_resamples=200,
    )
    assert result["pearson"] == pytest.approx(scipy_stats.pearsonr(judge, human)[0], abs=1e-9)
    assert result["spearman"] == pytest.approx(scipy_stats.spearmanr(judge, human)[0], abs=1e-9)
    assert result["kendall"] == pytest.approx(scipy_stats.kendalltau(judge, human)[0], abs=1e-9)
    assert result["pearson_ci_low"] < result["pearson"] < result["pearson_ci_high"]
    detected_pred = [bool(x) for x in judge_labels]
    detected_true = [bool(x) for x in human_labels]
    assert result["detection_precision"] == pytest.approx(precision_score(detected_true, detected_pred), abs=1e-9)
    assert result["detection_recall"] == pytest.approx(recall_score(detected_true, detected_pred), abs=1e-9)
    binarizer = MultiLabelBinarizer(classes=sorted(categories)).fit([categories])
    y_true, y_pred = binarizer.transform(human_labels), binarizer.transform(judge_labels)
    assert result["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro"), abs=1e-9)
    assert result["n"] == 200


def test_agreement_mode_parses_raw_judge_texts(metric):
    texts = [
        "Feedback: fine\nMisattribution: None\nScore: 3",
        "**Feedback**: wrong sum\n**Misattribution**: 结果错误\n**Score**: 1/3",
        "Feedback: cut off mid-way and",  # truncated: no score; dropped from correlations, counted
        "反馈：步骤有误\n错误归因：过程错误\n分数：2",
    ]
    from misattribution.stats import DegenerateInputWarning

    with pytest.warns(DegenerateInputWarning, match="dropped 1 of 4"):
        result = metric.compute(predictions=texts, references=[3, 1, 2, 2], n_resamples=0)
    assert result["parse_failures"] == 1
    assert result["n"] == 3
    assert result["pearson"] == pytest.approx(scipy_stats.pearsonr([3, 1, 2], [3, 1, 2])[0])


def test_agreement_mode_reads_an_ablation_order(metric):
    texts = ["Score: 3\nFeedback: fine", "Score: 1\nFeedback: wrong sum", "Score: 2\nFeedback: a slip"]
    result = metric.compute(predictions=texts, references=[3, 1, 2], order="score,feedback", n_resamples=0)
    assert result["parse_failures"] == 0 and result["n"] == 3 and result["spearman"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="include 'score'"):
        metric.compute(predictions=texts, references=[3, 1, 2], order="feedback")


def test_judge_mode_with_the_tiny_model(tiny_model_dir):
    metric = evaluate.load(str(METRIC_DIR), config_name=str(tiny_model_dir))
    # config_name is a path: evaluate's cache folder must not be built from it verbatim.
    assert metric.config_name.startswith("judge-") and str(tiny_model_dir) not in metric.data_dir
    call = {
        "questions": ["What is 2 + 2?", "3 乘 4 等于多少？"],
        "predictions": ["5", "十二"],
        "references": ["4", None],
        "greedy": True,
        "max_new_tokens": 12,
        "batch_size": 2,
    }
    result = metric.compute(**call)
    assert result["n"] == 2 and len(result["feedback"]) == len(result["score"]) == len(result["status"]) == 2
    # A random model writes noise: nothing may be invented from it.
    for status, score, problems in zip(result["status"], result["score"], result["problems"]):
        assert status in {"ok", "partial", "failed"}
        if status == "failed":
            assert score is None and problems
    assert result["parse_rate"] == pytest.approx(np.mean([s == "ok" for s in result["status"]]))
    assert set(result["category_distribution"]) >= {"result_error", "irrelevance"}
    # Greedy decoding is repeatable, and the model is loaded once per metric object.
    again = metric.compute(**call)
    assert again["feedback"] == result["feedback"] and len(metric._judges) == 1


def test_judge_mode_without_a_judge_explains_what_to_pass(metric):
    with pytest.raises(ValueError, match="no judge"):
        metric.compute(questions=["q"], predictions=["a"])


def _card_examples() -> str:
    text = (METRIC_DIR / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return "\n".join(block for block in blocks if block.lstrip().startswith(">>>"))


@pytest.mark.parametrize(
    "source",
    ["card", "module"],
    ids=["README examples", "_KWARGS_DESCRIPTION examples"],
)
def test_card_and_docstring_examples_run_as_doctests(source, monkeypatch):
    # From metric/, the bare name resolves to ./misattribution/misattribution.py, as evaluate documents.
    monkeypatch.chdir(METRIC_DIR.parent)
    if source == "card":
        text = _card_examples()
    else:
        text = evaluate.load("misattribution").inputs_description
    assert text.count(">>>") >= 6
    test = doctest.DocTestParser().get_doctest(text, {"evaluate": evaluate}, source, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0 and runner.tries == len(test.examples) > 0


def test_bare_name_works_offline_after_install_metric(tmp_path):
    """A user with an empty HF_HOME and no network: `misattribution install-metric`, then the bare name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.update(HF_HOME=str(tmp_path / "hf_home"), HF_EVALUATE_OFFLINE="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    work = tmp_path / "elsewhere"
    work.mkdir()
    script = (
        "import evaluate\n"
        "m = evaluate.load('misattribution')\n"
        "r = m.compute(predictions=[3.0, 1.0, 2.0, 0.0], references=[3.0, 1.0, 1.0, 0.0], n_resamples=0)\n"
        "print(round(r['spearman'], 4))\n"
    )
    before = subprocess.run(
        [sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=900
    )
    assert before.returncode != 0, "the bare name must not resolve before the install step"
    installed = subprocess.run(
        [sys.executable, "-m", "misattribution.cli", "install-metric"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stderr
    assert str(tmp_path / "hf_home") in installed.stdout
    after = subprocess.run(
        [sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=900
    )
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip().splitlines()[-1] == "0.9487"
