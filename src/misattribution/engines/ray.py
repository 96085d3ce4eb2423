"""The ``ray`` engine: judging and sharded discovery on Ray Data (extra ``ray``).

**Judging** (:meth:`RayEngine.judge_dataset`): the driver reads and checks the input through
:mod:`misattribution.io` (as the runner does), takes the results file's lock, checks its recorded judge
config and writes its meta (the runner's functions), then sends the rows as a Ray dataset through
``map_batches`` on a fixed pool of actors, each holding one judge client built from ``judge_factory``.
An actor renders each row's prompt and key with :func:`misattribution.runner.render_row`, skips the keys
already judged, generates and parses; the driver appends every returned record to the results file
(flushed and fsynced per batch, Ctrl-C held back while writing). The file is the runner's, record for
record: a rerun of either engine resumes it, and a Ray run's records equal a local run's.

**Discovery** (:meth:`RayEngine.discover`): :func:`.sharded.discover_sharded`, whose shards (embedding,
criticality, micro-clusters) run on an actor pool that loads the encoder once per actor.

``ray.init`` starts a local instance bound to 127.0.0.1 with the dashboard off and usage statistics off,
``num_cpus`` as given (or joins ``address``, an existing cluster; then the judge's key variables and
the package must be installed on its nodes). Example::

    from functools import partial
    from misattribution.engines import get_engine
    from misattribution.judges import load_judge

    with get_engine("ray", num_cpus=2) as engine:
        judged = engine.judge_dataset("rows.jsonl", partial(load_judge, "http://127.0.0.1:8000/v1"), "judged.jsonl")
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misattribution.engines._base import Engine, MissingEngineError, register_engine

logger = logging.getLogger(__name__)


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the engine needs Ray Data, not only Ray core
    except ImportError as err:
        raise MissingEngineError(
            f"the ray engine needs Ray Data ({err.name} is not installed): pip install 'misattribution[ray]'"
        ) from None
    return ray


class RayEngine(Engine):
    """Ray Data on a local instance (``num_cpus``) or an existing cluster (``address``).

    Args:
        address: an existing cluster (``ray://host:10001`` or ``host:6379``); default: start a local
            instance, bound to 127.0.0.1, dashboard off.
        num_cpus: CPUs of the local instance (default: Ray's, all of them).
        actors: actors per pool (judge clients, or shard workers); default: the cluster's CPUs.
        cpus_per_actor: CPUs reserved by each actor (an HTTP judge client needs little; an encoder one).
        progress: Ray Data's progress bars.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        actors: int | None = None,
        cpus_per_actor: float = 1.0,
        progress: bool = False,
    ) -> None:
        ray = _import_ray()
        if num_cpus is not None and num_cpus < 1:
            raise ValueError(f"--num-cpus must be at least 1, got {num_cpus}")
        if actors is not None and actors < 1:
            raise ValueError(f"--actors must be at least 1, got {actors}")
        if cpus_per_actor <= 0:
            raise ValueError(f"--cpus-per-actor must be above 0, got {cpus_per_actor}")
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no report to Anyscale's servers
            if address:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
            else:
                ray.init(
                    num_cpus=num_cpus,
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    logging_level=logging.WARNING,
                    log_to_driver=True,
                )
            self._started = True
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.cpus_per_actor = cpus_per_actor
        self.actors = actors or max(1, int(cpus // cpus_per_actor))

    def close(self) -> None:
        """Shut down the local instance this engine started (a joined cluster is left running)."""
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False

    # -- judging ------------------------------------------------------------------------------------------
    def judge_dataset(
        self,
        data: Any,
        judge_factory: Callable[[], Any],
        output: str | Path,
        *,
        judge: Any = None,
        columns: Any = None,
        taxonomy: Any = None,
        language: str = "en",
        order: Sequence[str] | None = None,
        batch_size: int = 64,
        resume: bool = True,
        progress: bool = True,
        name: str | None = None,
    ) -> pd.DataFrame:
        """Judge every row of ``data`` on the actor pool into ``output``; same arguments, checks, results
        file and return value as :func:`misattribution.runner.judge_dataset`.

        ``judge_factory`` builds each actor's judge (picklable: e.g. ``functools.partial(load_judge, url)``);
        ``judge``, when given, is the driver's copy whose config is recorded (else one more from the factory).
        """
        from tqdm.auto import tqdm

        from misattribution.format import DEFAULT_ORDER
        from misattribution.io.tables import ColumnMap, check_columns, read_table
        from misattribution.prompts import check_rubrics
        from misattribution.runner import (
            RESULT_COLUMNS,
            RunInterrupted,
            _check_config,
            _sigint_deferred,
            _write_meta,
            check_unique_ids,
            input_records,
            load_results,
            output_lock,
            run_config,
        )
        from misattribution.taxonomy import load_taxonomy

        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if output is None:
            raise ValueError("the ray engine writes its results to a file: give an output path")
        order = tuple(order or DEFAULT_ORDER)
        frame, label = read_table(data, name=name)
        cols = ColumnMap.from_any(columns)
        check_columns(frame, cols, label)
        check_unique_ids(frame, cols.id, label)
        tax = load_taxonomy(taxonomy)
        if cols.rubric and cols.rubric in frame.columns:  # every bad rubric named before any call, as the runner
            check_rubrics(list(frame[cols.rubric]), tax, label, cols.rubric)
        judge = judge if judge is not None else judge_factory()
        model_id, settings = judge.model_id, judge.settings()
        config = run_config(judge, tax, language, order)
        inputs = input_records(frame)
        values = frame.to_dict(
            "records"
        )  # every column: an agent step's prompt reads its tools, a rubric row its rubric

        out_path = Path(output)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with output_lock(out_path):
            done = load_results(out_path) if resume else {}
            if resume:
                _check_config(out_path, done, config)
            else:
                out_path.write_text("", encoding="utf-8")
            _write_meta(out_path, config, label)
            skip = frozenset(key for key, record in done.items() if record.get("status") != "error")
            items = [
                {
                    "row": index,
                    "values": json.dumps({str(k): _cell(v) for k, v in values[index].items()}, default=_plain),
                    "input": json.dumps(inputs[index], ensure_ascii=False, default=str),
                }
                for index in range(len(frame))
            ]
            dataset = self._ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / batch_size)))
            judged = dataset.map_batches(
                _JudgeActor,
                fn_constructor_kwargs={
                    "judge_factory": judge_factory,
                    "columns": dataclasses.asdict(cols),
                    "taxonomy": tax,
                    "language": language,
                    "order": order,
                    "model_id": model_id,
                    "settings": settings,
                    "skip": skip,
                },
                batch_size=batch_size,
                batch_format="numpy",
                compute=self._pool(math.ceil(len(items) / batch_size)),
                num_cpus=self.cpus_per_actor,
            )
            keys: list[str | None] = [None] * len(frame)
            written: set[str] = set()
            bar = tqdm(total=len(frame), disable=not progress, desc="judging (ray)", unit="row")
            try:
                with out_path.open("a", encoding="utf-8") as handle:
                    for batch in judged.iter_batches(batch_size=None, batch_format="numpy"):
                        lines, records = [], []
                        for row, key, text in zip(batch["row"], batch["key"], batch["record"]):
                            keys[int(row)] = str(key)
                            if text and key not in written:
                                written.add(str(key))
                                lines.append(str(text) + "\n")
                                records.append(json.loads(text))
                        with _sigint_deferred():
                            handle.write("".join(lines))
                            handle.flush()
                            os.fsync(handle.fileno())
                            done.update((r["key"], r) for r in records)
                        bar.update(len(batch["row"]))
            except KeyboardInterrupt:
                judged_keys = {k for k in keys if k is not None}
                saved = sum(1 for k in judged_keys if k in done and done[k].get("status") != "error")
                raise RunInterrupted(out_path, saved, len(frame)) from None
            finally:
                bar.close()
        missing = [i for i, k in enumerate(keys) if k is None]
        if missing:
            raise RuntimeError(f"the ray engine returned no result for {len(missing)} rows (first: row {missing[0]})")
        results = pd.DataFrame([{column: done[key].get(column) for column in RESULT_COLUMNS} for key in keys])
        results["judge_key"] = keys
        kept = frame.drop(columns=[c for c in (*RESULT_COLUMNS, "judge_key") if c in frame.columns])
        return pd.concat([kept.reset_index(drop=True), results], axis=1)

    def _pool(self, tasks: int) -> Any:
        """A fixed pool of at most ``actors`` actors, no more than there are tasks."""
        return self._ray.data.ActorPoolStrategy(size=max(1, min(self.actors, tasks)))

    # -- discovery ----------------------------------------------------------------------------------------
    def discover(self, source: Any, *, shards: int | None = None, micro_clusters: int | None = None, **options: Any):
        """The issue report with the clustering sharded over the actors (:func:`.sharded.discover_sharded`);
        ``shards`` defaults to the number of actors."""
        from misattribution.engines.sharded import discover_sharded

        return discover_sharded(self, source, shards=shards or self.actors, micro_clusters=micro_clusters, **options)

    def map_shards(
        self, worker: Callable[..., Any], worker_options: dict[str, Any], payloads: Sequence[bytes]
    ) -> list[bytes]:
        """Each payload through ``worker`` on a pool of at most ``actors`` actors (one worker each)."""
        if not payloads:
            return []
        items = [{"shard": i, "payload": bytes(p)} for i, p in enumerate(payloads)]
        dataset = self._ray.data.from_items(items, override_num_blocks=len(items))
        mapped = dataset.map_batches(
            _ShardActor,
            fn_constructor_kwargs={"worker": worker, "options": worker_options},
            batch_size=1,
            batch_format="numpy",
            compute=self._pool(len(items)),
            num_cpus=self.cpus_per_actor,
        )
        found = {int(row["shard"]): bytes(row["result"]) for row in mapped.iter_rows()}
        return [found[i] for i in range(len(items))]


