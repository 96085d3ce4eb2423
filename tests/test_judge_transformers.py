"""The tiny offline model and the transformers judge backend, run for real on CPU."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2ForCausalLM

import misattribution.judges.transformers as transformers_backend
from misattribution.judges.base import GenerationError, Judge, SamplingParams
from misattribution.judges.transformers import TransformersJudge, left_pad, resolve_dtype
from misattribution.testing import tiny_model
from misattribution.testing.tiny_model import IM_END, build_tiny_model, build_tokenizer

GREEDY = SamplingParams(greedy=True, max_new_tokens=12)

SHORT = [{"role": "user", "content": "Score: 5"}]
LONG = [
    {"role": "system", "content": "You are an expert evaluator. Read the question and the model's answer."},
    {"role": "user", "content": "Question: 48 + 24? Model answer: 72. Give feedback, then a score from 1 to 5."},
]
PROMPTS = [
    SHORT,
    LONG,
    [{"role": "user", "content": "请严格、公正地评估下面的回答。反馈：回答误解了问题。"}],
    [{"role": "user", "content": "Feedback: the format is wrong."}],
    [{"role": "user", "content": "错误归因：计算错误。评分：2"}],
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny model's matrices are too small to split: on a busy 2-core machine two OpenMP threads
    spin against each other and make these tests 3x slower. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def greedy_judge(tiny_model_dir):
    return TransformersJudge(str(tiny_model_dir), sampling=GREEDY, device="cpu")


# -- the tiny model --------------------------------------------------------------------------------


def test_tiny_model_reloads_with_the_requested_shape(tiny_model_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert isinstance(model, Qwen2ForCausalLM)
    config = model.config
    assert (config.hidden_size, config.intermediate_size, config.num_hidden_layers) == (64, 128, 2)
    assert (config.num_attention_heads, config.num_key_value_heads, config.tie_word_embeddings) == (4, 2, True)
    assert config.vocab_size == len(tokenizer) == tiny_model.VOCAB_SIZE
    assert sum(p.numel() for p in model.parameters()) < 200_000
    assert (tokenizer.eos_token, tokenizer.pad_token) == (IM_END, "<|endoftext|>")
    assert "<|im_start|>" in tokenizer.all_special_tokens
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids(IM_END)


def test_tiny_model_is_deterministic_given_the_seed(tmp_path):
    weights = {
        name: (build_tiny_model(tmp_path / name, seed=seed) / "model.safetensors").read_bytes()
        for name, seed in [("a", 0), ("b", 0), ("c", 1)]
    }
    assert weights["a"] == weights["b"]
    assert weights["a"] != weights["c"]


def test_tiny_model_command_line(tmp_path, capsys):
    tiny_model.main([str(tmp_path / "cli"), "--seed", "3"])
    assert capsys.readouterr().out.strip() == str(tmp_path / "cli")
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= {
        p.name for p in (tmp_path / "cli").iterdir()
    }


@pytest.mark.parametrize(
    "text",
    [
        "Feedback: The answer misreads the question.\n\nScore: 2",
        "反馈：回答误解了问题，计算出的总数是错误的。评分：2",
        "Mixed 中英文 text, digits 12345 and an emoji 🙂 (never seen in training).",
    ],
)
def test_tokenizer_round_trips_english_and_chinese(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    # What AutoTokenizer reloads splits text exactly like the tokenizer that was trained and saved.
    assert ids == build_tokenizer()(text, add_special_tokens=False)["input_ids"]


def test_tokenizer_learned_merges_for_chinese(tokenizer):
    text = "错误类别：计算错误。评分：2"
    assert len(tokenizer(text)["input_ids"]) < len(text.encode()) / 2


def test_chat_template_marks_the_assistant_turn_for_training(tokenizer):
    conversation = [*SHORT, {"role": "assistant", "content": "Feedback: fine. Score: 5"}]
    encoded = tokenizer.apply_chat_template(conversation, return_dict=True, return_assistant_tokens_mask=True)
    trained = [token for token, mask in zip(encoded["input_ids"], encoded["assistant_masks"]) if mask]
    assert tokenizer.decode(trained) == "Feedback: fine. Score: 5<|im_end|>"  # the stop token is learned
    prompt = tokenizer.apply_chat_template(SHORT, tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nScore: 5<|im_end|>\n<|im_start|>assistant\n"


# -- TransformersJudge -----------------------------------------------------------------------------


def test_judge_implements_the_protocol(greedy_judge, tiny_model_dir):
    assert isinstance(greedy_judge, Judge)
    assert greedy_judge.model_id == str(tiny_model_dir)
    assert greedy_judge.model.device.type == "cpu"
    assert greedy_judge.generate([]) == []


def test_loaded_model_instance_is_used_as_is(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    judge = TransformersJudge(model, sampling=GREEDY)
    assert judge.model is model
    assert judge.model_id == str(tiny_model_dir)  # from model.name_or_path
    assert judge.tokenizer.eos_token == IM_END


def test_generate_returns_one_text_per_prompt_in_order(tiny_model_dir):
    # batch_size=2 over 5 prompts of different lengths: three batches, sorted by length inside.
    judge = TransformersJudge(str(tiny_model_dir), sampling=GREEDY, batch_size=2)
    texts = judge.generate(PROMPTS)
    assert len(texts) == len(PROMPTS)
    assert all(isinstance(text, str) and text for text in texts)
    assert len(set(texts)) == len(PROMPTS)  # distinct answers, so a reordering could not go unseen
    assert texts == [judge.generate([prompt])[0] for prompt in PROMPTS]


def test_left_padding_leaves_greedy_output_unchanged(greedy_judge):
    alone = greedy_judge.generate([SHORT])[0]
    assert greedy_judge.generate([SHORT, LONG])[0] == alone
    assert greedy_judge.generate([LONG, SHORT, LONG])[1] == alone

    # The check has teeth: the same padded batch without its attention mask answers differently.
    short_ids, long_ids = (greedy_judge._encode(prompt) for prompt in (SHORT, LONG))
    input_ids, _ = left_pad([short_ids, long_ids], greedy_judge._pad_token_id)
    with torch.inference_mode():
        unmasked = greedy_judge.model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **greedy_judge._generation_kwargs()
        )
    assert greedy_judge.tokenizer.decode(unmasked[0, input_ids.shape[1] :], skip_special_tokens=True) != alone


def test_greedy_decoding_is_deterministic(greedy_judge):
    assert greedy_judge.generate(PROMPTS) == greedy_judge.generate(PROMPTS)


def test_seeded_sampling_is_reproducible_and_leaves_the_global_rng_alone(tiny_model_dir):
    def sampled(seed):
        sampling = SamplingParams(max_new_tokens=12, seed=seed)
        return TransformersJudge(str(tiny_model_dir), sampling=sampling).generate(PROMPTS)

    rng_before = torch.random.get_rng_state()
    first = sampled(7)
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert sampled(7) == first
    assert sampled(8) != first


@pytest.mark.parametrize("limit", [1, 7])
def test_max_new_tokens_bounds_the_answer_length(tiny_model_dir, monkeypatch, limit):
    judge = TransformersJudge(str(tiny_model_dir), sampling=SamplingParams(greedy=True, max_new_tokens=limit))
    calls = []
    real_generate = judge.model.generate

    def spy(*args, **kwargs):
        output = real_generate(*args, **kwargs)
        calls.append((kwargs["input_ids"].shape[1], output))
        return output

    monkeypatch.setattr(judge.model, "generate", spy)
    texts = judge.generate(PROMPTS)
    [(prompt_width, output)] = calls  # five prompts, one batch
    new_tokens = output[:, prompt_width:]
    # Exactly the limit: the random model does not emit <|im_end|> early, so the bound is what stops it.
    assert new_tokens.shape[1] == limit
    assert sorted(texts) == sorted(judge.tokenizer.batch_decode(new_tokens, skip_special_tokens=True))


def test_render_prompt_is_exactly_what_the_tokenizer_renders(greedy_judge, tokenizer):
    for prompt in PROMPTS:
        expected = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        assert greedy_judge.render_prompt(prompt) == expected
        assert expected.endswith("<|im_start|>assistant\n")


def test_chat_template_override_is_used(tiny_model_dir):
    template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}[assistant] "
    judge = TransformersJudge(str(tiny_model_dir), sampling=GREEDY, chat_template=template)
    assert judge.render_prompt(SHORT) == "[user] Score: 5\n[assistant] "
    assert (
        judge.settings()["chat_template_sha256"]
        != TransformersJudge(str(tiny_model_dir)).settings()["chat_template_sha256"]
    )


def test_settings_are_json_and_follow_the_sampling(tiny_model_dir, greedy_judge):
    settings = greedy_judge.settings()
    assert json.loads(json.dumps(settings)) == settings
    assert settings["backend"] == "transformers"
    assert settings["dtype"] == "float32"
    assert settings["sampling"] == GREEDY.to_dict()
    assert greedy_judge.settings() == settings  # stable

    default = TransformersJudge(str(tiny_model_dir)).settings()
    cooler = TransformersJudge(str(tiny_model_dir), sampling=SamplingParams(temperature=0.5)).settings()
    assert default["sampling"]["temperature"] == 0.8
    assert len({json.dumps(s, sort_keys=True) for s in (settings, default, cooler)}) == 3


def test_dtype_is_applied_and_reported(tiny_model_dir):
    judge = TransformersJudge(str(tiny_model_dir), sampling=GREEDY, dtype="bfloat16")
    assert judge.model.dtype == torch.bfloat16
    assert judge.settings()["dtype"] == "bfloat16"
    assert all(isinstance(text, str) for text in judge.generate(PROMPTS[:2]))
    assert resolve_dtype("auto") == "auto"
    with pytest.raises(ValueError, match="float32"):
        resolve_dtype("fp8")


@pytest.mark.parametrize("requested", [False, True])
def test_trust_remote_code_is_off_unless_requested(tiny_model_dir, monkeypatch, requested):
    seen = {}

    def recording(name, loader):
        def load(path, **kwargs):
            seen[name] = kwargs
            return loader(path, **kwargs)

        return load

    monkeypatch.setattr(
        transformers_backend.AutoModelForCausalLM,
        "from_pretrained",
        recording("model", AutoModelForCausalLM.from_pretrained),
    )
    monkeypatch.setattr(
        transformers_backend.AutoTokenizer, "from_pretrained", recording("tokenizer", AutoTokenizer.from_pretrained)
    )
    options = {"trust_remote_code": True, "revision": "main"} if requested else {}
    judge = TransformersJudge(str(tiny_model_dir), **options)
    assert seen["model"]["trust_remote_code"] is requested
    assert seen["tokenizer"]["trust_remote_code"] is requested
    assert seen["model"].get("revision") == seen["tokenizer"].get("revision") == judge.settings()["revision"]
    assert ("revision" in seen["model"]) is requested  # passed only when set


def test_a_failing_batch_is_retried_item_by_item(tiny_model_dir, greedy_judge, monkeypatch):
    expected = greedy_judge.generate(PROMPTS)
    judge = TransformersJudge(str(tiny_model_dir), sampling=GREEDY, batch_size=8)
    poison = judge._encode(PROMPTS[2])
    real_generate = judge.model.generate

    def out_of_memory_on_batches(*args, **kwargs):
        input_ids = kwargs["input_ids"]
        if input_ids.shape[0] > 1 or input_ids[0, -len(poison) :].tolist() == poison:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(judge.model, "generate", out_of_memory_on_batches)
    results = judge.generate(PROMPTS)
    assert results[2] == GenerationError("OutOfMemoryError: CUDA out of memory (simulated)", kind="out_of_memory")
    assert results[2].attempts == 2
    assert results[:2] + results[3:] == expected[:2] + expected[3:]


def test_bad_prompts_fail_alone(tiny_model_dir):
    judge = TransformersJudge(str(tiny_model_dir), sampling=GREEDY, max_input_tokens=20)
    results = judge.generate([SHORT, LONG, [{"content": "no role"}]])
    assert isinstance(results[0], str)
    assert isinstance(results[1], GenerationError) and results[1].kind == "prompt_too_long"
    assert isinstance(results[2], GenerationError) and results[2].kind == "prompt"
    assert judge.settings()["max_input_tokens"] == 20


def test_left_pad():
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
