"""`jlstm.flax.LSTM`: a Flax linen module over the functional API and its params."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from jlstm._init import GLOROT_UNIFORM, ORTHOGONAL, Initializer
from jlstm._public import public
from jlstm._validation import modules as check
from jlstm.flax import _layer as layer

__all__ = ["LSTM"]

PARAM_NAME = "lstm"


@public("jlstm.flax")
class LSTM(nn.Module):
    """An LSTM layer or stack as a linen module; its params are the jlstm pytree, unchanged.

    `variables["params"]["lstm"]` holds what `jlstm.init_lstm` / `jlstm.init_stack` build:
    an `LSTMParams` (one layer), a `Bidirectional` (one bidirectional layer) or a stack
    tuple (`num_layers > 1`), so `jlstm.lstm`, `jlstm.bidirectional` or `jlstm.stack` on
    it give the module's outputs bit for bit, and converted weights
    (`jlstm.convert.from_torch`, ...) load by putting them there. The module runs the
    params it holds, whatever options built them. `input_size` is read from the inputs at
    `init`.

    The result follows Keras' flags (but returns the whole sequence by default, like
    Flax's `nn.RNN`): the outputs `(*batch, time, out)` with `return_sequences=True`, the
    last output `(*batch, out)` otherwise (the output after each sequence's last valid
    step; for a bidirectional layer the merged final `h` of both directions). With
    `return_state=True` it is a tuple `(output, h, c)` for one layer, like
    `keras.layers.LSTM(return_state=True)`; with more layers or directions the final `h`
    and `c` of every layer follow in order, forward before backward, as in Keras'
    `Bidirectional`. `out` is `proj_size or features`, twice that for a bidirectional
    layer with `merge_mode="concat"`.

    Attributes:
      features: hidden size of each layer (size of `c`).
      num_layers: number of stacked layers.
      bidirectional: whether each layer runs both ways (`jlstm.bidirectional`).
      proj_size: projected size of `h` (LSTMP), smaller than `features`; None for none.
      bias: whether the layers have a bias.
      merge_mode: how the directions of a bidirectional layer merge: "concat", "sum",
        "mean" or "mul".
      dropout: dropout rate of the outputs between stacked layers (`torch.nn.LSTM`'s).
      input_dropout: variational dropout rate of each layer's inputs (Keras' `dropout`).
      recurrent_dropout: variational dropout rate of the recurrent `h` (Keras').
      time_major: whether inputs and outputs are `(time, *batch, features)`.
      return_sequences: return the outputs of every step (else the last output).
      return_state: also return the final `h` and `c` (see above).
      deterministic: whether dropout is off; may also be given at call time, where it
        takes precedence. Only needed when a dropout rate is set. Masks are drawn from
        the "dropout" rng: `apply(..., rngs={"dropout": key})`.
      forget_bias: added to the forget-gate bias at init (Jozefowicz et al. 2015).
      weight_ih_init: initialiser of `weight_ih` (Glorot uniform).
      weight_hh_init: initialiser of `weight_hh` (orthogonal).
      weight_hr_init: initialiser of the projection `weight_hr` (Glorot uniform).
      bias_init: initialiser of the bias before `forget_bias` is added (zeros).
      param_dtype: dtype of the params.
      dtype: compute dtype of the matrix products (see `jlstm.lstm`). None follows
        Flax's convention (as `nn.Dense`): the inputs' and params' dtypes promoted, so
        float16 inputs are cast to float32 params, and float64 data under
        `jax_enable_x64` computes in float64 with float32 params (the state keeps the
        params' dtype).
      unroll, remat, checks: passed to `jlstm.lstm` for every layer (see there):
        loop unrolling, recomputation in the backward pass, and run-time checks (run
        `apply` through `jlstm.checked` to see them; `init` skips them).

    Example:
      >>> import jax, jax.numpy as jnp, jlstm
      >>> from jlstm.flax import LSTM
      >>> xs = jnp.ones((3, 5, 4))  # (batch, time, features)
      >>> model = LSTM(features=2, return_sequences=False, return_state=True)
      >>> variables = model.init(jax.random.key(0), xs)
      >>> last_output, h, c = model.apply(variables, xs)
      >>> last_output.shape, bool(jnp.all(last_output == h))
      ((3, 2), True)
      >>> _, ys = jlstm.lstm(variables["params"]["lstm"], xs)
      >>> bool(jnp.all(ys[:, -1] == last_output))
      True
    """

    features: int
    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int | None = None
    bias: bool = True
    merge_mode: str = "concat"
    dropout: float = 0.0
    input_dropout: float = 0.0
    recurrent_dropout: float = 0.0
    time_major: bool = False
    return_sequences: bool = True
    return_state: bool = False
    deterministic: bool | None = None
    forget_bias: float = 1.0
    weight_ih_init: Initializer = GLOROT_UNIFORM
    weight_hh_init: Initializer = ORTHOGONAL
    weight_hr_init: Initializer = GLOROT_UNIFORM
    bias_init: Initializer = jax.nn.initializers.zeros
    param_dtype: Any = jnp.float32
    dtype: Any = None
    unroll: int | bool = 1
    remat: bool = False
    checks: bool = False

    @nn.compact
    def __call__(
        self,
        xs: jax.Array,
        *,
        initial_state: Any = None,
        lengths: jax.Array | None = None,
        mask: jax.Array | None = None,
        deterministic: bool | None = None,
    ) -> jax.Array | tuple[jax.Array, ...]:
        """Run the layers over `xs`.

        Args:
          xs: inputs `(*batch, time, input_size)`, or `(time, *batch, input_size)` with
            `time_major`; a JAX or NumPy array or nested lists (see `dtype`).
          initial_state: the initial state as the functional API takes it: an
            `LSTMState(h=..., c=...)` for one layer, a `Bidirectional` of them for one
            bidirectional layer, a tuple of those per layer for a stack; None for zeros.
            A bare tuple or list raises: a Flax carry is `(c, h)`, so pass
            `jlstm.LSTMState(h=carry[1], c=carry[0])`. NumPy arrays are read as by
            `jnp.asarray`.
          lengths: `(*batch,)` integers marking right-padded sequences (see `jlstm.lstm`).
          mask: `(*batch, time)` booleans (`(time, *batch)` with `time_major`), Keras'
            mask: a step where it is False carries the state and repeats the previous
            output (see `jlstm.lstm`); every layer and direction reads it.
          deterministic: overrides the attribute of that name.

        Returns:
          The output, or a tuple of it and the final states; see the class docstring.
        """
        fn = "flax.LSTM"
        check.options(fn, self)
        init = functools.partial(layer.init_params, self)
        params = self.param(PARAM_NAME, init, layer.input_size(fn, self, xs))
        key = None
        if layer.noisy(self) and not check.deterministic(fn, self.deterministic, deterministic):
            # Like nn.Dropout, init may draw from the "params" rng instead.
            check.dropout_rng(
                fn,
                self.has_rng("dropout") or self.has_rng("params"),
                'a "dropout" rng when deterministic is False',
                "a call without one",
                'Pass apply(..., rngs={"dropout": key}), or deterministic=True.',
            )
            key = self.make_rng("dropout")
        run_checks = self.checks and not self.is_initializing()
        return layer.call(
            fn,
            self,
            params,
            xs,
            initial_state,
            lengths=lengths,
            mask=mask,
            key=key,
            run_checks=run_checks,
        )
