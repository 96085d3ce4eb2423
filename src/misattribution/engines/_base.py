"""The engine registry and the :class:`Engine` interface (see :mod:`misattribution.engines`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: Engine classes by name; a module of this folder adds its own when imported.
ENGINES: dict[str, type[Engine]] = {}
#: The kinds shipped in this folder (imported on first use, so a missing optional package fails only then).
SHIPPED = ("local", "ray")


class UnknownEngineError(ValueError):
    """An engine name that no module registers."""


class MissingEngineError(ImportError):
    """An engine needs a package that is not installed (the message says what to install)."""


class Engine:
    """Runs the heavy stages of a run. Subclasses override what they distribute.

    ``judge_factory`` is a picklable callable returning a :class:`~misattribution.judges.base.Judge`:
    an engine that judges in other processes builds one judge per worker from it (a judge holds
    connections or a model, which are not sent between processes).
    """

    name = "engine"

    def judge_dataset(self, data: Any, judge_factory: Callable[[], Any], output: str | Path, **options: Any) -> Any:
        raise NotImplementedError

    def discover(self, source: Any, **options: Any) -> Any:
        raise NotImplementedError

    def map_shards(
        self, worker: Callable[..., Any], worker_options: dict[str, Any], payloads: Sequence[bytes]
    ) -> list[bytes]:
        """``worker(**worker_options)`` called on every payload (bytes in, bytes out), results in payload
        order. The worker class is built once per process that runs it (an encoder loads once)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the engine started (a local Ray instance)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def register_engine(name: str, cls: type[Engine]) -> type[Engine]:
    """Make ``cls`` the engine called ``name`` (``--engine NAME``); returns ``cls``."""
    cls.name = name
    ENGINES[name] = cls
    return cls


def engine_names() -> list[str]:
    """Every engine name the CLI offers: the shipped kinds and any registered since."""
    return list(dict.fromkeys([*SHIPPED, *ENGINES]))


def get_engine(name: str, **options: Any) -> Engine:
    """A new engine of kind ``name`` (its module imported on first use) built with ``options``.

    Raises :class:`UnknownEngineError` for a name no module registers and :class:`MissingEngineError`
    (saying what to install) when the kind's package is missing.
    """
    if name not in ENGINES and name in SHIPPED:
        importlib.import_module(f"{__name__.rpartition('.')[0]}.{name}")
    if name not in ENGINES:
        raise UnknownEngineError(f"unknown engine {name!r}; choose one of {', '.join(engine_names())}")
    return ENGINES[name](**options)
