"""Your own judge in Python, named ``module:function``: the CLI's ``--judge mypkg.judges:my_judge``.

``module:attribute`` is imported (the current directory first on ``sys.path``, as ``python -m`` would
have it) and the attribute used as follows:

* a **function taking the prompt** (one required positional parameter): called once per prompt with the
  chat messages (``[{"role": ..., "content": ...}, ...]``, exactly what the trained judge sees), it
  returns the judge's text; a ``sampling`` keyword parameter, if it has one, receives the
  :class:`~misattribution.judges.base.SamplingParams`. An exception or a non-text return becomes a
  :class:`~misattribution.judges.base.GenerationError` for that row only (the rerun tries it again).
* a **Judge object**, a **Judge class** or a **factory** (no required parameter) returning one: used as
  the backend as it is (``sampling=`` is passed when the class or factory accepts it).

Security: this imports and runs the code you name, with your rights. It happens only when you pass
``--judge`` (or call :func:`load_custom_judge`): no spec string of ``--model``, ``--endpoint``, the
metric or :func:`~misattribution.judges.load_judge` ever imports a module.

Example (``my_judges.py`` in the current directory)::

    def echo_judge(messages):
        return "Feedback: fine.\\nMisattribution: None\\nScore: 3"

    misattribution judge rows.jsonl --judge my_judges:echo_judge -o judged.jsonl
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from misattribution.judges.base import GenerationError, Judge, Messages, SamplingParams
from misattribution.redaction import redact

BACKEND_NAME = "custom"


class CallableJudge:
    """A :class:`~misattribution.judges.base.Judge` over ``function(messages) -> text``, one call per prompt.

    >>> judge = CallableJudge(lambda messages: "Score: 3", "demo:fixed")
    >>> judge.generate([[{"role": "user", "content": "hi"}]]), judge.settings()["backend"]
    (['Score: 3'], 'custom')
    """

    def __init__(self, function: Callable[..., Any], name: str, sampling: SamplingParams | None = None):
        self.function = function
        self.model_id = name
        self.sampling = sampling or SamplingParams()
        self._pass_sampling = _accepts_keyword(function, "sampling")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r})"

    def settings(self) -> dict[str, Any]:
        """The backend, the function's ``module:name`` and the sampling it was given."""
        return {"backend": BACKEND_NAME, "model": self.model_id, "sampling": self.sampling.to_dict()}

    def generate(self, prompts: Sequence[Messages]) -> list[str | GenerationError]:
        """One text (or a :class:`GenerationError`) per prompt, in order, one call each."""
        return [self._generate_one(messages) for messages in prompts]

    def _generate_one(self, messages: Messages) -> str | GenerationError:
        try:
            text = self.function(messages, sampling=self.sampling) if self._pass_sampling else self.function(messages)
        except Exception as exc:  # noqa: BLE001 - the user's code: any failure is this row's error
            return GenerationError(redact(f"{self.model_id} raised {type(exc).__name__}: {exc}"), kind="custom_error")
        if not isinstance(text, str):
            message = f"{self.model_id} returned {type(text).__name__}, not the judge's text (a str)"
            return GenerationError(message, kind="bad_response")
        return text


def load_custom_judge(spec: str, *, sampling: SamplingParams | None = None) -> Judge:
    """The judge named by ``spec`` (``"package.module:attribute"``); see the module docstring.

    Raises a ``ValueError`` naming ``spec`` when it is malformed, cannot be imported, has no such
    attribute, or names something that is neither a prompt function nor a Judge (factory).
    """
    module_name, attribute = _split(spec)
    target = _resolve(spec, module_name, attribute)
    sampling = sampling or SamplingParams()
    if isinstance(target, Judge) and not inspect.isclass(target):
        return target
    if not callable(target):
        raise ValueError(f"{spec}: {type(target).__name__} is neither a function nor a Judge")
    if inspect.isclass(target) or _required_positional(target) == 0:
        built = target(sampling=sampling) if _accepts_keyword(target, "sampling") else target()
        if not isinstance(built, Judge):
            raise ValueError(
                f"{spec}: called without arguments it returned {type(built).__name__}, not a Judge "
                "(hint: a judge function takes the prompt messages; a factory returns an object with "
                "model_id, settings() and generate(prompts))"
            )
        return built
    return CallableJudge(target, spec, sampling)


def _split(spec: str) -> tuple[str, str]:
    module_name, sep, attribute = str(spec).strip().partition(":")
    valid = sep and all(part.isidentifier() for part in module_name.split(".") + attribute.split("."))
    if not valid:
        raise ValueError(f"{spec}: not MODULE:FUNCTION (e.g. mypkg.judges:my_judge)")
    return module_name, attribute


def _resolve(spec: str, module_name: str, attribute: str) -> Any:
    cwd = os.getcwd()
    if cwd not in sys.path:
        # A module beside the user's data, as `python -m` would find it. It stays on the path: the
        # judge's own lazy imports of its sibling modules must keep working.
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        hint = "run from its folder or install it"
        raise ValueError(f"{spec}: cannot import {module_name} ({err}; hint: {hint})") from None
    target: Any = module
    for name in attribute.split("."):
        if not hasattr(target, name):
            raise ValueError(f"{spec}: {module_name} has no attribute {attribute}")
        target = getattr(target, name)
    return target


def _required_positional(function: Callable[..., Any]) -> int:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: take it for a prompt function
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in kinds and p.default is inspect.Parameter.empty)


def _accepts_keyword(function: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    parameter = parameters.get(name)
    if parameter is not None:
        return parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
