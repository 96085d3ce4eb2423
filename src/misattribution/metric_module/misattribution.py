"""MisAttribution: an LLM judge's feedback, error attribution and score, and its agreement with humans.

This file is the ``evaluate`` module. It is a thin shell over the ``misattribution`` package:
judging lives in ``misattribution.evaluation.judge_rows``, agreement in
``misattribution.evaluation.agreement``.
"""

import hashlib

import datasets
import evaluate

import misattribution
from misattribution.citations import BIBTEX
from misattribution.evaluation import agreement, judge_pair_rows, judge_rows, pairwise_agreement, pairwise_report
from misattribution.judges import SamplingParams, load_judge

_CITATION = BIBTEX

_DESCRIPTION = """\
MisAttribution asks an LLM judge *why* an answer fails, not only how well it does. For each
(question, answer, optional reference) the judge writes feedback, attributes every error to a
two-level taxonomy (6 primary / 15 secondary categories by default) and gives a score from 0 to 3.

Two modes:

* **judge mode** (text references or none): `predictions` are the answers to judge, `questions`
  the questions, `references` optional reference answers. Returns per-row feedback,
  misattribution, score and parse status, and the category distribution.
* **agreement mode** (numeric references): `predictions` are judge outputs (raw texts or scores),
  `references` human scores. Returns Pearson, Spearman and Kendall correlations with bootstrap
  intervals and, given `human_misattribution`, error-detection precision / recall / F1 and category
  micro / macro F1.

**Pairwise mode** (`evaluate.load("misattribution", mode="pairwise")`): which of two responses is
better (A, B or tie) and the misattribution of the worse one. `predictions` are a judge's verdicts or raw
outputs (or leave them out and pass `questions`, `answers_a`, `answers_b` and a judge), `references`
human preferences (A / B / tie). Returns accuracy (tie as a third class; ties counting half; without
ties), Cohen's kappa over {A, B, tie} and, with both orders judged, the position-consistency rate.

The judge is chosen by `config_name` (`evaluate.load("misattribution", "path/or/hub-id")`) or by
the `judge` argument: a local path or Hub id (transformers), `vllm:<model>`, an OpenAI-compatible
URL (`http://host:8000/v1`), or a `misattribution.judges.Judge` object.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str` or of numbers): judge mode: the answers to judge. Agreement mode:
        raw judge outputs (parsed here) or judge scores.
    references (`list` of `str`, or of numbers): judge mode: reference answers ("" for none), or
        leave out. Agreement mode: human scores.
    questions (`list` of `str`): judge mode: the questions.
    judge (`str` or `Judge`, *optional*): overrides the judge chosen by `config_name`.
    criteria (`list` of `str`, *optional*): judge mode: per-row evaluation criteria.
    human_scores (`list` of numbers, *optional*): judge mode: also report agreement with these.
    human_misattribution (`list` of `list` of `str`, *optional*): human category lists (ids or
        names); enables detection and category scores.
    predicted_misattribution (`list` of `list` of `str`, *optional*): agreement mode with judge
        scores: the judge's category lists.
    taxonomy (`str`, *optional*): a shipped taxonomy name or a YAML path (default `attridata-v1`).
    language (`str`, *optional*): prompt language, "en", "zh" or "auto" (default "en").
    order (`str`, *optional*): the output fields in the order the judge was trained on (default
        "feedback,misattribution,score"; e.g. "score,feedback" for the paper's ablation judges). Also
        how raw judge texts are read in agreement mode.
    greedy (`bool`, *optional*): deterministic decoding instead of the paper's sampling.
    max_new_tokens (`int`, *optional*): generation budget per row (default 512).
    batch_size (`int`, *optional*): prompts per batch (default 16).
    device (`str`, *optional*): transformers device, e.g. "cpu", "cuda", "auto".
    n_resamples (`int`, *optional*): bootstrap resamples for correlation intervals (default 1000).
    seed (`int`, *optional*): seed of the bootstrap and of sampling.

    Pairwise mode (`evaluate.load("misattribution", mode="pairwise")`):

    predictions (`list` of `str`): the judge's verdicts ("A", "B", "tie") or raw pairwise outputs, the pair
        shown as (A, B); leave out to judge `questions` / `answers_a` / `answers_b` with a judge.
    references (`list` of `str`): human preferences, "A", "B" or "tie" ("" for an unlabelled pair).
    swapped_predictions (`list` of `str`, *optional*): the judge's verdicts or outputs with the pair shown
        as (B, A), as written; reconciled with `predictions` (disagreeing orders count as a tie).
    questions, answers_a, answers_b (`list` of `str`): the pairs to judge.
    both_orders (`bool`, *optional*): judge each pair in both orders (position-bias control).
    rubrics (`list`, *optional*): per-row rubrics, one description per score level (dict or "3: ... 0: ...").

Returns:
    judge mode: `feedback`, `misattribution`, `score`, `status`, `problems` (one entry per row),
        `n`, `parse_rate`, `generation_error_rate`, `mean_score`, `error_rate`,
        `category_distribution`, and the agreement figures when `human_scores` is given.
    agreement mode: `pearson`, `spearman`, `kendall` with `*_ci_low` / `*_ci_high`, `n`, and with
        categories `detection_precision`, `detection_recall`, `detection_f1`, `detection_accuracy`,
        `micro_f1`, `macro_f1`, `n_labelled`; `parse_failures` counts judge texts that did not parse
        completely. A row whose score did not parse drops out of the correlations, one whose categories
        did not parse out of the category scores (`n`, `n_labelled`): never read as a 0 or "no error".
    pairwise mode: `accuracy` (a tie is a third class), `accuracy_ties_half` (a tie against A or B counts
        half), `accuracy_without_ties` (`n_without_ties` pairs where neither side says tie), `cohen_kappa`
        over {A, B, tie}, `position_consistency` (`n_position_checked`), `confusion`, `n`, `n_labelled`,
        `n_unread` (pairs without a readable verdict: left out, never guessed), `parse_failures`. Judging,
        also per-row `verdict`, `verdict_ab`, `verdict_ba`, `consistent`, `feedback`, `misattribution`,
        `status`, `problems`, with the figures prefixed `agreement_` when references are given.

Examples:
    Agreement of raw judge outputs with human scores and labels:

    >>> metric = evaluate.load("misattribution")
    >>> outputs = [
    ...     "Feedback: Correct.\\nMisattribution: None\\nScore: 3",
    ...     "Feedback: 3 x 4 is 12, not 14.\\nMisattribution: Result Error\\nScore: 1",
    ...     "Feedback: Right result, but a wrong step.\\nMisattribution: Process Error\\nScore: 2",
    ...     "Feedback: It answers another question.\\nMisattribution: Irrelevance\\nScore: 0",
    ... ]
    >>> results = metric.compute(
    ...     predictions=outputs,
    ...     references=[3, 1, 1, 0],
    ...     human_misattribution=[[], ["result_error"], ["process_error", "result_error"], ["irrelevance"]],
    ...     n_resamples=0,
    ... )
    >>> round(results["spearman"], 4), results["detection_f1"], round(results["micro_f1"], 4)
    (0.9487, 1.0, 0.8571)

    Judging with an OpenAI-compatible server (here the package's local stand-in, which answers the
    same judgment to every request):

    >>> from misattribution.testing.fake_openai import FakeOpenAIServer
    >>> with FakeOpenAIServer(responder=lambda messages: "Feedback: 5 is wrong.\\nMisattribution: 结果错误\\nScore: 1") as server:
    ...     results = metric.compute(
    ...         questions=["What is 2 + 2?"], predictions=["5"], references=["4"], judge=server.url, greedy=True
    ...     )
    >>> results["misattribution"], results["score"], results["status"], results["parse_rate"]
    ([['result_error']], [1], ['ok'], 1.0)

    Pairwise: a judge's verdicts against human preferences, with the swapped order for position bias:

    >>> pairwise = evaluate.load("misattribution", mode="pairwise")
    >>> results = pairwise.compute(
    ...     predictions=["A", "Better response: B", "[RESULT] A", "tie"],
    ...     swapped_predictions=["B", "A", "A", "tie"],
    ...     references=["A", "B", "B", "tie"],
    ... )
    >>> results["accuracy"], results["accuracy_ties_half"], results["position_consistency"]
    (0.75, 0.875, 0.75)
"""

