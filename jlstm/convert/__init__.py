"""Weight converters between jlstm params and the other major LSTM implementations.

Every pair `from_X` / `to_X` maps another framework's weights to jlstm's `LSTMParams`
(PyTorch layout, gates i, f, g, o, one bias) and back:

- `from_torch` / `to_torch`: `torch.nn.LSTM` (any `num_layers`, `bidirectional`,
  `proj_size`, `bias=False`) and `torch.nn.LSTMCell` state dicts, with
  `from_torch_state` / `to_torch_state` for its `(h_n, c_n)` state layout;
- `from_keras` / `to_keras`: `get_weights()` of Keras `LSTM` and `Bidirectional(LSTM)`;
- `from_flax` / `to_flax`: Flax linen and NNX `LSTMCell` / `OptimizedLSTMCell` params,
  with `state_from_flax` / `state_to_flax` for Flax's `(c, h)` carry;
- `from_equinox` / `to_equinox`: `equinox.nn.LSTMCell`;
- `from_cudnn` / `to_cudnn`: the flat weight vector of `jax.experimental.rnn.lstm`.

Every `from_X` returns one structure for one model: `LSTMParams` for one unidirectional
layer, `Bidirectional` for one bidirectional layer, and a tuple with one of those per
layer for two or more layers (a stack, as `jlstm.stack` takes it; wrap one layer as
`(params,)` to run it as a stack). This is what the Flax modules hold for the same
options. Formats that say how many layers they hold (a Keras list of lists) keep it.

The converters only use NumPy and never import those frameworks: foreign arrays are read
with `np.asarray`. `from_X` returns jlstm params of jax arrays; `to_X` returns NumPy arrays
for PyTorch and Keras and jax arrays for the JAX libraries. They run eagerly (not under
`jax.jit`), except the state converters. Every conversion is exact except one: PyTorch
and cuDNN keep two biases that only ever appear as a sum, and jlstm keeps that sum, so
they are exported as `(sum, zeros)`.

Example:
  >>> import jax
  >>> from jlstm import convert, init_lstm
  >>> params = init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
  >>> back = convert.from_keras(convert.to_keras(params))
  >>> bool((back.weight_ih == params.weight_ih).all())
  True
"""

from jlstm.convert._cells import from_equinox, from_flax, to_equinox, to_flax
from jlstm.convert._stacks import from_cudnn, from_keras, from_torch, to_cudnn, to_keras, to_torch
from jlstm.convert._states import from_torch_state, state_from_flax, state_to_flax, to_torch_state

__all__ = [
    "from_cudnn",
    "from_equinox",
    "from_flax",
    "from_keras",
    "from_torch",
    "from_torch_state",
    "state_from_flax",
    "state_to_flax",
    "to_cudnn",
    "to_equinox",
    "to_flax",
    "to_keras",
    "to_torch",
    "to_torch_state",
]
