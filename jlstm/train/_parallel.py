"""Data parallelism with `jax.sharding`: batch split over devices, params replicated.

The training step needs no change: given a replicated state and a batch sharded along
its leading axis, `jax.jit` partitions the computation and averages the gradients across
devices (the loss is a mean over the global batch). On several hosts, call
`jax.distributed.initialize()` first; the mesh then spans every process's devices and
each process feeds its own slice of the global batch: the global batch is the processes'
local batches concatenated in process order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jlstm._public import public
from jlstm._validation import training as checks

__all__ = [
    "MEMBER_AXIS",
    "batch_sharding",
    "data_mesh",
    "member_sharding",
    "place",
    "put",
    "queue_limited",
    "replicate",
    "shard_batch",
]

MEMBER_AXIS = "member"  # the mesh axis that splits the models of an ensemble


@public("jlstm.train")
def data_mesh(devices: Sequence[Any] | None = None, *, axis_name: str = "batch") -> Mesh:
    """A one-axis `Mesh` over `devices` (all devices of all processes by default).

    With several processes, call `jax.distributed.initialize()` before this (before any
    other JAX call, in fact): a mesh of one process's devices only is refused by `fit`.
    `axis_name="member"` gives the mesh that splits an ensemble's members.

    Example:
      >>> import jax
      >>> from jlstm import train
      >>> mesh = train.data_mesh()
      >>> mesh.axis_names, mesh.size == jax.device_count()
      (('batch',), True)
    """
    devices = jax.devices() if devices is None else checks.devices("train.data_mesh", devices)
    return Mesh(np.asarray(devices), (axis_name,))


def _leading_axes(sharding: NamedSharding) -> tuple[str, ...]:
    """The mesh axes that split the leading axis of an array of `sharding`."""
    spec = tuple(sharding.spec)
    axes = spec[0] if spec else None
    return () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)


def _local_parts(sharding: NamedSharding, axes: tuple[str, ...]) -> int:
    """Into how many slices this process's devices split the leading axis of an array."""
    mesh = sharding.mesh
    positions = [mesh.axis_names.index(name) for name in axes]
    here = jax.process_index()
    return len(
        {
            tuple(index[p] for p in positions)
            for index in np.ndindex(mesh.devices.shape)
            if mesh.devices[index].process_index == here
        }
    )


def place(fn: str, arg: str, tree: Any, sharding: NamedSharding) -> Any:
    """Assemble global arrays of `sharding` from each process's part of every leaf of `tree`.

    A leaf that already has `sharding` is left as is. The leading axis of each process's part
    must divide among the slices that its devices hold.
    """
    axes = _leading_axes(sharding)
    parts = _local_parts(sharding, axes)

    def put(leaf: Any) -> jax.Array:
        if isinstance(leaf, jax.Array) and leaf.sharding == sharding:
            return leaf
        if axes:
            checks.local_batch(fn, arg, np.shape(leaf), parts)
        return jax.make_array_from_process_local_data(sharding, np.asarray(leaf))

    return jax.tree.map(put, tree)


def member_sharding(mesh: Mesh) -> NamedSharding:
    """Stacked models: the leading axis over the mesh's member axis, or copies without one."""
    return NamedSharding(
        mesh, PartitionSpec(MEMBER_AXIS if MEMBER_AXIS in mesh.axis_names else None)
    )


def batch_sharding(mesh: Mesh, *, per_member: bool) -> NamedSharding:
    """Batches: their batch axis over the mesh's axes other than the member axis.

    With `per_member`, every leaf has a leading member axis before its batch axis.
    """
    others = tuple(name for name in mesh.axis_names if name != MEMBER_AXIS) or None
    if not per_member:
        return NamedSharding(mesh, PartitionSpec(others))
    return NamedSharding(mesh, PartitionSpec(member_sharding(mesh).spec[0], others))


def put(tree: Any, sharding: NamedSharding | None = None, *, copy: bool = False) -> Any:
    """`jax.device_put` onto `sharding` (by default: where each leaf is), typed keys included.

    With several processes, `jax.device_put` places plain arrays on other processes' devices
    but not typed PRNG keys: their data travels on its own. `copy` makes new buffers even
    where the leaf is already in place, so that donating the result spares the original.
    """

    def one(leaf: Any) -> Any:
        target = sharding
        if target is None and isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            target = leaf.sharding
        if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
            data = jax.device_put(jax.random.key_data(leaf), target, may_alias=not copy)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
        return jax.device_put(leaf, target, may_alias=not copy)

    return jax.tree.map(one, tree)


def queue_limited(tree: Any) -> bool:
    """Whether programs on the arrays of `tree` must not queue up more than two deep.

    XLA's CPU collectives among the devices of one process deadlock ("Termination timeout
    for all gather") when many sharded steps are dispatched ahead, e.g. 200 steps on 2 or 4
    forced host devices; waiting for the step before the last one avoids it and keeps the
    devices busy. Other platforms run each device's programs in order and need no limit.
    """
    devices = set()
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, jax.Array):
            devices |= leaf.sharding.device_set
    return len(devices) > 1 and any(device.platform == "cpu" for device in devices)


@public("jlstm.train")
def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put a full copy of every leaf of `tree` (params, a `TrainState`) on every device.

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import train
      >>> train.replicate(jnp.ones(3), train.data_mesh()).sharding.is_fully_replicated
      True
    """
    checks.mesh("train.replicate", mesh)
    return put(tree, NamedSharding(mesh, PartitionSpec()))


@public("jlstm.train")
def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Split every leaf of `batch` along its leading (batch) axis over the mesh's devices.

    Each process passes its own part of the global batch (on one host: the whole batch);
    the global batch is the parts of processes 0, 1, ... concatenated, and each part's
    leading size must divide evenly among the process's devices.

    Args:
      batch: a pytree of arrays `(batch, ...)`.
      mesh: the devices, e.g. `data_mesh()`; the batch axis is split over all its axes.

    Returns:
      `batch` as global `jax.Array`s sharded along axis 0.

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import train
      >>> xs = train.shard_batch(jnp.ones((8, 5, 3)), train.data_mesh())
      >>> xs.shape, xs.sharding.mesh.axis_names
      ((8, 5, 3), ('batch',))
    """
    fn = "train.shard_batch"
    checks.mesh(fn, mesh)
    return place(fn, "batch", batch, NamedSharding(mesh, PartitionSpec(mesh.axis_names)))
