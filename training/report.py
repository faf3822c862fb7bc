"""The evaluation report as a terminal table, markdown and JSON-safe data."""

from __future__ import annotations

import math
from typing import Any

MODEL_NAMES = {"lstm": "LSTM", "lstm_cache": "LSTM + song cache", "lstm_raw": "LSTM alone (no song memory)",
               "idyom": "IDyOM-style PPM", "ngram": "grid n-gram", "unigram": "unigram"}
STAT_LABELS = {"scale_consistency": "scale consistency", "pitch_range": "pitch range (semitones)",
               "pitch_classes": "pitch classes used", "pitch_entropy": "pitch-class entropy (bits)",
               "repeat_share": "repeats", "step_share": "steps (1-2 st)", "leap_share": "leaps (3+ st)",
               "rest_share": "rest share (steps)", "mean_note_length": "mean note length (steps)",
               "ends_on_tonic": "ends on the tonic", "notes": "notes per song"}


def json_safe(value: Any) -> Any:
    """Copy of ``value`` with NaN/inf as None, numpy scalars as Python ones and private ``_`` keys dropped."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _ci(row: dict, name: str) -> str:
    low, high = row[name + "_ci"]
    return f"{row[name]:.3f} [{low:.3f}, {high:.3f}]"


def lstm_label(choices: dict) -> str:
    """What the product's LSTM row holds: the LSTM and the song memory it mixes in."""
    parts = ["LSTM"] + ["song cache"] * bool(choices.get("lstm_cache")) \
        + ["event model"] * bool(choices.get("lstm_event_model"))
    return " + ".join(parts)


def likelihood_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    section = report["likelihood"]
    header = ["model", "bits/event [95% CI]", "bits/step", "perplexity", "pitch bits [95% CI]", "accuracy",
              "acc. non-_"]
    rows = []
    for key, label in MODEL_NAMES.items():
        if key not in section:
            continue
        row = section[key]
        if key == "lstm":
            label = lstm_label(section["choices"])
        if key == "ngram":
            label = f"{label} (order {section['choices']['ngram_order']})"
        rows.append([label, _ci(row, "bits_per_event"), _num(row["bits_per_step"]), _num(row["perplexity"]),
                     _ci(row, "pitch_bits"), _num(row.get("accuracy")), _num(row.get("accuracy_non_hold"))])
    rows.append(["always '_' (majority)", "", "", "", "", _num(section["majority_accuracy"]), "0.000"])
    return header, rows


def generation_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    gen = report["generation"]
    real, samplers = gen["real_test"], gen["samplers"]
    header = ["", "real test"] + list(samplers)
    sets = [real] + list(samplers.values())

    def stat(section: dict, name: str) -> str:
        s = section["stats"][name]
        return f"{_num(s['mean'])} ± {_num(s['std'])}"

    rows = [[label] + [stat(s, name) for s in sets] for name, label in STAT_LABELS.items()]
    for n in ("8", "16"):
        rows.append([f"copies a {n}-event training passage"] + [_num(s["copy_rate"][n]) for s in sets])
    rows.append(["IC under IDyOM-style (bits/event)"] +
                [f"{_num(s['information_content']['mean'])} ± {_num(s['information_content']['std'])}"
                 for s in sets])
    for kind in ("never_ended", "stray_hold", "empty"):
        rows.append([kind.replace("_", " ")] + ["-"] + [_num(s["failures"][kind]) for s in samplers.values()])
    for feature, calib in gen["calibration_validation_vs_train"].items():
        rows.append([f"Y&L OA {feature} (val vs train {calib['oa']:.3f})", "-"] +
                    [_num(s["yang_lerch"].get(feature, {}).get("oa")) for s in samplers.values()])
    for feature, calib in gen["calibration_validation_vs_train"].items():
        rows.append([f"Y&L KL {feature} (val vs train {calib['kl']:.3f})", "-"] +
                    [_num(s["yang_lerch"].get(feature, {}).get("kl")) for s in samplers.values()])
    return header, rows


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _summary_lines(report: dict) -> list[str]:
    section = report["likelihood"]
    diff = section["lstm_minus_idyom"]
    choices = section["choices"]
    idyom = choices["idyom"]
    return [
        f"Test songs: {report['songs']['test']} from {report['test_source']} "
        f"(baselines fitted on {report['songs']['train']} training songs, tuned on "
        f"{report['songs']['validation']} validation songs).",
        f"{lstm_label(choices)} minus IDyOM-style: {diff['bits_per_event']:+.3f} bits/event, 95% CI "
        f"[{diff['ci'][0]:+.3f}, {diff['ci'][1]:+.3f}] (paired bootstrap over songs).",
        *([f"LSTM alone minus IDyOM-style: {section['lstm_raw_minus_idyom']['bits_per_event']:+.3f}"
           f" bits/event, 95% CI [{section['lstm_raw_minus_idyom']['ci'][0]:+.3f}, "
           f"{section['lstm_raw_minus_idyom']['ci'][1]:+.3f}]."] if "lstm_raw_minus_idyom" in section else []),
        f"IDyOM-style choice: order {idyom['max_order']}, escape {idyom['escape']}, update exclusion "
        f"{idyom['update_exclusion']}, LTM+STM {idyom['combination']} mean with entropy bias "
        f"{idyom['bias']}; "
        f"LSTM predictor: {choices['lstm_mode']}"
        + (f"; event model mixed in with pitch weight {event['pitch_weight']}, hold weight {event['hold_weight']}."
           if (event := choices.get("lstm_event_model")) else "."),
    ]


