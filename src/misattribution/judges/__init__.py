"""Judge backends: one :class:`Judge` protocol, several implementations, imported lazily.

* :class:`~misattribution.judges.transformers.TransformersJudge`: a local path or Hub id, run with
  ``transformers`` (batched, left-padded).
* :class:`~misattribution.judges.vllm.VLLMJudge`: vLLM offline batch inference (``pip install
  'misattribution[vllm]'``).
* :class:`~misattribution.judges.openai_http.OpenAIHTTPJudge`: any OpenAI-compatible
  ``/v1/chat/completions`` server (vLLM, TGI, Inference Endpoints), one URL or several.
* :class:`~misattribution.judges.hf_inference.HFInferenceJudge`: ``huggingface_hub.InferenceClient``
  (Inference Providers, Inference Endpoints, any TGI server), spec ``hf:<model>[:<provider>]`` or
  ``hf:<url>``.
* :class:`~misattribution.judges.litellm.LiteLLMJudge`: any provider LiteLLM knows (``pip install
  'misattribution[litellm]'``), spec ``litellm:<model>``.
* :func:`~misattribution.judges.custom.load_custom_judge`: your own Python function or Judge, by
  ``module:function`` (the CLI's ``--judge``; never through :func:`load_judge`, so no spec string ever
  imports code).

:func:`load_judge` turns a short spec into a backend, so the CLI and the metric accept one string. A
backend chosen by a prefix (``vllm:``, ``hf:``, ``litellm:``) is listed in :data:`PREFIXED_BACKENDS`
(``register_backend``) and its module imported only when a spec names it.
"""

from __future__ import annotations

from typing import Any

from misattribution.judges.base import GenerationError, Judge, Messages, SamplingParams

__all__ = [
    "PREFIXED_BACKENDS",
    "GenerationError",
    "Judge",
    "Messages",
    "SamplingParams",
    "load_judge",
    "register_backend",
]

# "prefix" -> "module:callable" building the judge as callable(rest_of_spec, sampling=..., **kwargs).
PREFIXED_BACKENDS: dict[str, str] = {}


def register_backend(prefix: str, target: str) -> None:
    """Make ``load_judge("<prefix>:<rest>")`` call ``target`` (``"package.module:callable"``).

    The module is imported on first use, so an optional backend costs nothing until a spec names it.

    >>> PREFIXED_BACKENDS["hf"]
    'misattribution.judges.hf_inference:from_spec'
    """
    if not prefix.isidentifier() or ":" not in target:
        raise ValueError(
            f"register_backend: a prefix like 'hf' and a target 'module:callable', got {prefix!r}, {target!r}"
        )
    PREFIXED_BACKENDS[prefix] = target


register_backend("vllm", "misattribution.judges.vllm:VLLMJudge")
register_backend("hf", "misattribution.judges.hf_inference:from_spec")
register_backend("litellm", "misattribution.judges.litellm:from_spec")


def load_judge(spec: str | Judge, *, sampling: SamplingParams | None = None, **kwargs: Any) -> Judge:
    """Build a judge backend from a spec.

    Args:
        spec: a :class:`Judge` (returned as is); ``"http://..."`` / ``"https://..."`` for an
            OpenAI-compatible endpoint (several separated by commas); ``"vllm:<model>"`` for vLLM;
            ``"hf:<model>[:<provider>]"`` / ``"hf:<url>"`` for ``huggingface_hub.InferenceClient``;
            ``"litellm:<model>"`` for LiteLLM; anything else is a local path or Hub id for
            ``transformers``.
        sampling: generation settings (default: the paper's sampling).
        **kwargs: passed to the backend's constructor (``device``, ``dtype``, ``batch_size``,
            ``model`` for the served model name of an endpoint, ``concurrency``, ...).

    An endpoint without ``model`` is asked for it at ``/v1/models``, with the same credentials as
    every later request (:func:`~misattribution.judges.openai_http.served_model`). A URL of any other
    scheme (``ftp://...``) is refused with a ``ValueError`` instead of being taken for a model path.
    """
    if not isinstance(spec, str):
        if isinstance(spec, Judge):
            return spec
        raise TypeError(f"a judge spec must be a string or a Judge, got {type(spec).__name__}")
    sampling = sampling or SamplingParams()
    if spec.startswith(("http://", "https://")):
        from misattribution.judges.openai_http import OpenAIHTTPJudge, served_model

        urls = [url.strip() for url in spec.split(",") if url.strip()]
        model = kwargs.pop("model", None) or served_model(
            urls[0],
            api_key=kwargs.get("api_key"),
            api_key_env=kwargs.get("api_key_env", "MISATTRIBUTION_API_KEY"),
            timeout=min(float(kwargs.get("timeout", 10.0)), 30.0),
        )
        return OpenAIHTTPJudge(urls if len(urls) > 1 else urls[0], model=model, sampling=sampling, **kwargs)
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in PREFIXED_BACKENDS:
        import importlib

        module, _, name = PREFIXED_BACKENDS[prefix].partition(":")
        return getattr(importlib.import_module(module), name)(rest, sampling=sampling, **kwargs)
    if "://" in spec.split(",", 1)[0]:
        # A URL of another scheme is a mistake, not a model path: say so instead of trying to load it.
        from misattribution.judges.openai_http import check_base_url

        check_base_url(spec.split(",", 1)[0])  # raises, naming the scheme without any credentials
    from misattribution.judges.transformers import TransformersJudge

    return TransformersJudge(spec, sampling=sampling, **kwargs)
