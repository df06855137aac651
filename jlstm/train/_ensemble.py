"""Ensembles: N models with different seeds trained in one compiled program.

An ensemble is a `TrainState` whose every leaf has a leading axis of size N (stacked
members). `jax.vmap` maps the single-model step over that axis, so member `i` follows
exactly the run it would follow alone, while XLA batches the N models' matrix products.
Evaluating is a `jax.vmap` too (`evaluate`). Given a mesh with a "member" axis, the members
are split over its devices, across processes too: each device trains its own models, and
the models never exchange data, so each one still follows its separate run.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import numpy as np
import optax
from jax.sharding import Mesh

from jlstm._public import public
from jlstm._validation import flag, function
from jlstm._validation import training as checks
from jlstm.train._parallel import (
    MEMBER_AXIS,
    batch_sharding,
    member_sharding,
    place,
    put,
    replicate,
)
from jlstm.train._state import TrainState, init_train_state
from jlstm.train._step import LOSS_SIGNATURE, LossFn, Step, update

__all__ = ["ensemble_member", "init_ensemble", "make_ensemble_step"]


@public("jlstm.train")
def init_ensemble(
    init_params: Callable[[jax.Array], Any],
    optimizer: optax.GradientTransformation,
    keys: Any,
    *,
    mesh: Mesh | None = None,
) -> TrainState:
    """Initialise one `TrainState` per key, stacked along a leading axis.

    Member `i` is `init_train_state(init_params(k_params), optimizer, key=k_train)` with
    `k_params, k_train = jax.random.split(keys[i])`: the same state a separate run with
    that key starts from.

    Args:
      init_params: `init_params(key) -> params` for one model.
      optimizer: an `optax.GradientTransformation`.
      keys: `(N,)` typed PRNG keys (or `(N, 2)` raw ones), e.g. `jax.random.split(key, N)`.
        With several processes, every process passes the same keys.
      mesh: split the members over the "member" axis of this mesh (e.g.
        `train.data_mesh(axis_name="member")`), N / size of that axis per device; each
        device initialises only its own members.

    Returns:
      A `TrainState` whose leaves have a leading axis of size N.

    Example:
      >>> import jax, optax, jlstm
      >>> from jlstm import train
      >>> def init_params(key):
      ...     return jlstm.init_lstm(key, input_size=3, hidden_size=2)
      >>> keys = jax.random.split(jax.random.key(0), 5)
      >>> state = train.init_ensemble(init_params, optax.adam(1e-2), keys)
      >>> state.params.weight_ih.shape, state.step.shape
      ((5, 8, 3), (5,))
    """
    fn = "train.init_ensemble"
    function(fn, "init_params", init_params, "init_params(key) -> params")
    checks.optimizer(fn, optimizer)
    checks.ensemble_keys(fn, keys)
    if mesh is None:
        return _init_members(init_params, optimizer, keys)
    checks.mesh(fn, mesh, MEMBER_AXIS)
    checks.members(fn, mesh, MEMBER_AXIS, keys.shape[0])
    init = jax.jit(partial(_members, init_params, optimizer), out_shardings=member_sharding(mesh))
    return init(replicate(keys, mesh))


@partial(jax.jit, static_argnums=(0, 1))
def _init_members(
    init_params: Callable[[jax.Array], Any], optimizer: optax.GradientTransformation, keys: Any
) -> TrainState:
    # A module-level jit keyed on (init_params, optimizer): calling again reuses the program.
    return _members(init_params, optimizer, keys)


def _members(
    init_params: Callable[[jax.Array], Any], optimizer: optax.GradientTransformation, keys: Any
) -> TrainState:
    def one(key: jax.Array) -> TrainState:
        key_params, key_train = jax.random.split(key)
        return init_train_state(init_params(key_params), optimizer, key=key_train)

    return jax.vmap(one)(keys)


@public("jlstm.train")
def make_ensemble_step(
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    *,
    shared_batch: bool = True,
    donate: bool = True,
    mesh: Mesh | None = None,
) -> Step:
    """`make_train_step` for an ensemble: every member takes one step, in one program.

    Args:
      loss_fn: `loss_fn(params, batch, key) -> (loss, aux)` for one model.
      optimizer: an `optax.GradientTransformation`.
      shared_batch: whether all members see the same batch; if False, every leaf of the
        batch has a leading axis of size N, one slice per member (e.g. bootstrap samples).
      donate: donate the input state's buffers (see `make_train_step`).
      mesh: split the members over the "member" axis of this mesh, as `init_ensemble`
        does; the step moves a state and batches it is given elsewhere onto it. The
        mesh's other axes, if any, split each batch along its batch axis (data
        parallelism within every member). With several processes, each passes its part of
        the batch on those axes: the whole batch on a mesh with only a member axis and
        `shared_batch`, its members' slices without `shared_batch`.

    Returns:
      `step(state, batch) -> (state, (losses, aux))`, jitted; `losses` is `(N,)` and `aux`
      has a leading axis N.

    Example:
      >>> import jax, jax.numpy as jnp, optax, jlstm
      >>> from jlstm import train
      >>> def loss_fn(params, xs, key):
      ...     state, _ = jlstm.lstm(params, xs)
      ...     return jnp.mean(state.h**2), None
      >>> def init_params(key):
      ...     return jlstm.init_lstm(key, input_size=3, hidden_size=2)
      >>> optimizer = optax.adam(1e-2)
      >>> keys = jax.random.split(jax.random.key(0), 4)
      >>> state = train.init_ensemble(init_params, optimizer, keys)
      >>> step = train.make_ensemble_step(loss_fn, optimizer)
      >>> state, (losses, _) = step(state, jnp.ones((8, 5, 3)))
      >>> losses.shape, state.step.tolist()
      ((4,), [1, 1, 1, 1])
    """
    fn = "train.make_ensemble_step"
    function(fn, "loss_fn", loss_fn, LOSS_SIGNATURE)
    checks.optimizer(fn, optimizer)
    flag(fn, "shared_batch", shared_batch)
    flag(fn, "donate", donate)
    checked = checks.checked_loss(fn, loss_fn)

    def member_step(state: TrainState, batch: Any) -> tuple[TrainState, tuple[jax.Array, Any]]:
        return update(checked, optimizer, state, batch)

    def step(state: TrainState, batch: Any) -> tuple[TrainState, tuple[jax.Array, Any]]:
        checks.train_state(fn, state, TrainState)
        return jax.vmap(member_step, in_axes=(0, None if shared_batch else 0))(state, batch)

    jitted = jax.jit(step, donate_argnums=0 if donate else ())
    if mesh is None:
        return jitted
    checks.mesh(fn, mesh, MEMBER_AXIS)
    members, batches = member_sharding(mesh), batch_sharding(mesh, per_member=not shared_batch)

    def placed_step(state: TrainState, batch: Any) -> tuple[TrainState, tuple[jax.Array, Any]]:
        checks.train_state(fn, state, TrainState)
        step_shape = np.shape(state.step)
        checks.stacked(fn, step_shape)
        checks.members(fn, mesh, MEMBER_AXIS, step_shape[0])
        if any(leaf.sharding != members for leaf in jax.tree.leaves(state)):
            state = put(state, members)
        return jitted(state, place(fn, "batch", batch, batches))

    return placed_step


@public("jlstm.train")
def ensemble_member(state: Any, index: int) -> Any:
    """Member `index` of a stacked ensemble pytree (a `TrainState`, params, ...).

    `index` is an int in [-N, N) for N members, counted from the end when negative.

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import train
      >>> stacked = {"w": jnp.arange(6.0).reshape(3, 2)}  # 3 members
      >>> train.ensemble_member(stacked, 2)
      {'w': Array([4., 5.], dtype=float32)}
    """
    checks.member_index("train.ensemble_member", index, state)
    return jax.tree.map(lambda leaf: leaf[index], state)
