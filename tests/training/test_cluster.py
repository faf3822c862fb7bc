"""Preprocessing on a real dask.distributed cluster gives byte-identical outputs to a serial run."""

import hashlib

import distributed
import pytest

from antiphon.training import preprocess as preprocess_module
from antiphon.training.preprocess import preprocess

OUTPUTS = ("dataset.txt", "mapping.json", "manifest.json")


def digest(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in OUTPUTS}


def test_serial_local_parallel_and_cluster_outputs_match(tmp_path):
    corpus = ["essenFolksong/erk5.abc"]
    serial = preprocess(corpus, tmp_path / "serial", workers=1, use_cache=False)
    local = preprocess(corpus, tmp_path / "local", workers=2, use_cache=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster:
        clustered = preprocess(corpus, tmp_path / "cluster", use_cache=False, scheduler=cluster.scheduler_address)
    assert serial["kept"] == local["kept"] == clustered["kept"] > 10
    assert serial["parsed"] == clustered["parsed"]
    assert digest(tmp_path / "serial") == digest(tmp_path / "local") == digest(tmp_path / "cluster")


def test_unreachable_scheduler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(preprocess_module, "DASK_CONNECT_TIMEOUT_S", 2)
    with pytest.raises(ValueError, match="cannot reach the Dask scheduler"):
        preprocess(["essenFolksong/erk5.abc"], tmp_path / "x", use_cache=False, scheduler="tcp://127.0.0.1:9")
