"""What the tests share: the NumPy oracle, factories of valid arguments, assertions, bad inputs.

- `support.oracle`: a plain NumPy LSTM (the reference every numeric test compares with);
- `support.factories`: params, inputs and states of given sizes;
- `support.assertions`: tolerance checks and pytree equality;
- `support.bad_inputs`: the registry of bad-input cases.
"""
