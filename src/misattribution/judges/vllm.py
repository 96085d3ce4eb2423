"""Judge backend for vLLM offline batch inference (one or more CUDA GPUs).

vLLM is an optional dependency, imported only when a :class:`VLLMJudge` is built::

    pip install 'misattribution[vllm]'

Usage::

    from misattribution.judges.vllm import VLLMJudge

    judge = VLLMJudge("Qwen/Qwen2.5-7B-Instruct", tensor_parallel_size=2, max_model_len=8192)
    texts = judge.generate([[{"role": "user", "content": "Evaluate: ..."}]])

The whole list of prompts goes to ``vllm.LLM.chat`` at once: vLLM schedules its own batches. If that
call raises (a prompt longer than ``max_model_len``, a conversation the chat template rejects), the
prompts are retried one at a time and each one that still fails comes back as a
:class:`~misattribution.judges.base.GenerationError` in its place.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from misattribution.judges.base import GenerationError, Messages, SamplingParams

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'misattribution[vllm]'"


def vllm_sampling_kwargs(sampling: SamplingParams) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams`` that reproduce ``sampling``.

    Greedy decoding is vLLM's ``temperature=0``; a ``top_k`` of 0 or less means "no top-k", which vLLM
    spells ``-1`` (every version accepts it).

    >>> vllm_sampling_kwargs(SamplingParams(greedy=True, max_new_tokens=64))["temperature"]
    0.0
    """
    kwargs: dict[str, Any] = {
        "max_tokens": sampling.max_new_tokens,
        "repetition_penalty": sampling.repetition_penalty,
        "seed": sampling.seed,
    }
    if sampling.greedy:
        return kwargs | {"temperature": 0.0, "top_p": 1.0, "top_k": -1}
    top_k = sampling.top_k if sampling.top_k > 0 else -1
    return kwargs | {"temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": top_k}


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        from misattribution._extras import MissingExtraError

        raise MissingExtraError(
            f"VLLMJudge needs vLLM (and a CUDA GPU): {INSTALL_HINT}", extra="vllm", name="vllm"
        ) from exc
    return vllm


class VLLMJudge:
    """Run a judge checkpoint with vLLM (implements :class:`~misattribution.judges.base.Judge`).

    Args:
        model: a local directory or a Hub id.
        tokenizer: a tokenizer path or Hub id, when it differs from ``model``.
        sampling: decoding settings; the defaults are the paper's. ``greedy=True`` is ``temperature=0``.
            ``seed`` seeds each request, so sampled answers do not depend on how vLLM batches them.
        tensor_parallel_size: GPUs to shard the model over.
        dtype: ``"auto"``, ``"float16"``, ``"bfloat16"`` or ``"float32"``.
        max_model_len: context length (prompt + answer); ``None``: the model's own.
        gpu_memory_utilization: share of GPU memory vLLM may take for weights and KV cache.
        trust_remote_code: passed to vLLM; leave ``False`` unless you trust the repo.
        chat_template: a Jinja chat template that replaces the tokenizer's own.
        revision: branch, tag or commit of a Hub model.
        engine_kwargs: anything else for ``vllm.LLM`` (``enforce_eager``, ``quantization``, ...).
    """

    def __init__(
        self,
        model: str,
        tokenizer: str | None = None,
        *,
        sampling: SamplingParams = SamplingParams(),  # noqa: B008 - frozen dataclass, safe to share
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        trust_remote_code: bool = False,
        chat_template: str | None = None,
        revision: str | None = None,
        engine_kwargs: dict[str, Any] | None = None,
    ):
        vllm = _import_vllm()
        self.model_id = model
        self.sampling = sampling
        self.dtype = dtype
        self.max_model_len = max_model_len
        self.revision = revision
        self.chat_template = chat_template
        self.llm = vllm.LLM(
            model=model,
            tokenizer=tokenizer,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            trust_remote_code=trust_remote_code,
            revision=revision,
            **(engine_kwargs or {}),
        )
        self._sampling_params = vllm.SamplingParams(**vllm_sampling_kwargs(sampling))

    def settings(self) -> dict[str, Any]:
        """What shapes the generated text: backend, weights revision, sampling, dtype, template, context."""
        return {
            "backend": "vllm",
            "revision": self.revision,
            "sampling": self.sampling.to_dict(),
            "dtype": self.dtype,
            "chat_template_sha256": (
                hashlib.sha256(self.chat_template.encode()).hexdigest() if self.chat_template else None
            ),
            "max_model_len": self.max_model_len,
        }

    def generate(self, prompts: Sequence[Messages]) -> list[str | GenerationError]:
        """One generated text (or a :class:`GenerationError`) per prompt, in order."""
        conversations = list(prompts)
        if not conversations:
            return []
        try:
            return self._chat(conversations)
        except Exception as exc:
            if len(conversations) == 1:
                return [_as_error(exc, attempts=1)]
            logger.warning("vLLM failed on %d prompts (%s); retrying one at a time", len(conversations), exc)
        results: list[str | GenerationError] = []
        for conversation in conversations:
            try:
                results.extend(self._chat([conversation]))
            except Exception as exc:
                results.append(_as_error(exc, attempts=2))
        return results

    def _chat(self, conversations: list[Messages]) -> list[str | GenerationError]:
        outputs = self.llm.chat(
            conversations,
            sampling_params=self._sampling_params,
            use_tqdm=False,
            chat_template=self.chat_template,
            add_generation_prompt=True,
        )
        if len(outputs) != len(conversations):  # never guess which answer belongs to which prompt
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(conversations)} prompts")
        return [output.outputs[0].text for output in outputs]


def _as_error(exc: Exception, *, attempts: int) -> GenerationError:
    return GenerationError(f"{type(exc).__name__}: {exc}", kind="error", attempts=attempts)
