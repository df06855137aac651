"""Valid arguments of given sizes: inputs, params and states, drawn from fixed seeds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jlstm
from jlstm import LSTMParams, LSTMState


def inputs(shape: tuple[int, ...], seed: int = 1, dtype=np.float32) -> np.ndarray:
    """Standard-normal NumPy inputs, e.g. `(batch, time, input_size)`."""
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def make(input_size=3, hidden_size=5, proj_size=None, bias=True, seed=0, dtype=jnp.float32):
    """`jlstm.init_lstm` params with a random (non-default) bias, so every term is exercised."""
    key_p, key_b = jax.random.split(jax.random.key(seed))
    params = jlstm.init_lstm(
        key_p, input_size, hidden_size, proj_size=proj_size, bias=bias, param_dtype=dtype
    )
    if bias:
        noise = jax.random.normal(key_b, params.bias.shape, dtype)
        params = params._replace(bias=params.bias + noise)
    return params


def random_layer(seed, input_size, hidden_size, proj_size=None, *, dtype=np.float32):
    """`LSTMParams` drawn uniformly from [-0.6, 0.6] (cheaper than init_lstm's orthogonal)."""
    rng = np.random.default_rng(seed)

    def draw(*shape):
        return jnp.asarray(rng.uniform(-0.6, 0.6, shape).astype(dtype))

    out_size = proj_size or hidden_size
    weight_hr = draw(proj_size, hidden_size) if proj_size else None
    return LSTMParams(
        draw(4 * hidden_size, input_size),
        draw(4 * hidden_size, out_size),
        draw(4 * hidden_size),
        weight_hr,
    )


def random_state(seed, params, batch_shape, dtype=np.float32) -> LSTMState:
    """A random `LSTMState` for the layer `params`."""
    h = inputs((*batch_shape, params.weight_hh.shape[1]), seed, dtype)
    c = inputs((*batch_shape, params.weight_hh.shape[0] // 4), seed + 1, dtype)
    return LSTMState(jnp.asarray(h), jnp.asarray(c))
