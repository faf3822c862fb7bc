"""``antiphon evaluate`` end to end on a tiny model trained here on real erk songs, and ``antiphon plot``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
try:  # keep TensorFlow to the shared cores; must run before its runtime starts
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:
    pass

import mido  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from antiphon.cli import build_app  # noqa: E402

app = build_app()
from antiphon.engine.events import DELIMITER  # noqa: E402
from antiphon.engine.model import LstmModel  # noqa: E402
from antiphon.training.baselines import IdyomModel, UnigramModel, count_events, event_alphabet  # noqa: E402
from antiphon.training.corpus import music21_corpus_dir, split_items  # noqa: E402
from antiphon.training.dataset import load_dataset  # noqa: E402
from antiphon.training.eval_data import find_dataset, model_split  # noqa: E402
from antiphon.training.evaluate import (  # noqa: E402
    evaluate,
    lstm_distributions,
    primed_predictor,
    score_events,
    score_grid,
)
from antiphon.training.preprocess import preprocess  # noqa: E402
from antiphon.training.train import train  # noqa: E402

SEQUENCE_LENGTH = 16


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """The tunes of music21's erk5.abc (27), preprocessed, and a tiny LSTM trained on them."""
    folder = tmp_path_factory.mktemp("eval")
    items = split_items(music21_corpus_dir() / "essenFolksong" / "erk5.abc")[:30]
    (folder / "erk5_head.abc").write_bytes(b"\n".join(item.data for item in items))
    preprocess([str(folder / "erk5_head.abc")], folder / "data", sequence_length=SEQUENCE_LENGTH, workers=1)
    train(folder / "data", folder / "model", recipe="per_step", epochs=2, seed=1, units=16, batch_size=16,
          learning_rate=0.01, chunk_length=16, threads=1)
    return folder


def test_bits_per_event_are_counted_the_same_for_every_model(trained):
    model = LstmModel.load(trained / "model")
    data = load_dataset(trained / "data")
    song = data.songs[0]
    lstm = score_grid(lstm_distributions(primed_predictor(model), song), song, model.vocab)
    # The same bits from a fresh predictor fed the padding and the song, probability by probability.
    predictor = model.predictor()
    indices = model.vocab.encode([DELIMITER] * SEQUENCE_LENGTH + song + [DELIMITER])
    probs = predictor.prime(indices[:SEQUENCE_LENGTH])
    bits = 0.0
    for index in indices[SEQUENCE_LENGTH:]:
        bits -= math.log2(probs[index])
        probs = predictor.feed(index)
    assert lstm.bits == pytest.approx(bits, rel=1e-9)
    unigram = UnigramModel(data.songs[1:], model.vocab.symbols)
    uni = score_grid(unigram.distributions(song), song, model.vocab)
    assert uni.bits == pytest.approx(-sum(math.log2(unigram.probabilities[model.vocab.index(s)])
                                          for s in song + [DELIMITER]))
    idyom = IdyomModel(data.songs[1:], event_alphabet(data.songs), max_order=3)
    events = score_events(idyom, song)
    assert events.bits == pytest.approx(-idyom.log2_probs(song).sum())
    assert lstm.events == uni.events == events.events == count_events(song) + 1
    assert lstm.steps == uni.steps == events.steps == len(song) + 1
    assert lstm.notes == uni.notes == events.notes == sum(s.isdigit() for s in song)


def test_split_and_dataset_come_from_the_artifact(trained, tmp_path):
    model = LstmModel.load(trained / "model")
    n = len(load_dataset(trained / "data").songs)
    train_idx, val_idx, test_idx = model_split(model.config, n)
    assert sorted(train_idx + val_idx + test_idx) == list(range(n)) and len(test_idx) == round(n / 10)
    seed_only = {"split": {"seed": model.config["split"]["seed"]}}
    assert model_split(seed_only, n) == (train_idx, val_idx, test_idx)
    with pytest.raises(ValueError, match="split"):
        model_split({}, n)
    with pytest.raises(ValueError, match="outside"):
        model_split(model.config, n - 5)
    assert find_dataset(model.config) == trained / "data"
    other = tmp_path / "other"
    other.mkdir()
    (other / "dataset.txt").write_text("60 _ " + "/ " * SEQUENCE_LENGTH)
    with pytest.raises(ValueError, match="not the dataset this model was trained on"):
        find_dataset(model.config, other)
    with pytest.raises(ValueError, match="--dataset"):
        find_dataset(model.config, tmp_path / "missing")


