"""Build a tiny random Qwen2-style chat model, offline, in a few seconds.

The model is useless as a judge but real in every way the code cares about: a ``Qwen2ForCausalLM``,
a byte-level BPE tokenizer that round-trips English and Chinese, a ChatML chat template (with
``{% generation %}`` markers, so TRL's ``assistant_only_loss`` works) and a generation config whose
end-of-sequence token is ``<|im_end|>``. Tests and benchmarks use it in place of a Hub checkpoint.

Usage::

    from misattribution.testing.tiny_model import build_tiny_model
    model_dir = build_tiny_model("/tmp/tiny-judge")          # then from_pretrained(model_dir)

or from the shell::

    python -m misattribution.testing.tiny_model /tmp/tiny-judge
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from misattribution._extras import missing_extra

try:  # the `local` extra; without it, an error naming the extra instead of "No module named 'torch'"
    import torch
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
except ImportError as err:
    raise (missing_extra(err, "the tiny test model") or err) from None

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]
VOCAB_SIZE = 512
_QWEN2_PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# ChatML, as Qwen writes it. The assistant turn's content *and* its <|im_end|> sit inside the
# generation markers: TRL's assistant-only loss then teaches the model to stop.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- generation -%}{{ message['content'] + '<|im_end|>' }}{%- endgeneration -%}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# Judge-like text in both languages the judge handles, so common words and characters get merges.
_CORPUS = [
    "You are an expert evaluator. Read the question, the reference answer and the model's answer.",
    "Give feedback, then name the error category, then a score from 1 to 5.",
    "Feedback: The answer misreads the question and computes the wrong total.",
    "Misattribution: Calculation error. Score: 2",
    "Feedback: The response is correct, complete and well organised. Misattribution: None. Score: 5",
    "The model ignores the instruction to answer in one sentence; the format is wrong.",
    "Question: Natalia sold clips to 48 of her friends in April, and then half as many in May.",
    "Reference answer: 72. Model answer: 48 + 24 = 72, so the answer is 72.",
    "Error categories: Knowledge error, Reasoning error, Calculation error, Format error, "
    "Instruction following error, Hallucination, Incomplete answer, Language error.",
    "Please evaluate the following response strictly and fairly.",
    "你是一名专业的评估员。请阅读问题、参考答案和模型的回答。",
    "请先给出反馈，然后指出错误类别，最后给出1到5分的评分。",
    "反馈：回答误解了问题，计算出的总数是错误的。",
    "错误归因：计算错误。评分：2",
    "反馈：回答正确、完整，条理清晰。错误归因：无。评分：5",
    "模型没有按照要求用一句话回答，格式错误。",
    "问题：小明有十二个苹果，吃掉了三个，还剩几个？参考答案：九个。",
    "错误类别：知识错误、推理错误、计算错误、格式错误、指令遵循错误、幻觉、回答不完整、语言错误。",
    "请严格、公正地评估下面的回答。",
    "The quick brown fox jumps over the lazy dog. 0123456789 ,.;:!?()[]{}'\"-+*/=%",
]


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Train the byte-level BPE tokenizer on the built-in corpus and wrap it for ``transformers``.

    Training is deterministic: the same corpus always gives the same vocabulary and merges.
    """
    bpe = Tokenizer(models.BPE())
    # Qwen2's own pipeline. transformers 5 loads any qwen2 checkpoint's tokenizer as Qwen2Tokenizer,
    # which rebuilds normaliser and pre-tokeniser from its own code: ours must match, or the saved
    # tokenizer would split text differently from the one AutoTokenizer gives back.
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: nothing is ever unknown
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        additional_special_tokens=[IM_START],
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
        model_max_length=2048,
    )


def build_tiny_model(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Build the tiny random chat model and save model, tokenizer and generation config to ``out_dir``.

    Deterministic given ``seed``: two builds with the same seed hold identical weights.

    Example:
        >>> import tempfile
        >>> from transformers import AutoModelForCausalLM
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     model = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp))
        >>> model.config.model_type, model.config.hidden_size
        ('qwen2', 64)
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        max_position_embeddings=2048,
        # Wider than the usual 0.02 so the random logits are far apart: greedy decoding then picks
        # the same token despite float noise, which the padding tests rely on.
        initializer_range=0.2,
        bos_token_id=tokenizer.convert_tokens_to_ids(ENDOFTEXT),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left untouched
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the tiny random chat model into OUT_DIR.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_tiny_model(args.out_dir, seed=args.seed))


if __name__ == "__main__":
    main()
