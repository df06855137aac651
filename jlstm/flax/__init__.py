"""Flax modules over jlstm's functions, whose params are the jlstm pytree itself.

Import it explicitly (`from jlstm import flax` or `import jlstm.flax`); it needs Flax, the
`jlstm[flax]` extra (`pip install 'jlstm[flax]'`), which `import jlstm` does not load.

- `LSTM`: a linen `nn.Module`; `variables["params"]["lstm"]` is the jlstm params.
- `NNXLSTM`: an NNX `nnx.Module`; `model.lstm` is the jlstm params, one `nnx.Param` per
  array, and `model.params` the same pytree of plain arrays.

Both take the options of the functional API (`num_layers`, `bidirectional`, `proj_size`,
`dropout` between layers, `input_dropout` / `recurrent_dropout` inside the recurrence,
`lengths`, `time_major`, an initial state) and Keras' `return_sequences` /
`return_state`, so the classic Keras call `LSTM(units=2, return_state=True)` is
`LSTM(features=2, return_sequences=False, return_state=True)`, with the same numbers.

Example:
  >>> import jax, jax.numpy as jnp, jlstm
  >>> from flax import linen as nn
  >>> from jlstm.flax import LSTM
  >>> class Tagger(nn.Module):
  ...     @nn.compact
  ...     def __call__(self, xs):  # (batch, time, features) -> (batch, time, 5)
  ...         return nn.Dense(5)(LSTM(features=8, num_layers=2)(xs))
  >>> variables = Tagger().init(jax.random.key(0), jnp.ones((2, 7, 3)))
  >>> [layer.weight_ih.shape for layer in variables["params"]["LSTM_0"]["lstm"]]
  [(32, 3), (32, 8)]
"""

try:
    from jlstm.flax._linen import LSTM
    from jlstm.flax._nnx import NNXLSTM
except ModuleNotFoundError as error:
    if error.name is None or error.name.split(".")[0] != "flax":
        raise
    raise ModuleNotFoundError(
        "jlstm.flax needs Flax, which is not installed: pip install 'jlstm[flax]'", name=error.name
    ) from error

__all__ = ["LSTM", "NNXLSTM"]
