"""Attack surface: no network sockets, nothing unpickled, Keras files only in safe mode, bad artifacts refused."""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rel_helpers import ROOT, Daemon, JackServer, make_daemon_artifact, socket_kinds

from antiphon.engine.artifact import WEIGHTS_FILE
from antiphon.engine.model import LstmModel

ALLOWED_SOCKETS = {"unix", "netlink"}  # JACK talks over unix sockets; netlink is the kernel, not the network
SOURCE_DIRS = ("daemon", "engine", "training", "benchmarks", "tests", "systemd")
# Spelled in pieces so this file does not match itself.
P = "pick" + "le"
FORBIDDEN = [
    (re.compile(rf"\bimport\s+(c?{P}|joblib|dill|cloud{P}|shelve|marshal)\b"), "imports a pickle-like module"),
    (re.compile(rf"\bfrom\s+(c?{P}|joblib|dill|cloud{P}|shelve|marshal)\s+import\b"), "imports a pickle-like module"),
    (re.compile(rf"allow_{P}\s*=\s*True"), "allows pickles in np.load"),
    (re.compile(r"\btorch\.load\("), "torch.load unpickles"),
    (re.compile(r"pd\.read_" + P), "pandas reads pickles"),
]


PRODUCT_DIRS = ("daemon", "engine", "training", "benchmarks")


def python_sources() -> list[Path]:
    """Every Python file but this one (it holds the patterns as test data)."""
    files = []
    for folder in SOURCE_DIRS:
        files += sorted(p for p in (ROOT / folder).rglob("*.py") if p.resolve() != Path(__file__).resolve())
    return files


def calls(text: str, name: str) -> list[str]:
    """The text of every call ``name(...)`` (balanced parentheses)."""
    found = []
    for match in re.finditer(re.escape(name) + r"\(", text):
        depth, i = 0, match.end() - 1
        while i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        found.append(text[match.start(): i + 1])
    return found


def test_nothing_in_the_source_tree_unpickles():
    assert len(python_sources()) > 50
    problems = []
    for path in python_sources():
        text = path.read_text(encoding="utf-8")
        for pattern, why in FORBIDDEN:
            if pattern.search(text):
                problems.append(f"{path.relative_to(ROOT)}: {why}")
        product = path.relative_to(ROOT).parts[0] in PRODUCT_DIRS
        for call in calls(text, "np.load") + calls(text, "numpy.load"):
            # Tests may lean on numpy's default (no pickles since 1.16.3); the product says so explicitly.
            if product and f"allow_{P}=False" not in call.replace(" ", ""):
                problems.append(f"{path.relative_to(ROOT)}: {call} without allow_{P}=False")
        for call in calls(text, "load_model"):
            if "safe_mode=True" not in call.replace(" ", "") and "def " not in call:
                problems.append(f"{path.relative_to(ROOT)}: {call} without safe_mode=True")
    assert not problems, problems


def test_the_source_scan_catches_what_it_looks_for():
    bad = f"import {P}\nx = np.load(path)\nm = keras.saving.load_model(p)\ny = np.load(p, allow_{P}=True)\n"
    hits = [why for pattern, why in FORBIDDEN if pattern.search(bad)]
    assert len(hits) == 2
    assert [c for c in calls(bad, "np.load") if f"allow_{P}=False" not in c] == ["np.load(path)",
                                                                               f"np.load(p, allow_{P}=True)"]
    assert calls(bad, "load_model") == ["load_model(p)"]


