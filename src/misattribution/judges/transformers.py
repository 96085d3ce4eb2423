"""Judge backend that runs a causal LM in-process with Hugging Face ``transformers``.

The model and tokenizer load once; :meth:`TransformersJudge.generate` renders each conversation with
the chat template (``add_generation_prompt=True``), left-pads a batch, runs ``model.generate`` and
returns only the newly generated text.

Usage::

    from misattribution.judges.base import SamplingParams
    from misattribution.judges.transformers import TransformersJudge

    judge = TransformersJudge("Qwen/Qwen2.5-7B-Instruct", device="cuda", dtype="bfloat16")
    texts = judge.generate([[{"role": "user", "content": "Evaluate: ..."}]])

    # deterministic decoding, e.g. for a regression test
    greedy = TransformersJudge("path/to/checkpoint", sampling=SamplingParams(greedy=True))

Failures never drop an item: a batch that raises (typically CUDA out-of-memory) is retried one prompt
at a time, and a prompt that still fails comes back as a :class:`~misattribution.judges.base.GenerationError`
in its place.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from misattribution._extras import missing_extra
from misattribution.judges.base import GenerationError, Messages, SamplingParams

try:  # the `local` extra; without it, an error naming the extra instead of "No module named 'torch'"
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
except ImportError as err:
    raise (missing_extra(err, "judging with a local model (the transformers judge)") or err) from None

logger = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(dtype: str | torch.dtype) -> str | torch.dtype:
    """``"auto"`` stays ``"auto"`` (the checkpoint's own dtype); a name becomes its ``torch.dtype``.

    >>> resolve_dtype("bfloat16")
    torch.bfloat16
    """
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be 'auto', a torch.dtype or one of {sorted(_DTYPES)}, got {dtype!r}")
    return _DTYPES[dtype]


class TransformersJudge:
    """Run a judge checkpoint with ``transformers`` (implements :class:`~misattribution.judges.base.Judge`).

    Args:
        model: a local directory, a Hub id, or an already loaded ``PreTrainedModel`` (used as is, moved
            only if ``device`` / ``dtype`` ask for it).
        tokenizer: a tokenizer, a path or Hub id to load one from, or ``None`` to load the model's own.
        sampling: decoding settings; the defaults are the paper's. ``greedy=True`` disables sampling.
            With ``seed`` set, sampling is reproducible for the same prompts and ``batch_size``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"`` (``device_map="auto"``, needs
            ``accelerate``). ``None``: CUDA when available, else CPU (a loaded model stays put).
        dtype: ``"auto"`` (the checkpoint's dtype), ``"float32"``, ``"bfloat16"``, ``"float16"`` or a
            ``torch.dtype``.
        batch_size: prompts per ``model.generate`` call.
        trust_remote_code: passed to ``from_pretrained``; leave ``False`` unless you trust the repo.
        chat_template: a Jinja chat template that replaces the tokenizer's own.
        revision: branch, tag or commit of a Hub model.
        max_input_tokens: prompts longer than this (in tokens) come back as a ``GenerationError``
            instead of being run; ``None``: no limit.
    """

    def __init__(
        self,
        model: str | PreTrainedModel,
        tokenizer: str | PreTrainedTokenizerBase | None = None,
        *,
        sampling: SamplingParams = SamplingParams(),  # noqa: B008 - frozen dataclass, safe to share
        device: str | None = None,
        dtype: str | torch.dtype = "auto",
        batch_size: int = 8,
        trust_remote_code: bool = False,
        chat_template: str | None = None,
        revision: str | None = None,
        max_input_tokens: int | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.sampling = sampling
        self.batch_size = batch_size
        self.trust_remote_code = trust_remote_code
        self.revision = revision
        self.max_input_tokens = max_input_tokens
        self.model = self._load_model(model, device, resolve_dtype(dtype)).eval()
        self.model_id = model if isinstance(model, str) else (self.model.name_or_path or type(model).__name__)
        self.tokenizer = self._load_tokenizer(tokenizer)
        self.chat_template = chat_template or self.tokenizer.chat_template
        if not self.chat_template:
            raise ValueError(f"the tokenizer of {self.model_id!r} has no chat template: pass chat_template=")
        self._eos_token_ids = self._end_of_sequence_ids()
        self._pad_token_id = self._padding_id()

    # -- loading -------------------------------------------------------------------------------------

    def _hub_kwargs(self, *, with_revision: bool = True) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        if with_revision and self.revision is not None:
            kwargs["revision"] = self.revision
        return kwargs

    def _load_model(
        self, model: str | PreTrainedModel, device: str | None, dtype: str | torch.dtype
    ) -> PreTrainedModel:
        if not isinstance(model, str):
            if dtype != "auto":
                model = model.to(dtype)
            return model.to(device) if device not in (None, "auto") else model
        kwargs = self._hub_kwargs() | {"dtype": dtype}
        if device == "auto":
            return AutoModelForCausalLM.from_pretrained(model, device_map="auto", **kwargs)
        loaded = AutoModelForCausalLM.from_pretrained(model, **kwargs)
        return loaded.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def _load_tokenizer(self, tokenizer: str | PreTrainedTokenizerBase | None) -> PreTrainedTokenizerBase:
        if tokenizer is None:
            if not self.model.name_or_path:
                raise ValueError("the model does not say where it was loaded from: pass tokenizer=")
            return AutoTokenizer.from_pretrained(self.model.name_or_path, **self._hub_kwargs())
        if isinstance(tokenizer, str):  # another repository: the model's revision means nothing there
            return AutoTokenizer.from_pretrained(tokenizer, **self._hub_kwargs(with_revision=False))
        return tokenizer

    def _end_of_sequence_ids(self) -> list[int]:
        # Stop at the generation config's EOS *and* the tokenizer's: a base model's config often
        # names only <|endoftext|>, while its chat template ends turns with another token.
        configured = self.model.generation_config.eos_token_id
        ids = [configured] if isinstance(configured, int) else list(configured or [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        if not ids:
            raise ValueError(f"{self.model_id!r} defines no end-of-sequence token: generation would never stop")
        return ids

    def _padding_id(self) -> int:
        for candidate in (self.tokenizer.pad_token_id, self.model.generation_config.pad_token_id):
            if candidate is not None:
                return candidate
        return self._eos_token_ids[0]  # masked out by the attention mask, so any id would do

    # -- the Judge protocol ---------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """What shapes the generated text: backend, weights revision, sampling, dtype, template, limits.

        ``batch_size`` and ``device`` are left out on purpose, so a cache keyed on these settings survives
        a smaller batch after an out-of-memory error: under greedy decoding they only move float
        rounding; under seeded sampling they change which sample is drawn, not how it is drawn.
        """
        return {
            "backend": "transformers",
            "revision": self.revision,
            "sampling": self.sampling.to_dict(),
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "chat_template_sha256": hashlib.sha256(self.chat_template.encode()).hexdigest(),
            "max_input_tokens": self.max_input_tokens,
        }

    def render_prompt(self, messages: Messages) -> str:
        """The exact string the model is fed for ``messages`` (chat template + generation prompt).

        Training must build prompts with this too, so the judge sees byte-identical prompts.
        """
        return self.tokenizer.apply_chat_template(
            messages, chat_template=self.chat_template, tokenize=False, add_generation_prompt=True
        )

    def generate(self, prompts: Sequence[Messages]) -> list[str | GenerationError]:
        """One generated text (or a :class:`GenerationError`) per prompt, in order."""
        results: list[str | GenerationError | None] = [None] * len(prompts)
        encoded: dict[int, list[int]] = {}
        for index, messages in enumerate(prompts):
            item = self._encode(messages)
            if isinstance(item, GenerationError):
                results[index] = item
            else:
                encoded[index] = item
        # Longest first: similar lengths share a batch (less padding), and an out-of-memory error
        # shows up in the first batch rather than after an hour.
        order = sorted(encoded, key=lambda index: -len(encoded[index]))
        for batch_number, start in enumerate(range(0, len(order), self.batch_size)):
            batch = order[start : start + self.batch_size]
            seed = None if self.sampling.seed is None else self.sampling.seed + batch_number
            outputs = self._generate_with_retry([encoded[index] for index in batch], seed)
            for index, output in zip(batch, outputs, strict=True):
                results[index] = output
        return results  # type: ignore[return-value]  # every slot is filled above

    # -- generation -----------------------------------------------------------------------------------

    def _encode(self, messages: Messages) -> list[int] | GenerationError:
        try:
            text = self.render_prompt(messages)
        except Exception as exc:  # a malformed conversation fails alone, not the whole run
            return GenerationError(f"chat template failed: {exc}", kind="prompt")
        # The template already wrote every special token; the tokenizer must not add a second BOS.
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if self.max_input_tokens is not None and len(ids) > self.max_input_tokens:
            return GenerationError(
                f"prompt has {len(ids)} tokens, more than max_input_tokens={self.max_input_tokens}",
                kind="prompt_too_long",
            )
        return ids

    def _generate_with_retry(self, batch: list[list[int]], seed: int | None) -> list[str | GenerationError]:
        try:
            return self._generate_batch(batch, seed)
        except Exception as exc:
            if len(batch) == 1:
                return [_as_error(exc, attempts=1)]
            logger.warning("batch of %d failed (%s); retrying one prompt at a time", len(batch), exc)
            self._release_memory()
        outputs: list[str | GenerationError] = []
        for ids in batch:
            try:
                outputs.extend(self._generate_batch([ids], seed))
            except Exception as exc:
                self._release_memory()
                outputs.append(_as_error(exc, attempts=2))
        return outputs

    def _generate_batch(self, batch: list[list[int]], seed: int | None) -> list[str]:
        input_ids, attention_mask = left_pad(batch, self._pad_token_id)
        device = self.model.device
        with torch.inference_mode(), self._seeded(seed):
            output = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                **self._generation_kwargs(),
            )
        new_tokens = output[:, input_ids.shape[1] :]
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    def _generation_kwargs(self) -> dict[str, Any]:
        # Every setting explicit: transformers fills unset ones from the checkpoint's
        # generation_config.json, which would silently override the sampling we report in settings().
        s = self.sampling
        kwargs: dict[str, Any] = {
            "max_new_tokens": s.max_new_tokens,
            "repetition_penalty": s.repetition_penalty,
            "eos_token_id": self._eos_token_ids,
            "pad_token_id": self._pad_token_id,
            "do_sample": not s.greedy,
        }
        if not s.greedy:
            kwargs |= {"temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k}
        return kwargs

    @contextlib.contextmanager
    def _seeded(self, seed: int | None) -> Iterator[None]:
        if seed is None:
            yield
            return
        # fork_rng restores the caller's global RNG afterwards: seeding is local to this batch.
        cuda_devices = sorted({p.device.index or 0 for p in self.model.parameters() if p.device.type == "cuda"})
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            yield

    def _release_memory(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token id lists into ``(input_ids, attention_mask)``: generation continues at the right edge.

    >>> ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    >>> ids.tolist(), mask.tolist()
    ([[5, 6, 7], [0, 0, 8]], [[1, 1, 1], [0, 0, 1]])
    """
    width = max(len(seq) for seq in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            input_ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            attention_mask[row, width - len(seq) :] = 1
    return input_ids, attention_mask


def _as_error(exc: Exception, *, attempts: int) -> GenerationError:
    kind = "out_of_memory" if isinstance(exc, torch.cuda.OutOfMemoryError) else "error"
    return GenerationError(f"{type(exc).__name__}: {exc}", kind=kind, attempts=attempts)
