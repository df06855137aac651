"""`TrainState`: everything a training run carries from one step to the next."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlstm._public import public
from jlstm._validation import prng_key
from jlstm._validation import training as checks

__all__ = ["TrainState", "init_train_state"]


@public("jlstm.train")
class TrainState(NamedTuple):
    """Params, optimizer state, step counter and PRNG key of a training run.

    A pytree of arrays, so it passes through `jax.jit`, `jax.vmap` (ensembles), sharding and
    Orbax checkpoints unchanged.
    """

    params: Any  # any pytree of float arrays, e.g. LSTMParams or a dict of layers
    opt_state: Any  # the optax state of `params`
    step: jax.Array  # () int32: optimizer updates applied so far
    key: jax.Array  # PRNG key (typed or raw uint32); split once per update


@public("jlstm.train")
def init_train_state(params: Any, optimizer: Any, *, key: jax.Array) -> TrainState:
    """Start a training run: the optimizer's initial state, step 0 and a PRNG key.

    Args:
      params: the model's parameters, any pytree of float arrays; weakly typed leaves
        (from Python scalars) are given their dtype for good.
      optimizer: an `optax.GradientTransformation`.
      key: PRNG key; each update splits it and hands a fresh key to the loss function
        (for dropout or noise), so a run is reproducible from this key.

    Returns:
      A `TrainState` with `step` a `()` int32 zero.

    Example:
      >>> import jax, optax, jlstm
      >>> from jlstm import train
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> state = train.init_train_state(params, optax.adam(1e-2), key=jax.random.key(1))
      >>> int(state.step), state.params.weight_ih.shape
      (0, (8, 3))
    """
    checks.optimizer("train.init_train_state", optimizer)
    prng_key("train.init_train_state", key)
    # A weakly typed leaf (e.g. from jnp.full(shape, 0.1)) comes out of the first update
    # strongly typed, which would compile the step a second time: fix the types up front.
    params = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.asarray(leaf).dtype), params)
    return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32), key)
