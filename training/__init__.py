"""Offline training: corpus loading and encoding (music21), datasets, and the Keras LSTM."""
