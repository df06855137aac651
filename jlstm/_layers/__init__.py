"""The layers users call: `lstm`, `bidirectional` and `stack`."""