def _cell(value: Any) -> Any:
    """A cell as the runner reads it (numpy scalars as Python values), arrays as lists."""
    from misattribution.runner import _json_safe

    return value.tolist() if isinstance(value, np.ndarray) else _json_safe(value)


def _plain(value: Any) -> Any:
    """A cell JSON cannot write as it is: an array as a list, anything else as its text. A float NaN stays
    NaN (Python's JSON keeps it), so a row's key is the one the runner computes from the DataFrame."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class _JudgeActor:
    """One judge client; renders, skips done keys, generates and parses a batch of rows into records."""

    def __init__(
        self,
        judge_factory: Callable[[], Any],
        columns: Mapping[str, str | None],
        taxonomy: Any,
        language: str,
        order: Sequence[str],
        model_id: str,
        settings: Mapping[str, Any],
        skip: frozenset[str],
    ) -> None:
        from misattribution.io.tables import ColumnMap

        self.judge = judge_factory()
        self.cols = ColumnMap.from_any(dict(columns))
        self.tax, self.language, self.order = taxonomy, language, tuple(order)
        self.model_id, self.settings, self.skip = model_id, dict(settings), skip

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from misattribution.runner import _record, render_row

        inputs = [json.loads(text) for text in batch["input"]]
        rendered = [
            render_row(json.loads(text), self.cols, self.tax, self.language, self.order, self.model_id, self.settings)
            for text in batch["values"]
        ]
        pending = [i for i, (_, key, _) in enumerate(rendered) if key not in self.skip]
        outputs = self.judge.generate([rendered[i][0] for i in pending]) if pending else []
        if len(outputs) != len(pending):
            raise RuntimeError(
                f"{type(self.judge).__name__} returned {len(outputs)} outputs for {len(pending)} prompts"
            )
        records = [""] * len(rendered)
        for i, text in zip(pending, outputs):
            _, key, row_id = rendered[i]
            record = _record(key, int(batch["row"][i]), row_id, self.model_id, text, self.tax, self.order, inputs[i])
            records[i] = json.dumps(record, ensure_ascii=False, default=str)
        return {
            "row": np.asarray(batch["row"], dtype=np.int64),
            "key": np.asarray([key for _, key, _ in rendered], dtype=object),
            "record": np.asarray(records, dtype=object),
        }


class _ShardActor:
    """One shard worker (e.g. :class:`.sharded.ShardWorker`, loading its encoder once) per actor."""

    def __init__(self, worker: Callable[..., Any], options: Mapping[str, Any]) -> None:
        self.worker = worker(**options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [self.worker(bytes(payload)) for payload in batch["payload"]]
        return {"shard": np.asarray(batch["shard"], dtype=np.int64), "result": np.asarray(results, dtype=object)}


register_engine("ray", RayEngine)