def test_evaluate_reports_likelihood_baselines_and_generation(trained):
    report = evaluate(trained / "model", samples=12, seed=5)
    section = report["likelihood"]
    n = len(load_dataset(trained / "data").songs)
    held = round(n / 10)
    assert report["songs"] == {"train": n - 2 * held, "validation": held, "test": held}
    for name in ("lstm", "idyom", "ngram", "unigram"):
        row = section[name]
        low, high = row["bits_per_event_ci"]
        assert low <= row["bits_per_event"] <= high and row["bits_per_event"] > 0
        assert row["perplexity"] == pytest.approx(2 ** row["bits_per_step"])
    assert 0.5 < section["majority_accuracy"] < 0.9
    assert 0 <= section["lstm"]["accuracy_non_hold"] <= 1
    diff = section["lstm_minus_idyom"]["bits_per_event"]
    assert diff == pytest.approx(section["lstm"]["bits_per_event"] - section["idyom"]["bits_per_event"])
    gen = report["generation"]
    assert len(gen["samplers"]) == 5 and gen["real_test"]["count"] == round(n / 10)
    default = next(iter(gen["samplers"].values()))
    assert default["count"] <= 12 and set(default["failures"]) == {"never_ended", "stray_hold", "empty"}
    assert 0 <= default["yang_lerch"]["pitch_class_histogram"]["oa"] <= 1.01
    assert gen["real_test"]["stats"]["scale_consistency"]["mean"] > 0.9  # real folk songs are diatonic
    again = evaluate(trained / "model", samples=12, seed=5)
    assert json.dumps(again["likelihood"]) == json.dumps(section)  # reproducible with the seed


