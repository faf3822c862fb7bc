"""The built wheel in a fresh virtual environment: the light install plays, and it shares a venv with
python-daemon (which owns the top-level name ``daemon``) without either breaking the other."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAEMON_TESTS = ROOT / "tests" / "daemon"
if str(DAEMON_TESTS) not in sys.path:
    sys.path.insert(0, str(DAEMON_TESTS))

from harness import Daemon, JackServer  # noqa: E402

pytestmark = pytest.mark.slow


def run(*cmd, cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory):
    """A new venv holding the wheel (no extras) and python-daemon; returns its bin folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", ROOT,
        cwd=tmp)
    (wheel,) = (tmp / "dist").glob("antiphon-*.whl")
    run(sys.executable, "-m", "venv", tmp / "venv", cwd=tmp)
    bin_dir = tmp / "venv" / "bin"
    run(bin_dir / "pip", "install", "-q", wheel, "python-daemon", cwd=tmp)
    assert wheel.stat().st_size < 20 * 1024 * 1024  # every bundled style included
    return bin_dir


def test_the_light_install_holds_no_training_libraries(light_venv, tmp_path):
    listed = run(light_venv / "pip", "list", "--format=freeze", cwd=tmp_path).stdout.lower()
    for heavy in ("music21", "tensorflow", "matplotlib", "tqdm", "keras"):
        assert f"{heavy}==" not in listed
    for needed in ("numpy", "mido", "python-rtmidi", "typer"):
        assert f"{needed}==" in listed


def test_both_packages_named_daemon_import_side_by_side_and_after_an_uninstall(light_venv, tmp_path):
    python = light_venv / "python"
    both = ("import daemon, antiphon.daemon.live, antiphon.engine.model; "
            "assert hasattr(daemon, 'DaemonContext'); print(daemon.__file__)")
    out = run(python, "-c", both, cwd=tmp_path).stdout
    assert "site-packages/daemon/__init__.py" in out  # python-daemon's own module, not overwritten
    run(light_venv / "pip", "uninstall", "-q", "-y", "antiphon", cwd=tmp_path)
    try:
        run(python, "-c", "import daemon; daemon.DaemonContext", cwd=tmp_path)
        gone = run(python, "-c", "import antiphon", cwd=tmp_path, check=False)
        assert gone.returncode != 0
    finally:
        wheels = list(Path(light_venv).parent.parent.glob("dist/antiphon-*.whl"))
        run(light_venv / "pip", "install", "-q", "--no-deps", *wheels, cwd=tmp_path)


def test_the_light_install_answers_generates_and_names_the_missing_extra(light_venv, tmp_path):
    antiphon = light_venv / "antiphon"
    run(antiphon, "respond", ROOT / "examples" / "call.mid", "--with-call", "-o", tmp_path / "r.mid", cwd=tmp_path)
    assert (tmp_path / "r.mid").stat().st_size > 0
    out = run(antiphon, "generate", "--seed", "67 _ 67 _ 65", "--steps", "32", "--random-seed", "1",
              "-o", tmp_path / "g.mid", "--musicxml", tmp_path / "g.musicxml", cwd=tmp_path).stdout
    assert "symbols generated" in out and (tmp_path / "g.musicxml").read_text().count("<note>") >= 3
    for command, extra in (("preprocess", "train"), ("train", "train"), ("evaluate", "train")):
        proc = run(antiphon, command, cwd=tmp_path, check=False)
        assert proc.returncode == 2
        assert f"pip install 'antiphon[{extra}]'" in proc.stderr
    proc = run(antiphon, "plot", tmp_path / "r.mid", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "pip install 'antiphon[plot]'" in proc.stderr


def test_the_wheel_carries_every_bundled_style(light_venv, tmp_path):
    antiphon = light_venv / "antiphon"
    listed = run(antiphon, "styles", cwd=tmp_path).stdout
    names = sorted(p.name for p in (ROOT / "engine" / "styles").iterdir() if (p / "config.json").is_file())
    assert names and all(f"\n{name} " in listed for name in names), listed
    out = run(antiphon, "respond", ROOT / "examples" / "call.mid", "--style", "auto", "-o", tmp_path / "r.mid",
              cwd=tmp_path).stdout
    assert "style)" in out and (tmp_path / "r.mid").stat().st_size > 0


@pytest.mark.jack
def test_the_light_install_serves_lists_ports_and_panics_over_jack(light_venv, tmp_path):
    jack = JackServer(f"antiphon-wheel-{os.getpid()}")
    try:
        daemon = Daemon([], jack.env, tmp_path, command=[str(light_venv / "antiphon")], cwd=tmp_path)
        try:
            listed = run(light_venv / "antiphon", "ports", "--backend", "jack", cwd=tmp_path, env=jack.env).stdout
            assert "antiphon in" in listed and "antiphon out" in listed
            panic = run(light_venv / "antiphon", "panic", "--output", "antiphon in", "--backend", "jack",
                        cwd=tmp_path, env=jack.env)
            assert panic.returncode == 0
        finally:
            assert daemon.terminate() == 0, daemon.output()
    finally:
        jack.stop()
