"""Data parallelism with `jax.sharding`: batch split over devices, params replicated.

The training step needs no change: given a replicated state and a batch sharded along
its leading axis, `jax.jit` partitions the computation and averages the gradients across
devices (the loss is a mean over the global batch). On several hosts, call
`jax.distributed.initialize()` first; the mesh then spans every process's devices and
each process feeds its own slice of the global batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jlstm._errors import LSTMTypeError, fail, shape_str

__all__ = ["data_mesh", "replicate", "shard_batch"]


def data_mesh(devices: Sequence[Any] | None = None, *, axis_name: str = "batch") -> Mesh:
    """A one-axis `Mesh` over `devices` (all devices of all processes by default).

    Example:
      >>> import jax
      >>> from jlstm import train
      >>> mesh = train.data_mesh()
      >>> mesh.axis_names, mesh.size == jax.device_count()
      (('batch',), True)
    """
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        fail("train.data_mesh", "devices", "at least one device", "an empty sequence")
    return Mesh(np.asarray(devices), (axis_name,))


def _check_mesh(fn: str, mesh: Any) -> None:
    if not isinstance(mesh, Mesh):
        expected = "a jax.sharding.Mesh, e.g. jlstm.train.data_mesh()"
        fail(fn, "mesh", expected, type(mesh).__name__, kind=LSTMTypeError)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put a full copy of every leaf of `tree` (params, a `TrainState`) on every device.

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import train
      >>> train.replicate(jnp.ones(3), train.data_mesh()).sharding.is_fully_replicated
      True
    """
    _check_mesh("train.replicate", mesh)
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Split every leaf of `batch` along its leading (batch) axis over the mesh's devices.

    Each process passes its own part of the global batch (on one host: the whole batch);
    its leading size must divide evenly among the process's devices.

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
    _check_mesh(fn, mesh)
    sharding = NamedSharding(mesh, PartitionSpec(mesh.axis_names))
    local = len(mesh.local_devices)

    def put(leaf: Any) -> jax.Array:
        if isinstance(leaf, jax.Array) and leaf.sharding == sharding:
            return leaf
        shape = np.shape(leaf)
        if not shape or shape[0] % local:
            fail(
                fn,
                "batch",
                f"arrays whose leading axis divides among {local} local devices",
                f"shape {shape_str(shape)}",
                "Pick a batch size that is a multiple of the device count.",
            )
        return jax.make_array_from_process_local_data(sharding, np.asarray(leaf))

    return jax.tree.map(put, batch)