def test_evaluate_cli_writes_json_markdown_and_histograms(trained, tmp_path):
    out_json, out_md = tmp_path / "report.json", tmp_path / "report.md"
    result = CliRunner().invoke(app, ["evaluate", "--model", str(trained / "model"), "--samples", "6",
                                      "--json", str(out_json), "--markdown", str(out_md)])
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last == json.loads(out_json.read_text())
    assert "bits/event" in result.stdout and "IDyOM-style PPM" in result.stdout
    markdown = out_md.read_text()
    assert markdown.startswith("# Antiphon model evaluation") and "report_stats.png" in markdown
    assert (tmp_path / "report_stats.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = CliRunner().invoke(app, ["evaluate", "--model", str(tmp_path)])
    assert bad.exit_code == 2 and "error" in bad.output


def test_evaluate_on_another_corpus(trained):
    items = split_items(music21_corpus_dir() / "essenFolksong" / "erk10.abc")[:6]
    path = trained / "other.abc"
    path.write_bytes(b"\n".join(item.data for item in items))
    report = evaluate(trained / "model", corpus=[str(path)], samples=0)
    assert report["test_source"] == str(path) and "generation" not in report
    assert report["songs"]["test"] + report["skipped_test_songs"] >= 4 and report["songs"]["test"] >= 1
    assert np.isfinite(report["likelihood"]["lstm"]["bits_per_event"])


def test_plot_draws_call_and_response(tmp_path):
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    for name, pitches, start in (("call", (60, 62, 64, 65), 0), ("response", (67, 65, 64, 60), 4 * 480)):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        track.append(mido.Message("note_on", note=pitches[0], velocity=80, time=start))
        for i, pitch in enumerate(pitches):
            if i:
                track.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
            track.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
        midi.tracks.append(track)
    midi.save(tmp_path / "session.mid")
    result = CliRunner().invoke(app, ["plot", str(tmp_path / "session.mid"), "-o",
                                      str(tmp_path / "roll.png")])
    assert result.exit_code == 0, result.output
    png = (tmp_path / "roll.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    (tmp_path / "garbage.mid").write_bytes(b"not midi at all")
    bad = CliRunner().invoke(app, ["plot", str(tmp_path / "garbage.mid")])
    assert bad.exit_code == 2 and "cannot read MIDI file" in bad.output


def test_event_model_is_fitted_tuned_on_validation_and_scored_with_the_lstm(trained, tmp_path):
    import shutil

    from antiphon.training.event_tune import PITCH_WEIGHTS, tune_events_artifact

    folder = tmp_path / "model"
    shutil.copytree(trained / "model", folder)
    result = tune_events_artifact(str(folder), str(trained / "data"))
    assert result["val_bits_per_step"] <= result["val_bits_per_step_without"]
    assert result["pitch_weight"] in PITCH_WEIGHTS and result["settings"]["max_order"] >= 1
    model = LstmModel.load(folder)
    assert model.config["training"]["event_tuning"] == result
    # A tiny model on 21 songs gains a lot from the event model: it is kept, and evaluate shows what it adds.
    assert model.event_mixture is not None and result["pitch_weight"] > 0
    section = evaluate(folder, samples=0)["likelihood"]
    assert section["choices"]["lstm_event_model"]["pitch_weight"] == result["pitch_weight"]
    assert section["lstm"]["bits_per_event"] < section["lstm_raw"]["bits_per_event"]
    fixed = tune_events_artifact(str(folder), str(trained / "data"), pitch_weight=0.3)
    assert fixed["pitch_weight"] == 0.3 and fixed["validation_best"]["pitch_weight"] == result["pitch_weight"]
    assert fixed["val_bits_per_step"] >= result["val_bits_per_step"] - 1e-12
    assert LstmModel.load(folder).mix_config.pitch_weight == 0.3


def test_calls_are_cut_at_bar_lines_and_scored_like_whole_songs(trained):
    from antiphon.training.calls import cut_call, model_bits

    model = LstmModel.load(trained / "model")
    dataset = load_dataset(trained / "data")
    entries = dataset.manifest["songs"]
    checked = 0
    for song, entry in zip(dataset.songs, entries, strict=True):
        cut = cut_call(song, entry.get("meter"), 2)
        if cut is None:
            continue
        checked += 1
        assert cut.call + cut.continuation == song[:len(cut.call) + len(cut.continuation)]
        assert cut.continuation[0] != "_"  # both parts start at an onset, so every model meets the same events
        # The continuation's bits equal the whole-song scorer's rows for those steps.
        rows = lstm_distributions(primed_predictor(model), song, entry["meter"])
        start, end = len(cut.call), len(cut.call) + len(cut.continuation)
        indices = model.vocab.encode(song[start:end])
        expected = -np.log2(rows[np.arange(start, end), indices]).sum()
        assert model_bits(primed_predictor(model), cut) == pytest.approx(expected, rel=1e-9)
    assert checked >= 10


def test_evaluate_calls_cli_end_to_end(trained, tmp_path):
    out_json = tmp_path / "calls.json"
    result = CliRunner().invoke(app, ["evaluate", "--calls", "--model", str(trained / "model"),
                                      "--test-of", str(trained / "model"), "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    report = json.loads(out_json.read_text())
    assert report["test_source"] == f"the test songs of {trained / 'model'}"
    two = report["calls"]["2_bars"]
    assert two["calls"] >= 1 and math.isfinite(two["model_bits_per_event"])
    assert math.isfinite(two["idyom_bits_per_event"]) and two["continuation_events"] > two["calls"]
    for side in ("answers", "true_continuations"):
        assert set(two[side]) == {"notes", "pitch_range", "leading_rest", "fills", "strong_ending",
                                  "shared_patterns"}
    assert two["answers"]["leading_rest"]["mean"] == 0.0  # an answer starts with a note
    assert "2 bars calls" in result.stdout and "leading rest" in result.stdout


def test_evaluate_prepares_a_missing_dataset_in_the_cache_folder(trained, tmp_path, monkeypatch):
    moved = tmp_path / "model"
    moved.mkdir()
    for file in (trained / "model").iterdir():
        if file.is_file():
            (moved / file.name).write_bytes(file.read_bytes())
    config = json.loads((moved / "config.json").read_text())
    config["dataset"]["path"] = str(tmp_path / "gone")
    (moved / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lines = []
    report = evaluate(moved, samples=0, log=lines.append)
    assert "first use" in lines[0] and report["songs"]["test"] >= 1
    prepared = list((tmp_path / "cache" / "antiphon" / "datasets").iterdir())
    assert len(prepared) == 1 and (prepared[0] / "dataset.txt").is_file()
    evaluate(moved, samples=0, log=lines.append)  # the second time from the cache
    assert sum("first use" in line for line in lines) == 1
