"""`evaluate`: metrics of many parameter sets (an ensemble) over batches, on a mesh or not."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jlstm._public import public
from jlstm._validation import function
from jlstm._validation import training as checks
from jlstm.train import _processes as processes
from jlstm.train._parallel import (
    batch_sharding,
    member_sharding,
    place,
    put,
    queue_limited,
)

__all__ = ["evaluate"]


@partial(jax.jit, static_argnums=0)
def _evaluate_batch(fn: Callable[[Any, Any], Any], params: Any, batch: Any) -> Any:
    # A module-level jit keyed on `fn`: evaluating again with the same `fn` reuses the program.
    return jax.vmap(fn, in_axes=(0, None))(params, batch)


@public("jlstm.train")
def evaluate(
    fn: Callable[[Any, Any], Any],
    params: Any,
    batches: Iterable[Any],
    *,
    mesh: Mesh | None = None,
) -> Any:
    """The mean of `fn(params[i], batch)` over `batches`, for every parameter set `i`.

    `fn` is mapped with `jax.vmap` over the leading axis of `params` (N stacked models, e.g.
    `state.params` of an ensemble), and every batch is seen by every model. Each batch
    counts once: give them equal sizes, or return sums and divide.

    Args:
      fn: `fn(params, batch) -> metrics` for one model: a pytree of arrays, e.g.
        `{"loss": scalar, "accuracy": scalar}`.
      params: a pytree whose leaves have a leading axis of size N.
      batches: an iterable of batches, at least one.
      mesh: evaluate on this mesh: `params` split over its "member" axis (copied to every
        device without one), each batch split along its leading axis over the other axes
        (`data_mesh()`: all devices). With several processes, each passes its part of every
        batch, as for `fit`. Equal to the evaluation without a mesh up to float rounding.

    Returns:
      `metrics` averaged over the batches, as NumPy arrays with a leading axis N.

    Example:
      >>> import jax, jax.numpy as jnp, optax, jlstm
      >>> from jlstm import train
      >>> def init_params(key):
      ...     return jlstm.init_lstm(key, input_size=3, hidden_size=2)
      >>> keys = jax.random.split(jax.random.key(0), 4)
      >>> state = train.init_ensemble(init_params, optax.adam(1e-2), keys)
      >>> def metrics(params, xs):
      ...     final, _ = jlstm.lstm(params, xs)  # xs: (batch, time, 3)
      ...     return {"h_norm": jnp.mean(jnp.abs(final.h))}
      >>> batches = [jnp.ones((8, 5, 3)), jnp.zeros((8, 5, 3))]
      >>> result = train.evaluate(metrics, state.params, batches, mesh=train.data_mesh())
      >>> result["h_norm"].shape
      (4,)
    """
    name = "train.evaluate"
    function(name, "fn", fn, "fn(params, batch) -> metrics")
    checks.batches(name, batches)
    if mesh is not None:
        checks.mesh(name, mesh)
        params = put(params, member_sharding(mesh))
        sharding = batch_sharding(mesh, per_member=False)
    spans, limited = processes.spans_processes(params), queue_limited(params)
    total, count = None, 0
    for batch in processes.same_batches(name, batches, None, spans):
        if mesh is not None:
            batch = place(name, "batches", batch, sharding)
        metrics = _evaluate_batch(fn, params, batch)
        if limited and total is not None:
            jax.block_until_ready(total)  # as in `fit`: at most two batches in flight
        total = metrics if total is None else jax.tree.map(jnp.add, total, metrics)
        count += 1
    checks.some_batches(name, count)
    return jax.tree.map(lambda value: np.asarray(value) / count, processes.to_host(total))
