"""`antiphon preprocess` end to end: outputs, report, cache and the CLI."""

import json
import subprocess
import sys

from antiphon.engine.vocab import Vocab
from antiphon.training.corpus import Settings
from antiphon.training.dataset import load_dataset, split_joined
from antiphon.training.preprocess import preprocess


def small_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "tunes.abc").write_text("".join(
        f"X:{n}\nT:Song {n}\nM:4/4\nL:1/4\nK:D\nD F A d | c B A2 | G F E D | D4 |\n\n" for n in (1, 2)))
    (corpus / "odd.abc").write_text("X:1\nT:Six\nM:6/4\nL:1/4\nK:C\nC2 E2 G2 | c6 |\n")
    (corpus / "junk.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (corpus / "notes.txt").write_text("not music")  # not a music file: ignored
    return corpus


def test_preprocess_writes_dataset_and_reports_skips(tmp_path):
    out = tmp_path / "out"
    report = preprocess([str(small_corpus(tmp_path))], out, sequence_length=8, workers=1)
    assert report["files_read"] == 3
    assert report["songs_found"] == 4
    assert report["kept"] == 2
    assert report["skipped"]["unaccepted_duration"] == 1
    assert report["skipped"]["unreadable"] == 1
    reasons = {entry["source"].rsplit("/", 1)[-1]: entry["reason"] for entry in report["skipped_songs"]}
    assert reasons == {"odd.abc#1": "unaccepted_duration", "junk.mid": "unreadable"}

    songs = sorted((out / "songs").glob("*.txt"))
    assert [p.name for p in songs] == ["00000.txt", "00001.txt"]
    first = songs[0].read_text().split()
    assert first[:5] == ["60", "_", "_", "_", "64"]  # D major -> C major
    text = (out / "dataset.txt").read_text()
    assert text.split()[len(first):len(first) + 8] == ["/"] * 8
    assert split_joined(text) == [p.read_text().split() for p in songs]
    vocab = Vocab.load(out / "mapping.json")
    assert vocab.decode(vocab.encode(first)) == first
    dataset = load_dataset(out)
    assert dataset.sequence_length == 8 and len(dataset.songs) == 2
    assert dataset.manifest["songs"][0]["key"] == "D major"
    assert json.loads((out / "report.json").read_text())["kept"] == 2


def test_cached_rerun_parses_nothing_and_writes_identical_files(tmp_path):
    corpus = small_corpus(tmp_path)
    out = tmp_path / "out"
    first = preprocess([str(corpus)], out, sequence_length=8, workers=1)
    before = (out / "dataset.txt").read_bytes(), (out / "mapping.json").read_bytes()
    again = preprocess([str(corpus)], out, sequence_length=8, workers=1)
    assert first["parsed"] == 4 and again["parsed"] == 0
    assert again["from_cache"] == 4
    assert ((out / "dataset.txt").read_bytes(), (out / "mapping.json").read_bytes()) == before
    # Other settings invalidate the cache.
    wider = preprocess([str(corpus)], out, sequence_length=8, workers=1,
                       settings=Settings(accepted_durations=(0.25, 0.5, 1.0, 2.0, 4.0, 6.0)))
    assert wider["parsed"] == 4 and wider["kept"] == 3


def test_parallel_and_serial_outputs_are_identical(tmp_path):
    files = ["essenFolksong/erk5.abc"]
    serial = preprocess(files, tmp_path / "serial", workers=1, use_cache=False)
    parallel = preprocess(files, tmp_path / "parallel", workers=2, use_cache=False)
    assert serial["kept"] == parallel["kept"] > 10
    for name in ("dataset.txt", "mapping.json", "manifest.json"):
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "parallel" / name).read_bytes()


def test_cli_preprocess_runs_and_prints_counts(tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "antiphon", "preprocess", str(small_corpus(tmp_path)),
                           "--out", str(out), "--sequence-length", "8", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "songs found 4, kept 2" in proc.stdout
    assert json.loads(proc.stdout.strip().splitlines()[-1])["kept"] == 2
    bad = subprocess.run([sys.executable, "-m", "antiphon", "preprocess", "--durations", "x,y"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--durations" in bad.stderr
