"""Initialisers of one LSTM layer's params and of its zero state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jlstm import _validation as check
from jlstm._public import public
from jlstm._types import LayerNorm, LSTMParams, LSTMState, gate_blocks
from jlstm._validation import flag, float_dtype, prng_key, projection, renamed, size

Initializer = Callable[[jax.Array, Sequence[int], Any], jax.Array]

GLOROT_UNIFORM: Initializer = jax.nn.initializers.glorot_uniform()
ORTHOGONAL: Initializer = jax.nn.initializers.orthogonal()


@public("jlstm")
def init_lstm(
    key: jax.Array,
    input_size: int,
    hidden_size: int,
    *,
    proj_size: int | None = None,
    bias: bool = True,
    forget_bias: float = 1.0,
    peephole: bool = False,
    layer_norm: bool = False,
    cifg: bool = False,
    param_dtype: Any = jnp.float32,
    weight_ih_init: Initializer = GLOROT_UNIFORM,
    weight_hh_init: Initializer = ORTHOGONAL,
    weight_hr_init: Initializer = GLOROT_UNIFORM,
    bias_init: Initializer = jax.nn.initializers.zeros,
    dtype: Any = None,
) -> LSTMParams:
    """Initialise one LSTM layer with Keras' defaults.

    `weight_ih` is Glorot-uniform, `weight_hh` orthogonal, `bias` zero except the forget
    block, which is set to `forget_bias` (Jozefowicz et al., 2015). Each initialiser is a
    `jax.nn.initializers`-style callable `(key, shape, dtype) -> array`.

    Args:
      key: a PRNG key.
      input_size: features per input step.
      hidden_size: size of the cell state `c` (and of `h` without projection).
      proj_size: if given, `h` is projected to this size (LSTMP, Sak et al. 2014);
        must satisfy `0 < proj_size < hidden_size`.
      bias: whether the layer has a bias; without one `params.bias` is None.
      forget_bias: value added to the forget-gate block of the bias after `bias_init`.
      peephole: add `weight_peephole`, peephole connections from the cell to the gates
        (Gers & Schmidhuber 2000, "Recurrent nets that time and count"): i and f see `c`,
        o sees `c'`. They start at zero, so the layer starts as a plain LSTM.
      layer_norm: add `layer_norm`, gains (ones) and offset (zeros) of a layer-normalised
        LSTM (Ba et al. 2016, "Layer Normalization"); see `jlstm.LayerNorm`.
      cifg: couple the input gate to the forget gate, `i = 1 - f` (CIFG, Greff et al. 2017,
        "LSTM: A Search Space Odyssey"). The input-gate block is left out: `weight_ih`,
        `weight_hh` and `bias` hold 3 blocks `[f; g; o]`, `weight_peephole` 2 rows.
      param_dtype: floating dtype of every parameter (Flax's name; `dtype` names the
        compute dtype, as in `jlstm.lstm`).
      weight_ih_init: initialiser of `weight_ih`, shape `(4*hidden_size, input_size)`.
      weight_hh_init: initialiser of `weight_hh`, shape `(4*hidden_size, out_size)`.
      weight_hr_init: initialiser of `weight_hr`, shape `(proj_size, hidden_size)`.
      bias_init: initialiser of `bias`, shape `(4*hidden_size,)`.
      dtype: deprecated name of `param_dtype`.

    Returns:
      An `LSTMParams`.

    Example:
      >>> import jax, jlstm
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=4, hidden_size=2)
      >>> params.weight_ih.shape, params.weight_hh.shape, params.bias
      ((8, 4), (8, 2), Array([0., 0., 1., 1., 0., 0., 0., 0.], dtype=float32))
      >>> variant = jlstm.init_lstm(jax.random.key(0), 4, 2, peephole=True, cifg=True)
      >>> variant.weight_ih.shape, variant.weight_peephole.shape
      ((6, 4), (2, 2))
      >>> jlstm.init_lstm(jax.random.key(0), 4, 2, param_dtype="bfloat16").weight_hh.dtype
      dtype(bfloat16)
    """
    prng_key("init_lstm", key)
    size("init_lstm", "input_size", input_size)
    size("init_lstm", "hidden_size", hidden_size)
    options = {"bias": bias, "peephole": peephole, "layer_norm": layer_norm, "cifg": cifg}
    for name, value in options.items():
        flag("init_lstm", name, value)
    projection("init_lstm", proj_size, hidden_size)
    param_dtype = renamed("init_lstm", "dtype", "param_dtype", dtype, param_dtype, jnp.float32)
    param_dtype = float_dtype("init_lstm", "param_dtype", param_dtype)
    out_size = hidden_size if proj_size is None else proj_size
    key_ih, key_hh, key_hr, key_b = jax.random.split(key, 4)
    # Draw in at least float32 (QR has no bfloat16 kernel), then cast.
    init_dtype = jnp.promote_types(param_dtype, jnp.float32)

    def draw(init: Initializer, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        return jnp.asarray(init(key, shape, init_dtype), init_dtype)

    gates = 3 if cifg else 4  # a CIFG layer has no input-gate block
    weight_ih = draw(weight_ih_init, key_ih, (gates * hidden_size, input_size))
    weight_hh = draw(weight_hh_init, key_hh, (gates * hidden_size, out_size))
    weight_hr = None
    if proj_size is not None:
        weight_hr = draw(weight_hr_init, key_hr, (proj_size, hidden_size)).astype(param_dtype)
    bias_value = None
    if bias:
        bias_value = draw(bias_init, key_b, (gates * hidden_size,))
        forget = (gates - 3) * hidden_size  # the forget block of [i; f; g; o] or [f; g; o]
        bias_value = bias_value.at[forget : forget + hidden_size].add(forget_bias)
        bias_value = bias_value.astype(param_dtype)
    weight_peephole = jnp.zeros((gates - 1, hidden_size), param_dtype) if peephole else None
    norm = None
    if layer_norm:
        norm = LayerNorm(
            scale_ih=jnp.ones(gates * hidden_size, param_dtype),
            scale_hh=jnp.ones(gates * hidden_size, param_dtype),
            scale_c=jnp.ones(hidden_size, param_dtype),
            offset_c=jnp.zeros(hidden_size, param_dtype),
        )
    weights = weight_ih.astype(param_dtype), weight_hh.astype(param_dtype), bias_value, weight_hr
    return LSTMParams(*weights, weight_peephole, norm)


@public("jlstm")
def zero_state(
    params: LSTMParams, batch_shape: Sequence[int] = (), *, dtype: Any = None
) -> LSTMState:
    """An all-zero `LSTMState` for `params`, with the given leading batch dims.

    Args:
      params: the layer the state is for; fixes `hidden_size` and `out_size`.
      batch_shape: leading batch dims, e.g. `()` for one sequence or `(batch,)`; an int
        `n` means `(n,)`.
      dtype: dtype of the state (`h` and `c`); defaults to the dtype of the params.

    Returns:
      `LSTMState(h, c)` with `h` of shape `(*batch_shape, out_size)` and `c` of shape
      `(*batch_shape, hidden_size)`.

    Example:
      >>> import jax, jlstm
      >>> params = jlstm.init_lstm(jax.random.key(0), 4, 3, proj_size=2)
      >>> state = jlstm.zero_state(params, (5,))
      >>> state.h.shape, state.c.shape
      ((5, 2), (5, 3))
    """
    check.params_type("zero_state", params)
    batch_shape = check.batch_shape("zero_state", batch_shape)
    dtype = float_dtype("zero_state", "dtype", params.weight_hh.dtype if dtype is None else dtype)
    hidden_size = params.weight_hh.shape[0] // gate_blocks(params)
    out_size = params.weight_hh.shape[1]
    return LSTMState(
        h=jnp.zeros((*batch_shape, out_size), dtype),
        c=jnp.zeros((*batch_shape, hidden_size), dtype),
    )
