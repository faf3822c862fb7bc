"""Antiphon's run-time core: symbols, vocabulary, the numpy LSTM and the sampler.

Pure Python and numpy: importing ``engine`` never imports TensorFlow, mido or music21.
"""
