"""The layout's import rules, read from every module's source: daemon and training import engine, never each
other; engine imports no TensorFlow, mido or music21 at module level (mido only inside engine/midifile.py's
functions, the one owner of MIDI files); the CLI root is the only module that knows both packages."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"engine": ROOT / "engine", "daemon": ROOT / "daemon", "training": ROOT / "training",
            "root": ROOT / "antiphon"}
HEAVY = {"tensorflow", "keras", "mido", "music21", "matplotlib", "tqdm", "dask"}


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module name, at module level?) for every import statement in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, id(node) in top))
    return found


def modules(package: str) -> list[Path]:
    return sorted(PACKAGES[package].glob("*.py"))


def test_every_package_has_modules():
    for package in PACKAGES:
        assert modules(package), package


@pytest.mark.parametrize("package, forbidden", [("daemon", "antiphon.training"), ("training", "antiphon.daemon"),
                                                ("engine", "antiphon.daemon"), ("engine", "antiphon.training")])
def test_packages_do_not_import_each_other(package, forbidden):
    bad = [f"{path.name}: {name}" for path in modules(package) for name, _ in imports(path)
           if name == forbidden or name.startswith(forbidden + ".")]
    assert not bad


def test_no_module_uses_the_old_top_level_names():
    bad = [f"{path.relative_to(ROOT)}: {name}" for package in PACKAGES for path in modules(package)
           for name, _ in imports(path) if name.split(".")[0] in ("engine", "daemon", "training")]
    assert not bad


def test_engine_imports_no_heavy_library():
    bad = []
    for path in modules("engine"):
        for name, top in imports(path):
            root = name.split(".")[0]
            if root in HEAVY and (top or not (path.name == "midifile.py" and root == "mido")):
                bad.append(f"{path.name}: {name}")
    assert not bad


def test_cli_support_knows_neither_package():
    names = [name for name, _ in imports(PACKAGES["root"] / "cli_support.py")]
    assert not [n for n in names if n.startswith(("antiphon.daemon", "antiphon.training"))]


def test_the_checker_sees_what_it_looks_for(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import mido\nfrom antiphon.training.train import train\n\ndef f():\n    import keras\n")
    assert imports(probe) == [("mido", True), ("antiphon.training.train", True), ("keras", False)]


def _loaded_after_importing(names: list[str]) -> list[str]:
    """Heavy libraries in ``sys.modules`` after a fresh interpreter imports ``names``."""
    code = ("import importlib, sys\n"
            f"for name in {names!r}: importlib.import_module(name)\n"
            f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout.strip())


def test_importing_engine_and_daemon_modules_loads_no_heavy_library():
    engine = [f"antiphon.engine.{p.stem}" for p in modules("engine") if p.stem != "__init__"]
    daemon = [f"antiphon.daemon.{p.stem}" for p in modules("daemon") if p.stem != "__init__"]
    assert _loaded_after_importing(engine) == []
    assert _loaded_after_importing(engine + daemon) == ["mido"]  # the daemon speaks MIDI; nothing else heavy
