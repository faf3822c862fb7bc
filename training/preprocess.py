"""``antiphon preprocess``: corpus files -> dataset folder, in parallel, with a content-addressed cache.

The per-item work runs serially, on a local process pool (default: all cores), or on a ``dask.distributed``
cluster (``scheduler="tcp://host:8786"`` or ``$ANTIPHON_DASK_SCHEDULER``); the outputs are byte-identical
either way, since results are keyed by content hash and written in corpus order. Cluster workers need
Antiphon installed; Dask ships tasks between trusted machines with its own (pickle-based) protocol.

The cache (``cache.json`` in the output folder) maps each song source's content hash, under the settings'
fingerprint, to its result, so an unchanged corpus re-runs without parsing (and without importing music21).
It is plain JSON: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from antiphon.engine.events import DEFAULT_SEQUENCE_LENGTH
from antiphon.training.corpus import (
    DEFAULT_MAX_FILE_BYTES,
    SKIP_REASONS,
    TOO_LARGE,
    UNREADABLE,
    Item,
    Settings,
    process_item,
    resolve_sources,
    split_items,
)
from antiphon.training.dataset import write_dataset

SCHEDULER_ENV = "ANTIPHON_DASK_SCHEDULER"
DASK_CONNECT_TIMEOUT_S = 20
CACHE_FILE = "cache.json"
CACHE_VERSION = 1
_CHUNK = 8  # items per task sent to a worker: small enough to balance two cores, big enough to amortise IPC


def _work(args: tuple[Item, Settings]) -> tuple[str, list[dict[str, Any]]]:
    item, settings = args
    return item.key, process_item(item, settings)


def _init_worker() -> None:
    # music21 may otherwise write its pickle cache or try to reach the network.
    os.environ.setdefault("MUSIC21_AUTODOWNLOAD", "deny")


def _load_cache(path: Path, fingerprint: str) -> dict[str, list[dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or data.get("settings") != fingerprint:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _map_items(items: list[Item], settings: Settings, workers: int, progress: Callable[[int], None],
               scheduler: str | None = None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    tasks = [(item, settings) for item in items]
    if scheduler:
        yield from _map_on_dask(tasks, scheduler, progress)
        return
    if workers <= 1 or len(tasks) < 2 * _CHUNK:
        for task in tasks:
            yield _work(task)
            progress(1)
        return
    # forkserver: workers come from a clean single-threaded process, not from this one (which may hold threads,
    # locks and C-level signal handlers that a forked worker would inherit: a pool then hung at its end in CI).
    context = multiprocessing.get_context("forkserver" if sys.platform.startswith("linux") else "spawn")
    with context.Pool(workers, initializer=_init_worker) as pool:
        for result in pool.imap(_work, tasks, chunksize=_CHUNK):
            yield result
            progress(1)


def _map_on_dask(tasks: list[tuple[Item, Settings]], scheduler: str,
                 progress: Callable[[int], None]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    try:
        from distributed import Client, as_completed
    except ImportError as err:
        raise ValueError("a Dask scheduler was given but dask.distributed is not installed "
                         "(pip install 'antiphon[cluster]')") from err
    try:
        client = Client(scheduler, timeout=f"{DASK_CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as err:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
    try:
        # Batches keep scheduler overhead small next to ~25 ms of parsing per song.
        batches = [tasks[i:i + _CHUNK] for i in range(0, len(tasks), _CHUNK)]
        futures = client.map(_work_batch, batches, pure=False)
        for future in as_completed(futures):
            results = future.result()
            yield from results
            progress(len(results))
    finally:
        client.close()


def _work_batch(batch: list[tuple[Item, Settings]]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [_work(task) for task in batch]


def preprocess(inputs: list[str] | None, out_dir: str | Path, *, settings: Settings | None = None,
               sequence_length: int = DEFAULT_SEQUENCE_LENGTH, workers: int | None = None,
               use_cache: bool = True, progress_bar: bool = False, scheduler: str | None = None,
               max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> dict[str, Any]:
    """Read, filter, transpose and encode a corpus into ``out_dir``; return the report (also ``report.json``)."""
    settings = settings or Settings()
    if sequence_length <= 0:
        raise ValueError(f"sequence_length must be positive, got {sequence_length}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    files, names = resolve_sources(inputs)
    items: list[Item] = []
    unreadable: list[dict[str, str]] = []
    for path in files:
        try:
            size = path.stat().st_size
            if size > max_file_bytes:
                unreadable.append({"source": str(path), "reason": TOO_LARGE,
                                   "detail": f"{size} bytes > limit {max_file_bytes}"})
                continue
            items.extend(split_items(path))
        except OSError as err:
            unreadable.append({"source": str(path), "reason": UNREADABLE, "detail": str(err)})
    fingerprint = settings.fingerprint()
    cache_path = out / CACHE_FILE
    cache = _load_cache(cache_path, fingerprint) if use_cache else {}
    results: dict[str, list[dict[str, Any]]] = {}
    missing = []
    for item in items:
        if item.key in cache:
            results[item.key] = cache[item.key]
        elif item.key not in results:
            missing.append(item)
            results[item.key] = []  # placeholder keeps duplicates from being parsed twice
    todo = {item.key: item for item in missing}
    bar = _progress(len(todo), progress_bar)
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    for key, result in _map_items(list(todo.values()), settings, workers or os.cpu_count() or 1, bar.update,
                                  scheduler):
        results[key] = result
    bar.close()

    songs: list[list[str]] = []
    entries: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    skipped: list[dict[str, str]] = list(unreadable)
    reasons.update(s["reason"] for s in unreadable)
    found = len(unreadable)
    for item in items:
        for index, result in enumerate(results[item.key]):
            found += 1
            name = item.name if len(results[item.key]) == 1 else f"{item.name}/{index + 1}"
            if result["status"] == "kept":
                songs.append(result["symbols"])
                entries.append({"source": name, "title": result["title"], "key": result["key"],
                                "transpose": result["transpose"], "steps": len(result["symbols"]),
                                "meter": result.get("meter", [])})
            else:
                reasons[result["reason"]] += 1
                skipped.append({"source": name, "reason": result["reason"], "detail": result["detail"]})

    dataset_text_hash = hashlib.sha256("\n".join(" ".join(s) for s in songs).encode()).hexdigest()
    manifest = {
        "settings": {"sequence_length": sequence_length, "steps_per_quarter": settings.steps_per_quarter,
                     "accepted_durations": list(settings.accepted_durations)},
        "corpus": {"inputs": names, "files": len(files), "songs": len(songs), "sha256": dataset_text_hash},
        "songs": entries,
    }
    report = {
        "files_read": len(files), "songs_found": found, "kept": len(songs),
        "skipped": {reason: reasons.get(reason, 0) for reason in SKIP_REASONS},
        "parsed": len(todo), "from_cache": len(items) - len(todo),
        "seconds": 0.0, "skipped_songs": skipped,
    }
    write_dataset(out, songs, manifest)
    if use_cache:
        live = {item.key: results[item.key] for item in items}
        tmp = cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "settings": fingerprint, "entries": live}),
                       encoding="utf-8")
        tmp.replace(cache_path)
    report["seconds"] = round(time.perf_counter() - started, 3)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled or total == 0:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="song", desc="parsing", file=sys.stderr, smoothing=0.1)
