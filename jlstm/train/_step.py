"""One optimizer update, and the factory that compiles it into a training step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax

from jlstm._public import public
from jlstm._validation import flag, function
from jlstm._validation import training as checks
from jlstm.train._state import TrainState

__all__ = ["make_train_step"]

LossFn = Callable[..., tuple[jax.Array, Any]]
Step = Callable[[TrainState, Any], tuple[TrainState, tuple[jax.Array, Any]]]

LOSS_SIGNATURE = "loss_fn(params, batch, key) -> (loss, aux)"


def update(
    loss_fn: LossFn, optimizer: optax.GradientTransformation, state: TrainState, *inputs: Any
) -> tuple[TrainState, tuple[jax.Array, Any]]:
    """Apply one optimizer update to `state`; `loss_fn(params, *inputs, key)` gives the loss.

    The pure core of every step in `jlstm.train`: plain steps call it once, truncated BPTT
    once per chunk, ensembles under `jax.vmap`.
    """
    key, step_key = jax.random.split(state.key)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, aux), grads = grad_fn(state.params, *inputs, step_key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(params, opt_state, state.step + 1, key), (loss, aux)


@public("jlstm.train")
def make_train_step(
    loss_fn: LossFn, optimizer: optax.GradientTransformation, *, donate: bool = True
) -> Step:
    r"""Compile `loss_fn` and an Optax optimizer into a jitted training step.

    The step computes :math:`(\ell, a), g = \nabla_\theta\, \mathrm{loss\_fn}(\theta, b, k)`
    with a fresh key :math:`k` split from `state.key`, lets the optimizer turn :math:`g` into
    an update and applies it. Gradient clipping and schedules are parts of the optimizer,
    e.g. `optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))`.

    Args:
      loss_fn: `loss_fn(params, batch, key) -> (loss, aux)`: a scalar float loss and any
        pytree of auxiliary outputs (metrics), differentiable in `params`.
      optimizer: an `optax.GradientTransformation`.
      donate: donate the buffers of the input state to the output state, so that params
        and optimizer state are updated in place. The `state` passed in is then invalid:
        keep only the returned one.

    Returns:
      `step(state, batch) -> (state, (loss, aux))`, jitted. It retraces when the shapes of
      `batch` change, so keep batch shapes fixed (pad and pass `lengths`).

    Example:
      >>> import jax, jax.numpy as jnp, optax, jlstm
      >>> from jlstm import train
      >>> def loss_fn(params, batch, key):
      ...     xs, targets = batch  # (batch, time, 3), (batch, 2)
      ...     state, _ = jlstm.lstm(params, xs)
      ...     loss = jnp.mean((state.h - targets) ** 2)
      ...     return loss, {"mse": loss}
      >>> optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> state = train.init_train_state(params, optimizer, key=jax.random.key(1))
      >>> step = train.make_train_step(loss_fn, optimizer)
      >>> batch = (jnp.ones((4, 5, 3)), jnp.full((4, 2), 0.5))
      >>> for _ in range(3):
      ...     state, (loss, aux) = step(state, batch)
      >>> int(state.step), loss.shape, sorted(aux)
      (3, (), ['mse'])
    """
    fn = "train.make_train_step"
    function(fn, "loss_fn", loss_fn, LOSS_SIGNATURE)
    checks.optimizer(fn, optimizer)
    flag(fn, "donate", donate)
    checked = checks.checked_loss(fn, loss_fn)

    def step(state: TrainState, batch: Any) -> tuple[TrainState, tuple[jax.Array, Any]]:
        checks.train_state(fn, state, TrainState)
        return update(checked, optimizer, state, batch)

    return jax.jit(step, donate_argnums=0 if donate else ())
