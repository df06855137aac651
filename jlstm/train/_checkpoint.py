"""Orbax checkpoints of a `TrainState` (or any pytree of arrays), checked on restore.

A checkpoint holds the leaves of the pytree and a description of each one (path in the
tree, shape, dtype). Restoring compares that description with the template before reading
any array: Orbax itself would silently cast to the template's dtype. Orbax writes each
step into a temporary directory and renames it when complete, so a checkpoint cut off
half-way is never listed or restored.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from jlstm._public import public
from jlstm._validation import array, size
from jlstm._validation import checkpoints as checkpoint_checks
from jlstm._validation import training as checks
from jlstm.train import _processes as processes

__all__ = ["latest_step", "restore_checkpoint", "save_checkpoint"]

Path = str | os.PathLike


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _describe(fn: str, arg: str, tree: Any) -> tuple[list[Any], Any, list[dict[str, Any]]]:
    """Flatten `tree` and describe each leaf: path, shape and dtype, as JSON."""
    paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    leaves, descriptions = [], []
    for path, leaf in paths_leaves:
        name = jax.tree_util.keystr(path)
        array(fn, f"{arg}{name}", leaf)
        descriptions.append({"path": name, "shape": list(leaf.shape), "dtype": str(leaf.dtype)})
        leaves.append(leaf)
    return leaves, treedef, descriptions


def _manager(directory: Path, max_to_keep: int | None = None) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
    )
    return ocp.CheckpointManager(pathlib.Path(directory).absolute(), options=options)


def _step_of(fn: str, state: Any, step: int | None) -> int:
    if step is not None:
        return checks.count(fn, "step", step)
    steps = np.unique(np.asarray(processes.to_host(getattr(state, "step", None))))
    return checks.state_step(fn, steps)


@public("jlstm.train")
def save_checkpoint(
    directory: Path, state: Any, *, step: int | None = None, max_to_keep: int | None = None
) -> int:
    """Save `state` as checkpoint `step` of `directory`, atomically.

    Writes synchronously: when this returns, the checkpoint is complete on disk. On several
    hosts (`jax.distributed`), every process must call it.

    Args:
      directory: the run's checkpoint directory; created if missing.
      state: a `TrainState`, or any pytree of arrays (typed PRNG keys included).
      step: the checkpoint's number; defaults to `state.step`.
      max_to_keep: keep only this many newest checkpoints (all when None).

    Returns:
      The step saved.

    Example:
      >>> import tempfile, jax, optax, jlstm
      >>> from jlstm import train
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> state = train.init_train_state(params, optax.sgd(0.1), key=jax.random.key(1))
      >>> directory = tempfile.mkdtemp()
      >>> train.save_checkpoint(directory, state)
      0
      >>> restored = train.restore_checkpoint(directory, state)
      >>> bool((restored.params.weight_ih == params.weight_ih).all()), train.latest_step(directory)
      (True, 0)
    """
    fn = "train.save_checkpoint"
    checks.directory(fn, "directory", directory)
    size(fn, "max_to_keep", max_to_keep, allow_none=True)
    step = _step_of(fn, state, step)
    leaves, _, descriptions = _describe(fn, "state", state)
    for leaf, description in zip(leaves, descriptions, strict=True):
        description["key_impl"] = str(jax.random.key_impl(leaf)) if _is_key(leaf) else None
    arrays = {f"{i:06d}": jax.random.key_data(x) if _is_key(x) else x for i, x in enumerate(leaves)}
    with _manager(directory, max_to_keep) as manager:
        checks.new_step(fn, step, manager.all_steps(), directory)
        manager.save(
            step,
            args=ocp.args.Composite(
                arrays=ocp.args.StandardSave(arrays),
                leaves=ocp.args.JsonSave({"leaves": descriptions}),
            ),
        )
    return step


@public("jlstm.train")
def latest_step(directory: Path) -> int | None:
    """The newest complete checkpoint step in `directory`, or None if there is none.

    Example:
      >>> import tempfile
      >>> from jlstm import train
      >>> print(train.latest_step(tempfile.mkdtemp()))
      None
    """
    return max(_saved_steps("train.latest_step", directory), default=None)


def _saved_steps(fn: str, directory: Path) -> list[int]:
    """The complete checkpoints in `directory`, which is left as it is (created by no one)."""
    checks.directory(fn, "directory", directory)
    if not pathlib.Path(directory).is_dir():
        return []
    with _manager(directory) as manager:
        return list(manager.all_steps())


def _target(leaf: Any) -> jax.ShapeDtypeStruct:
    stored = jax.eval_shape(jax.random.key_data, leaf) if _is_key(leaf) else leaf
    sharding = getattr(leaf, "sharding", None) or jax.sharding.SingleDeviceSharding(
        jax.local_devices()[0]
    )
    return jax.ShapeDtypeStruct(stored.shape, stored.dtype, sharding=sharding)


@public("jlstm.train")
def restore_checkpoint(directory: Path, template: Any, *, step: int | None = None) -> Any:
    """Restore a checkpoint into the structure, dtypes and shardings of `template`.

    Args:
      directory: the run's checkpoint directory.
      template: a pytree like the saved one, e.g. the freshly initialised `TrainState`, or
        its `jax.eval_shape`. Its leaves' shardings say where the arrays go (a replicated
        template restores replicated arrays).
      step: which checkpoint; the newest complete one when None.

    Returns:
      The saved pytree, with the template's structure.

    Raises:
      LSTMValueError: if there is no such checkpoint, or a leaf's shape differs.
      LSTMTypeError: if the template's structure or a leaf's dtype differs from the saved one.

    Example:
      >>> import tempfile, jax, jax.numpy as jnp, optax, jlstm
      >>> from jlstm import train
      >>> def fresh_state(dtype=jnp.float32):
      ...     params = jlstm.init_lstm(jax.random.key(0), 3, 2, param_dtype=dtype)
      ...     return train.init_train_state(params, optax.adam(1e-2), key=jax.random.key(1))
      >>> directory = tempfile.mkdtemp()
      >>> train.save_checkpoint(directory, fresh_state(), step=100)
      100
      >>> state = fresh_state()  # after a restart: the template, then the saved values
      >>> if train.latest_step(directory) is not None:
      ...     state = train.restore_checkpoint(directory, state)
      >>> int(state.step), train.latest_step(directory)
      (0, 100)
      >>> train.restore_checkpoint(directory, fresh_state(jnp.bfloat16))
      Traceback (most recent call last):
      jlstm.LSTMTypeError: ...`template.params.weight_ih` must be of dtype float32 ...
    """
    fn = "train.restore_checkpoint"
    step = checks.saved_step(fn, step, _saved_steps(fn, directory), directory)
    leaves, treedef, wanted = _describe(fn, "template", template)
    with _manager(directory) as manager:
        at = f"step {step} of {directory}"
        saved = manager.restore(step, args=ocp.args.Composite(leaves=ocp.args.JsonRestore()))
        saved = saved.leaves["leaves"]
        checkpoint_checks.template(fn, saved, wanted, at)
        targets = {f"{i:06d}": _target(leaf) for i, leaf in enumerate(leaves)}
        restored = manager.restore(
            step, args=ocp.args.Composite(arrays=ocp.args.StandardRestore(targets))
        ).arrays
    arrays = [restored[f"{i:06d}"] for i in range(len(leaves))]
    arrays = [
        jax.random.wrap_key_data(x, impl=d["key_impl"]) if d["key_impl"] else x
        for x, d in zip(arrays, saved, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, arrays)
