"""Pure decisions of the workflows: no I/O, no clock, no randomness, so tests call them directly."""
