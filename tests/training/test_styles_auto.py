"""``--style auto`` with the bundled styles on real tunes whose style is obvious."""

from __future__ import annotations

import pytest

from antiphon.engine.keyfind import fold_into_vocab
from antiphon.engine.meter import bar_positions
from antiphon.engine.model import LstmModel
from antiphon.engine.styles import likeliest, score_call, style_folders
from antiphon.training.calls import cut_call
from antiphon.training.corpus import music21_corpus_dir, split_items
from antiphon.training.dataset import load_dataset
from antiphon.training.preprocess import preprocess

TUNES = {"chinese": ("essenFolksong/han2.abc", slice(600, 606)), "german": ("essenFolksong/erk5.abc", slice(0, 6)),
         "irish": ("oneills1850/1001-1031.abc", slice(0, 10))}


def _calls(tmp_path, name: str, bars: int = 4) -> list:
    file, picked = TUNES[name]
    items = split_items(music21_corpus_dir() / file)[picked]
    (tmp_path / f"{name}.abc").write_bytes(b"\n".join(item.data for item in items))
    preprocess([str(tmp_path / f"{name}.abc")], tmp_path / name, workers=1, use_cache=False)
    data = load_dataset(tmp_path / name)
    cuts = [cut_call(song, entry.get("meter"), bars) for song, entry in zip(data.songs, data.manifest["songs"],
                                                                            strict=True)]
    return [cut for cut in cuts if cut is not None]


@pytest.mark.parametrize("own", sorted(TUNES))
def test_auto_picks_the_style_of_an_obvious_call(tmp_path, own):
    folders = style_folders()
    if not set(TUNES) <= set(folders):
        pytest.fail(f"bundled styles missing: {set(TUNES) - set(folders)}")
    models = {name: LstmModel.load(folders[name]) for name in TUNES}
    cuts = _calls(tmp_path, own)
    assert len(cuts) >= 3
    picks = []
    for cut in cuts:
        costs = {}
        for name, model in models.items():
            predictor = model.predictor("stateful")
            predictor.prime(model.song_start())
            symbols = fold_into_vocab(cut.call, model.vocab)
            positions = bar_positions(cut.meter, len(symbols) + 1).tolist()[1:]
            costs[name] = score_call(predictor, model.vocab.encode(symbols), positions)
        picks.append(likeliest(costs))
    assert picks.count(own) >= len(picks) - 1, picks  # at most one miss on these few tunes
