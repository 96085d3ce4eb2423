"""Where judging and discovery run: the engine registry.

An engine runs the two heavy stages, :meth:`Engine.judge_dataset` (judge every row into a resumable
results file) and :meth:`Engine.discover` (the issue report), and :meth:`Engine.map_shards` (a function
over shards of data, the building block of the sharded clustering in :mod:`.sharded`). Two are shipped:

``local``
    today's single-process path: :func:`misattribution.runner.judge_dataset` and
    :func:`misattribution.discovery.pipeline.discover`; shards are mapped one after another in this process.
``ray``
    Ray Data on a local or remote Ray cluster (extra ``ray``): judging with an actor pool of judge clients
    whose results the driver appends to the same results file (same records, same keys, same resume),
    and discovery whose embedding, criticality and micro-clustering run shard by shard on actors that load
    the encoder once, reduced on the driver (:mod:`.sharded`).

A kind is one module of this folder that registers itself (``register_engine``); :func:`get_engine`
imports ``engines/<name>.py`` on first use, so the CLI's ``--engine`` choices come from here::

    from misattribution.engines import get_engine

    engine = get_engine("ray", num_cpus=2)          # ray.init on 127.0.0.1, dashboard off
    judged = engine.judge_dataset("rows.jsonl", judge_factory, "judged.jsonl")
    report = engine.discover("judged.jsonl", shards=8)
"""

from misattribution.engines._base import (
    ENGINES,
    Engine,
    MissingEngineError,
    UnknownEngineError,
    engine_names,
    get_engine,
    register_engine,
)

__all__ = [
    "ENGINES",
    "Engine",
    "MissingEngineError",
    "UnknownEngineError",
    "engine_names",
    "get_engine",
    "register_engine",
]