_JUDGE_KWARGS = ("device", "dtype", "model", "concurrency", "timeout", "max_retries", "api_key")


def _safe_config_name(config_name):
    """evaluate builds its cache path from config_name, so a path or URL must not be used verbatim."""
    if not config_name or config_name == "default":
        return "default"
    return "judge-" + hashlib.sha256(config_name.encode("utf-8")).hexdigest()[:16]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Misattribution(evaluate.Metric):
    def __init__(self, config_name=None, mode="absolute", **kwargs):
        if mode not in ("absolute", "pairwise"):
            raise ValueError(f"mode must be 'absolute' or 'pairwise', got {mode!r}")
        self.mode = mode
        self.judge_spec = None if config_name in (None, "default") else config_name
        self._judges = {}
        super().__init__(config_name=_safe_config_name(config_name), **kwargs)

    def _info(self):
        if self.mode == "pairwise":
            features = [
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")})
            ]
        else:
            features = [
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("float64")}),
                datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
            ]
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=features,
            reference_urls=["https://arxiv.org/abs/2507.08459", "https://openreview.net/forum?id=Q5eo3VMxF6"],
        )

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Judge the answers, or measure agreement with human scores (see the arguments below)."""
        # evaluate needs both inputs; judge mode without references means empty references.
        if self.mode == "pairwise" and predictions is None and kwargs.get("answers_a") is not None:
            predictions = [""] * len(kwargs["answers_a"])  # the judge makes the verdicts
        if references is None and predictions is not None:
            references = [""] * len(predictions)
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _judge(self, spec, sampling, judge_kwargs):
        spec = spec if spec is not None else self.judge_spec
        if spec is None:
            raise ValueError(
                "no judge: load the metric with a judge, e.g. evaluate.load('misattribution', 'path/or/hub-id'), "
                "or pass judge='path/or/hub-id' | 'http://host:8000/v1' | a misattribution Judge to compute()"
            )
        if not isinstance(spec, str):
            return load_judge(spec)
        key = (spec, sampling, tuple(sorted(judge_kwargs.items())))
        if key not in self._judges:  # load the model once, not at every compute()
            self._judges[key] = load_judge(spec, sampling=sampling, **judge_kwargs)
        return self._judges[key]

    def _compute(
        self,
        predictions,
        references,
        questions=None,
        judge=None,
        criteria=None,
        human_scores=None,
        human_misattribution=None,
        predicted_misattribution=None,
        taxonomy=None,
        language="en",
        order="feedback,misattribution,score",
        greedy=False,
        max_new_tokens=512,
        batch_size=16,
        n_resamples=1000,
        seed=0,
        **judge_kwargs,
    ):
        if self.mode == "pairwise":
            return self._compute_pairwise(
                predictions, references, questions, judge, criteria, taxonomy, language, greedy, max_new_tokens,
                batch_size, seed, **judge_kwargs,
            )  # fmt: skip
        unknown = set(judge_kwargs) - set(_JUDGE_KWARGS)
        if unknown:
            raise TypeError(f"unexpected arguments {sorted(unknown)}")
        numeric_references = len(references) > 0 and not isinstance(references[0], str)
        if numeric_references:
            return agreement(
                predictions,
                references,
                predicted_misattribution=predicted_misattribution,
                human_misattribution=human_misattribution,
                taxonomy=taxonomy,
                n_resamples=n_resamples,
                seed=seed,
                order=order,
            )
        if questions is None:
            raise ValueError("judge mode needs questions=[...] (agreement mode needs numeric references)")
        sampling = SamplingParams(greedy=greedy, max_new_tokens=max_new_tokens, seed=seed)
        results = judge_rows(
            questions,
            predictions,
            references,
            judge=self._judge(judge, sampling, judge_kwargs),
            criteria=criteria,
            taxonomy=taxonomy,
            language=language,
            order=order,
            batch_size=batch_size,
        )
        if human_scores is not None:
            report = agreement(
                [s for s in results["score"]],
                human_scores,
                predicted_misattribution=results["misattribution"],
                human_misattribution=human_misattribution,
                taxonomy=taxonomy,
                n_resamples=n_resamples,
                seed=seed,
            )
            results.update({f"agreement_{k}": v for k, v in report.items()})
        results["misattribution_version"] = misattribution.__version__
        return results

    def _compute_pairwise(
        self,
        predictions,
        references,
        questions,
        judge,
        criteria,
        taxonomy,
        language,
        greedy,
        max_new_tokens,
        batch_size,
        seed,
        answers_a=None,
        answers_b=None,
        rubrics=None,
        both_orders=False,
        swapped_predictions=None,
        **judge_kwargs,
    ):
        unknown = set(judge_kwargs) - set(_JUDGE_KWARGS)
        if unknown:
            raise TypeError(f"unexpected arguments {sorted(unknown)}")
        if answers_a is None:
            if answers_b is not None or questions is not None:
                raise ValueError("pairwise judging needs questions, answers_a and answers_b together")
            return pairwise_agreement(
                predictions, references, swapped_predictions=swapped_predictions, taxonomy=taxonomy
            )
        if questions is None or answers_b is None:
            raise ValueError("pairwise judging needs questions, answers_a and answers_b together")
        sampling = SamplingParams(greedy=greedy, max_new_tokens=max_new_tokens, seed=seed)
        results = judge_pair_rows(
            questions,
            answers_a,
            answers_b,
            judge=self._judge(judge, sampling, judge_kwargs),
            criteria=criteria,
            rubrics=rubrics,
            both_orders=both_orders,
            taxonomy=taxonomy,
            language=language,
            batch_size=batch_size,
        )
        if any(r not in (None, "") for r in references):
            from misattribution.pairwise import parse_preferences

            report = pairwise_report(
                results["verdict"],
                parse_preferences(list(references), "references", "references"),
                verdicts_ab=results["verdict_ab"] if both_orders else None,
                verdicts_ba=results["verdict_ba"] if both_orders else None,
            )
            results.update({f"agreement_{k}": v for k, v in report.items()})
        results["misattribution_version"] = misattribution.__version__
        return results
