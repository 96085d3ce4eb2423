"""Judge backends: one :class:`Judge` protocol, three implementations, imported lazily.

* :class:`~misattribution.judges.transformers.TransformersJudge`: a local path or Hub id, run with
  ``transformers`` (batched, left-padded).
* :class:`~misattribution.judges.vllm.VLLMJudge`: vLLM offline batch inference (``pip install
  'misattribution[vllm]'``).
* :class:`~misattribution.judges.openai_http.OpenAIHTTPJudge`: any OpenAI-compatible
  ``/v1/chat/completions`` server (vLLM, TGI, Inference Endpoints), one URL or several.

:func:`load_judge` turns a short spec into a backend, so the CLI and the metric accept one string.
"""

from __future__ import annotations

from typing import Any

from misattribution.judges.base import GenerationError, Judge, Messages, SamplingParams

__all__ = ["GenerationError", "Judge", "Messages", "SamplingParams", "load_judge"]


def load_judge(spec: str | Judge, *, sampling: SamplingParams | None = None, **kwargs: Any) -> Judge:
    """Build a judge backend from a spec.

    Args:
        spec: a :class:`Judge` (returned as is); ``"http://..."`` / ``"https://..."`` for an
            OpenAI-compatible endpoint (several separated by commas); ``"vllm:<model>"`` for vLLM;
            anything else is a local path or Hub id for ``transformers``.
        sampling: generation settings (default: the paper's sampling).
        **kwargs: passed to the backend's constructor (``device``, ``dtype``, ``batch_size``,
            ``model`` for the served model name of an endpoint, ``concurrency``, ...).
    """
    if not isinstance(spec, str):
        if isinstance(spec, Judge):
            return spec
        raise TypeError(f"a judge spec must be a string or a Judge, got {type(spec).__name__}")
    sampling = sampling or SamplingParams()
    if spec.startswith(("http://", "https://")):
        from misattribution.judges.openai_http import OpenAIHTTPJudge

        urls = [url.strip() for url in spec.split(",") if url.strip()]
        model = kwargs.pop("model", None) or _served_model(urls[0], kwargs.get("api_key"))
        return OpenAIHTTPJudge(urls if len(urls) > 1 else urls[0], model=model, sampling=sampling, **kwargs)
    if spec.startswith("vllm:"):
        from misattribution.judges.vllm import VLLMJudge

        return VLLMJudge(spec[len("vllm:") :], sampling=sampling, **kwargs)
    from misattribution.judges.transformers import TransformersJudge

    return TransformersJudge(spec, sampling=sampling, **kwargs)


def _served_model(url: str, api_key: str | None) -> str:
    """The first model an OpenAI-compatible server lists at ``/v1/models``."""
    import httpx

    base = url.rstrip("/")
    base = base if base.endswith("/v1") else base + "/v1"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{base}/models", headers=headers, timeout=10)
        response.raise_for_status()
        return str(response.json()["data"][0]["id"])
    except Exception as err:  # noqa: BLE001 - any failure means the same thing to the user
        raise ValueError(
            f"could not ask {base}/models which model it serves ({type(err).__name__}); pass model=... explicitly"
        ) from None
