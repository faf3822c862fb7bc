"""The live service: MIDI ports, the step clock, the call-and-response session and recording."""
