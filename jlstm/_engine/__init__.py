"""The sequence engine: step rules, `jlstm.scan`, the LSTM kernel and the layer call."""
