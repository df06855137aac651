"""What the tests share: the NumPy oracle, factories of valid arguments, assertions, bad inputs.

Test modules import from here, never from each other.

- `support.oracle`: a plain NumPy LSTM (the reference every numeric test compares with) and
  the merge modes of a bidirectional layer;
- `support.factories`: params, inputs, states and step flags of given sizes;
- `support.assertions`: tolerance checks, pytree equality and the equations of programs;
- `support.layers`: layers run through the public API by the type of their params;
- `support.modules`: the Flax modules built for tests (needs Flax);
- `support.convert`: random stacks and framework-free stand-ins for the converter tests;
- `support.train`: batches, a linear model and an Optax reference loop for `jlstm.train`;
- `support.processes`: the multi-process training worker, run as a script per process;
- `support.bad_inputs`: the registry of bad-input cases;
- `support.sharding_worker`: the multi-device cases, run as a script in a process of its own.
"""