def format_table(report: dict) -> str:
    """Readable plain-text tables for the terminal."""
    parts = ["Likelihood (raw model distribution, each test song from the start padding)",
             _text_table(*likelihood_rows(report)), *_summary_lines(report)]
    if "generation" in report:
        gen = report["generation"]
        parts += ["", f"Generation: {gen['samples']} unseeded melodies per sampler (seed {gen['seed']}, "
                  f"at most {gen['max_steps']} steps); mean ± std over songs",
                  _text_table(*generation_rows(report))]
    return "\n".join(parts)


def format_markdown(report: dict, *, command: str = "", histograms: str | None = None) -> str:
    """The report as markdown (tables, summary, the command that produced it)."""
    parts = ["# Antiphon model evaluation", "", f"Model: `{report['model']}`", ""]
    if command:
        parts += ["Produced by:", "", f"```\n{command}\n```", ""]
    parts += ["## Likelihood", "",
              "Raw model distribution (temperature 1, no weights); each song scored on its own from the "
              "start padding. Bits per note event = total bits of a song's symbols and its end / (notes + "
              "rests + 1), the same for every model.", "", _md_table(*likelihood_rows(report)), ""]
    parts += [f"- {line}" for line in _summary_lines(report)]
    if "generation" in report:
        gen = report["generation"]
        parts += ["", "## Generation", "",
                  f"{gen['samples']} melodies per sampler, unseeded (from the start padding), random seed "
                  f"{gen['seed']}, at most {gen['max_steps']} steps. Statistics are mean ± std over songs; "
                  "Y&L = Yang & Lerch (2020) overlapping area / KL of the generated set against the test "
                  "songs, with validation-vs-training songs as the calibration in brackets.", "",
                  _md_table(*generation_rows(report))]
        if histograms:
            parts += ["", f"![melody statistics, generated vs real]({histograms})"]
    return "\n".join(parts) + "\n"


def write_outputs(report: dict, *, json_path: str | None = None, markdown_path: str | None = None,
                  histograms_path: str | None = None, command: str = "") -> dict[str, str]:
    """Write the JSON, markdown and histogram files asked for; returns {kind: path} of what was written."""
    import json
    from pathlib import Path

    written: dict[str, str] = {}
    rows = report.get("generation", {}).get("_rows")
    if markdown_path and not histograms_path and rows:
        histograms_path = str(Path(markdown_path).with_name(Path(markdown_path).stem + "_stats.png"))
    if histograms_path and rows:
        from antiphon.training.metrics import STAT_NAMES
        from antiphon.training.plot import plot_stat_histograms

        plot_stat_histograms(rows, STAT_NAMES, histograms_path, labels=STAT_LABELS)
        written["histograms"] = histograms_path
    if json_path:
        Path(json_path).write_text(json.dumps(json_safe(report), indent=1) + "\n", encoding="utf-8")
        written["json"] = json_path
    if markdown_path:
        link = None
        if "histograms" in written:
            hist = Path(written["histograms"]).resolve()
            md_dir = Path(markdown_path).resolve().parent
            link = str(hist.relative_to(md_dir)) if hist.is_relative_to(md_dir) else str(hist)
        text = format_markdown(report, command=command, histograms=link)
        Path(markdown_path).write_text(text, encoding="utf-8")
        written["markdown"] = markdown_path
    return written
