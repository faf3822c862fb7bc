"""Mutation fuzz of MIDI files through the corpus loader: never an uncaught exception, never a hang."""

import os
import signal

import mido
import numpy as np
import pytest

from antiphon.training.corpus import SKIP_REASONS, Item, Settings, process_item
from antiphon.training.preprocess import preprocess

CASES = int(os.environ.get("ANTIPHON_FUZZ_CASES", "1500"))
HANG_S = 5


class Hang(BaseException):
    """Raised by the alarm; a BaseException so the loader's own error handling cannot swallow it."""


def seed_midi(path) -> bytes:
    mid = mido.MidiFile(ticks_per_beat=96)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500_000))
    track.append(mido.MetaMessage("key_signature", key="Eb"))
    for i, pitch in enumerate([63, 65, 67, 68, 70, 68, 67, 65, 63, 70, 75, 63]):
        track.append(mido.Message("note_on", note=pitch, velocity=90, time=0 if i else 96))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=48 * (1 + i % 3)))
    mid.save(path)
    return path.read_bytes()


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 8))):
        op = rng.integers(0, 5)
        pos = int(rng.integers(0, max(1, len(buf))))
        if op == 0 and buf:  # flip a byte
            buf[pos % len(buf)] = int(rng.integers(0, 256))
        elif op == 1:  # truncate
            del buf[pos:]
        elif op == 2:  # insert random bytes
            buf[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        elif op == 3 and buf:  # duplicate a slice
            end = min(len(buf), pos + int(rng.integers(1, 64)))
            buf[pos:pos] = buf[pos:end]
        elif op == 4 and len(buf) > 22:  # corrupt a chunk length field
            where = 18 if rng.random() < 0.5 else 4
            buf[where:where + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
    return bytes(buf)


def _alarm(signum, frame):
    raise Hang()


def test_mutated_midi_files_never_crash_or_hang(tmp_path):
    original = seed_midi(tmp_path / "seed.mid")
    rng = np.random.default_rng(20261123)
    path = tmp_path / "case.mid"
    settings = Settings()
    statuses = {"kept": 0, "skipped": 0}
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for case in range(CASES):
            data = mutate(original, rng)
            path.write_bytes(data)
            signal.alarm(HANG_S)
            try:
                results = process_item(Item(str(path), None, "midi", data), settings)
            except Hang:
                pytest.fail(f"case {case} hung for over {HANG_S} s; bytes: {data.hex()[:200]}")
            finally:
                signal.alarm(0)
            assert results, f"case {case}: no result"
            for result in results:
                assert result["status"] in statuses
                if result["status"] == "skipped":
                    assert result["reason"] in SKIP_REASONS
                else:
                    assert all(s in ("r", "_") or s.isdigit() for s in result["symbols"])
                statuses[result["status"]] += 1
    finally:
        signal.signal(signal.SIGALRM, previous)
    # Both outcomes occur: the fuzz really reaches the parser, not only the file-reading edge.
    assert statuses["kept"] > 0 and statuses["skipped"] > 0, statuses


def test_bad_files_of_every_format_are_counted_never_fatal(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    good = seed_midi(corpus / "good.mid")
    (corpus / "truncated.mid").write_bytes(good[: len(good) // 2])
    (corpus / "empty.mid").write_bytes(b"")
    (corpus / "garbage.krn").write_bytes(os.urandom(4096))
    (corpus / "truncated.krn").write_text("**kern\n*M4/4\n=1\n4c\n4d\n4e")
    (corpus / "empty.abc").write_text("")
    (corpus / "garbage.abc").write_bytes(b"X:1\nK:\xff\xfe\x00\n[[[[|||]]]\n")
    (corpus / "truncated.xml").write_text('<?xml version="1.0"?><score-partwise><part-list>')
    (corpus / "garbage.mxl").write_bytes(os.urandom(2048))
    (corpus / "huge.mid").write_bytes(b"MThd" + os.urandom(64))
    report = preprocess([str(corpus)], tmp_path / "out", workers=1, use_cache=False, max_file_bytes=64)
    assert report["files_read"] == 10
    assert report["kept"] >= 1  # good.mid
    assert report["skipped"]["too_large"] >= 1
    assert report["kept"] + sum(report["skipped"].values()) == report["songs_found"]
    named = {entry["source"].rsplit("/", 1)[-1].split("#")[0] for entry in report["skipped_songs"]}
    assert {"huge.mid", "garbage.mxl", "empty.mid", "garbage.krn"} <= named


def test_mutated_abc_and_kern_text_never_crash_or_hang():
    abc = b"X:1\nT:Fuzz\nM:3/4\nL:1/8\nK:Eb\nE2 G2 B2 | e4 d2 | c2 B2 G2 | E6 |]\n"
    kern = b"**kern\n*M3/4\n*k[b-e-a-]\n=1\n4e-\n4g\n4b-\n=2\n2.ee-\n*-\n"
    rng = np.random.default_rng(7)
    previous = signal.signal(signal.SIGALRM, _alarm)
    outcomes = []
    try:
        for case in range(CASES // 5):
            fmt, original = ("abc", abc) if case % 2 else ("humdrum", kern)
            data = mutate(original, rng)
            signal.alarm(HANG_S)
            try:
                if fmt == "abc":
                    results = process_item(Item("fuzz.abc", 1, fmt, data), Settings())
                else:
                    path = f"/tmp/antiphon-fuzz-{os.getpid()}.krn"
                    with open(path, "wb") as handle:
                        handle.write(data)
                    results = process_item(Item(path, None, fmt, data), Settings())
            except Hang:
                pytest.fail(f"{fmt} case {case} hung; bytes: {data!r}")
            finally:
                signal.alarm(0)
            outcomes.extend(r["status"] for r in results)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert "kept" in outcomes and "skipped" in outcomes