def test_music21_pickle_cache_is_off_in_the_corpus_loader(tmp_path, monkeypatch):
    """A stale cached parse that music21 itself would return is never what the corpus loader reads."""
    from music21 import converter, environment

    from antiphon.training.corpus import Item, Settings, process_item

    monkeypatch.setattr(environment.Environment, "getRootTempDir", lambda self: tmp_path)
    song = tmp_path / "song.krn"
    song.write_text("**kern\n*M4/4\n4c\n4d\n4e\n4f\n*-\n")
    converter.parse(str(song), forceSource=False)  # music21 caches this parse (a pickle in its temp dir)
    assert list(tmp_path.glob("*.p.gz"))
    written = os.path.getmtime(song)
    song.write_text("**kern\n*M4/4\n4c\n4e\n4g\n4cc\n*-\n")
    os.utime(song, (written - 100, written - 100))  # older than the cache, so music21 trusts its copy
    stale = [n.pitch.midi for n in converter.parse(str(song), forceSource=False).flatten().notes]
    assert stale == [60, 62, 64, 65]  # the probe works: music21's cache would answer with the old song
    (result,) = process_item(Item(str(song), None, "humdrum", song.read_bytes()), Settings())
    pitches = [int(s) for s in result["symbols"] if s.isdigit()]
    assert np.diff(pitches).tolist() == [4, 3, 5]  # the new song's intervals (it may be transposed): read anew


def test_a_keras_file_with_a_lambda_layer_is_refused_in_safe_mode_and_runs_nothing(tmp_path):
    import keras
    inputs = keras.Input((4,))
    # A lambda is saved as Python bytecode: loading it would run whatever the file's author wrote.
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Lambda(lambda x: x * 2.0)(inputs)))
    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert "Lambda" in archive.read("config.json").decode()
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(path, safe_mode=True)


class _Executes:
    """Unpickling this would create a file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _rewrite(folder: Path, arrays: dict) -> None:
    np.savez(folder / WEIGHTS_FILE, **arrays)


def _weights(folder: Path) -> dict:
    with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def test_bad_artifacts_are_refused_with_a_clear_message_and_nothing_runs(tmp_path):
    good = make_daemon_artifact(tmp_path / "good", units=8)
    marker = tmp_path / "unpickled"
    w = _weights(good)
    cases = {
        "pickled": lambda f: _rewrite(f, {**w, "dense/bias": np.array([_Executes(str(marker))], dtype=object)}),
        "infinite": lambda f: _rewrite(f, {**w, "lstm0/kernel": np.full_like(w["lstm0/kernel"], np.inf)}),
        "expected floating point": lambda f: _rewrite(f, {**w, "dense/bias": w["dense/bias"].astype(np.int32)}),
        "not a readable": lambda f: (f / WEIGHTS_FILE).write_bytes((good / WEIGHTS_FILE).read_bytes()[:200]),
        "not a zip": lambda f: np.save(f / WEIGHTS_FILE, np.array([_Executes(str(marker))], dtype=object),
                                       allow_pickle=True),
        "missing": lambda f: _rewrite(f, {}),
        "vocab": lambda f: (f / "vocab.json").write_text('{"symbols": 3}'),
        "config": lambda f: (f / "config.json").write_bytes(os.urandom(64)),
    }
    for number, (message, change) in enumerate(cases.items()):
        bad = tmp_path / f"bad{number}"
        shutil.copytree(good, bad)
        if message == "not a zip":
            (bad / WEIGHTS_FILE).unlink()
        change(bad)
        if message == "not a zip":  # np.save added .npy: put it where the weights belong
            (bad / (WEIGHTS_FILE + ".npy")).rename(bad / WEIGHTS_FILE)
            assert not zipfile.is_zipfile(bad / WEIGHTS_FILE)
        with pytest.raises(ValueError, match=message):
            LstmModel.load(bad)
    assert not marker.exists()


def test_the_socket_check_sees_a_tcp_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        probe.listen()
        assert "tcp" in socket_kinds(os.getpid()).values()


@pytest.mark.jack
def test_serve_opens_no_network_socket(tmp_path):
    jack = JackServer(f"antiphon-relnet-{os.getpid()}")
    try:
        model = make_daemon_artifact(tmp_path / "model", units=8)
        daemon = Daemon(["--model", str(model), "--record", str(tmp_path / "rec")], jack.env, tmp_path)
        try:
            time.sleep(0.5)  # a few steps of the live loop
            kinds = socket_kinds(daemon.proc.pid)
            assert kinds, "serve holds JACK's unix sockets at least"
            assert set(kinds.values()) <= ALLOWED_SOCKETS, kinds
            assert daemon.terminate() == 0
        finally:
            daemon.close()
    finally:
        jack.stop()
