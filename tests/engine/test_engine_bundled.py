"""The bundled default model: it loads without TensorFlow, says what it is, and the commands use it."""

import json
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np

from antiphon.engine.model import BUNDLED_MODEL_DIR, LstmModel, bundled_model_path
from antiphon.engine.sampler import EntropySampler, SamplerConfig, generate

ROOT = Path(__file__).resolve().parents[2]


def test_bundled_model_is_the_documented_one():
    assert bundled_model_path() == BUNDLED_MODEL_DIR
    model = LstmModel.load(BUNDLED_MODEL_DIR)  # load time is measured by benchmarks/bench_engine.py
    config = model.config
    assert config["architecture"]["units"] == 256 and config["architecture"]["position_features"] == 48
    assert config["corpus"]["inputs"] == ["essenFolksong/erk*"] and config["corpus"]["songs"] == 1781
    assert model.cache_config is not None and model.cache_config.lam > 0
    assert model.mix_config is not None and model.event_mixture is not None  # its event model (events.json)
    report = json.loads((BUNDLED_MODEL_DIR / "evaluation.json").read_text())
    likelihood = report["likelihood"]
    # The shipped evaluation: below the IDyOM-style baseline with the paired interval clear of zero.
    assert likelihood["lstm"]["bits_per_event"] < likelihood["idyom"]["bits_per_event"]
    assert likelihood["lstm_minus_idyom"]["ci"][1] < 0
    assert f"{likelihood['lstm']['bits_per_event']:.3f}" in (BUNDLED_MODEL_DIR / "README.md").read_text()


def test_bundled_model_continues_a_seed_in_c_major():
    model = LstmModel.load(BUNDLED_MODEL_DIR)
    sampler = EntropySampler(model.vocab, SamplerConfig(), np.random.default_rng(1))
    melody = generate(model.predictor(), sampler, "60 _ _ _ 64 _ _ _ 67 _ _ _".split(), 64, [[0, 16, 0]])
    pitches = [int(s) for s in melody if s.isdigit()]
    assert pitches, melody
    in_scale = sum(p % 12 in (0, 2, 4, 5, 7, 9, 11) for p in pitches) / len(pitches)
    assert in_scale >= 0.8


def test_respond_uses_the_bundled_model_by_default(tmp_path):
    out = tmp_path / "response.mid"
    proc = subprocess.run([sys.executable, "-m", "antiphon", "respond", str(ROOT / "examples" / "call.mid"),
                           "-o", str(out), "--random-seed", "3"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    notes = [m.note for m in mido.MidiFile(out) if m.type == "note_on" and m.velocity > 0]
    assert notes
    # The call is in E-flat major; the answer is brought back into it.
    e_flat_major = {3, 5, 7, 8, 10, 0, 2}
    assert sum(n % 12 in e_flat_major for n in notes) / len(notes) >= 0.8
