"""Checks of the arguments of `jlstm.train`, raised at trace time in jlstm's message format.

A wrong type, dtype or pytree structure is an `LSTMTypeError`, a wrong shape, size or value
an `LSTMValueError`. `jlstm.train` imports this module and never the reverse, so the check
of a `TrainState` takes the class as an argument.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jlstm._errors import LSTMTypeError, fail, shape_str
from jlstm._validation import array, as_array, float_array, function, rank, size


def count(fn: str, arg: str, value: Any) -> int:
    """Check a non-negative Python/NumPy integer (a step number, a time length)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        fail(fn, arg, "a non-negative int", repr(value), kind=LSTMTypeError)
    if value < 0:
        fail(fn, arg, "a non-negative int", value)
    return int(value)


def optimizer(fn: str, value: Any) -> None:
    """Check that `value` looks like an `optax.GradientTransformation` (init and update)."""
    if not (callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))):
        hint = "Build one with optax, e.g. optax.adam(1e-3)."
        expected = "an optax.GradientTransformation"
        fail(fn, "optimizer", expected, type(value).__name__, hint, kind=LSTMTypeError)


def train_state(fn: str, value: Any, cls: type) -> None:
    """Check that `value` is a `TrainState` (`cls`, which `jlstm.train` defines)."""
    if not isinstance(value, cls):
        hint = "Create one with jlstm.train.init_train_state(params, optimizer, key=key)."
        expected = "a TrainState(params, opt_state, step, key)"
        fail(fn, "state", expected, type(value).__name__, hint, kind=LSTMTypeError)


def _output(out: Any) -> str:
    if hasattr(out, "shape"):
        return f"an array of shape {shape_str(out.shape)}"
    return f"a tuple of length {len(out)}" if isinstance(out, tuple) else f"a {type(out).__name__}"


def checked_loss(fn: str, loss_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap `loss_fn` so that its output is checked to be `(scalar float loss, aux)`.

    The check runs while the step is traced, so a wrong output fails with the argument's
    name instead of deep inside `jax.value_and_grad`.
    """
    hint = "Reduce the loss to one number, e.g. with jnp.mean."

    def wrapped(*args: Any) -> tuple[jax.Array, Any]:
        out = loss_fn(*args)
        if not (isinstance(out, tuple) and len(out) == 2):
            expected = "a function returning (loss, aux)"
            fail(fn, "loss_fn", expected, _output(out), kind=LSTMTypeError)
        loss, expected = out[0], "a function whose loss is a scalar float array"
        if not (hasattr(loss, "shape") and jnp.issubdtype(loss.dtype, jnp.floating)):
            actual = f"dtype {loss.dtype}" if hasattr(loss, "dtype") else _output(loss)
            fail(fn, "loss_fn", expected, actual, hint, kind=LSTMTypeError)
        if loss.shape != ():
            fail(fn, "loss_fn", expected, f"shape {shape_str(loss.shape)}", hint)
        return out

    return wrapped


def batches(fn: str, value: Any) -> None:
    """Check that `batches` is an iterable."""
    if not isinstance(value, Iterable):
        fail(fn, "batches", "an iterable of batches", type(value).__name__, kind=LSTMTypeError)


def some_batches(fn: str, seen: int) -> None:
    """Check that an iterable of batches gave at least one (`seen` of them)."""
    if not seen:
        fail(fn, "batches", "at least one batch", "an empty iterable")


def directory(fn: str, arg: str, value: Any) -> None:
    """Check a checkpoint directory: a `str` or `os.PathLike` path."""
    if not isinstance(value, str | os.PathLike):
        fail(fn, arg, "a path (a str or os.PathLike)", type(value).__name__, kind=LSTMTypeError)


def fit_options(
    fn: str,
    *,
    num_steps: Any,
    eval_fn: Any,
    eval_every: Any,
    checkpoint_dir: Any,
    checkpoint_every: Any,
    progress: Any,
) -> None:
    """Check the options of `fit`: the counts, evaluation, checkpoints and progress bar."""
    size(fn, "num_steps", num_steps, allow_none=True)
    size(fn, "eval_every", eval_every, allow_none=True)
    size(fn, "checkpoint_every", checkpoint_every, allow_none=True)
    if eval_fn is not None:
        function(fn, "eval_fn", eval_fn, "eval_fn(state) -> dict of metrics")
    elif eval_every is not None:
        fail(fn, "eval_fn", "given when eval_every is", None)
    if checkpoint_dir is not None:
        directory(fn, "checkpoint_dir", checkpoint_dir)
    elif checkpoint_every is not None:
        fail(fn, "checkpoint_dir", "given when checkpoint_every is", None)
    if progress is not None and not isinstance(progress, bool):
        fail(fn, "progress", "True, False or None", repr(progress), kind=LSTMTypeError)


def metrics(fn: str, result: Any) -> None:
    """Check the output of `eval_fn`: a mapping from names to metrics."""
    if not isinstance(result, Mapping):
        expected = "a function returning a dict of metrics"
        fail(fn, "eval_fn", expected, type(result).__name__, kind=LSTMTypeError)


def state_step(fn: str, steps: np.ndarray) -> int:
    """The step to save when none is given: `steps`, the values of `state.step`, must be one."""
    if steps.dtype.kind not in "iu" or steps.size != 1:
        expected = "given when `state` has no single integer `state.step`"
        fail(fn, "step", expected, None, "Pass step=..., or save a TrainState.")
    return int(steps[0])


def new_step(fn: str, step: int, saved: Collection[int], where: Any) -> None:
    """Check that checkpoint `step` is not among the `saved` ones of the directory `where`."""
    if step in saved:
        fail(fn, "step", f"a step not yet saved in {where}", step)


def saved_step(fn: str, step: Any, saved: Collection[int], where: Any) -> int:
    """The checkpoint to restore: `step` among the `saved` ones in `where`, or the newest."""
    if step is not None:
        count(fn, "step", step)
    if not saved:
        fail(fn, "directory", "a directory with a complete checkpoint", repr(str(where)))
    if step is None:
        return max(saved)
    if step not in saved:
        fail(fn, "step", f"one of the saved steps {sorted(saved)}", step)
    return int(step)


def devices(fn: str, value: Any) -> list[Any]:
    """Check a sequence of at least one JAX device and return it as a list."""
    listed = list(value) if isinstance(value, Iterable) else [value]
    if not all(isinstance(device, jax.Device) for device in listed):
        fail(fn, "devices", "a sequence of jax devices", repr(value), kind=LSTMTypeError)
    if not listed:
        fail(fn, "devices", "at least one device", "an empty sequence")
    return listed


def mesh(fn: str, value: Any, axis: str | None = None) -> None:
    """Check a `Mesh` over the devices of every process, with the mesh axis `axis` if given."""
    if not isinstance(value, Mesh):
        expected = "a jax.sharding.Mesh, e.g. jlstm.train.data_mesh()"
        fail(fn, "mesh", expected, type(value).__name__, kind=LSTMTypeError)
    processes = sorted({device.process_index for device in value.devices.flat})
    if len(processes) < jax.process_count():
        hint = (
            "Call jax.distributed.initialize() before anything else touches JAX (jax.devices "
            "included), then build the mesh from every device, e.g. train.data_mesh()."
        )
        expected = f"a mesh over the devices of all {jax.process_count()} processes"
        fail(fn, "mesh", expected, f"a mesh over the devices of process {processes}", hint)
    if axis is not None and axis not in value.axis_names:
        expected = f'a mesh with a "{axis}" axis, e.g. train.data_mesh(axis_name="{axis}")'
        fail(fn, "mesh", expected, f"a mesh with axes {value.axis_names}")


def members(fn: str, value: Mesh, axis: str, number: int) -> None:
    """Check that the mesh axis `axis` splits `number` ensemble members evenly."""
    width = value.shape[axis]
    if number % width:
        hint = "Train a multiple of that many members, or build the mesh over fewer devices."
        expected = f'a "{axis}" axis whose size divides the {number} members'
        fail(fn, "mesh", expected, f"size {width}", hint)


def local_batch(fn: str, arg: str, shape: tuple[int, ...], parts: int) -> None:
    """Check that a process's part of a batch, of `shape`, divides among `parts` devices."""
    if not shape or shape[0] % parts:
        hint = (
            "Each process passes its part of the global batch (the global batch is the local "
            "ones concatenated); pick a local batch size that is a multiple of the process's "
            "device count."
        )
        expected = f"arrays whose leading axis divides among {parts} local devices"
        fail(fn, arg, expected, f"shape {shape_str(shape)}", hint)


def agreed(fn: str, arg: str, values: np.ndarray, expected: str, actual: str, hint: str) -> None:
    """Check that every process passed the same value: `values` holds one per process."""
    if len(set(values.tolist())) > 1:
        actual = f"{actual} on process {jax.process_index()} of {values.size}"
        fail(fn, arg, expected, actual, hint)


def ensemble_keys(fn: str, keys: Any) -> None:
    """Check the keys of an ensemble: `(N,)` typed PRNG keys or `(N, 2)` raw uint32 ones, N >= 1."""
    expected = "a batch of PRNG keys, e.g. jax.random.split(key, n)"
    if not (hasattr(keys, "shape") and hasattr(keys, "dtype")):
        fail(fn, "keys", expected, repr(keys), kind=LSTMTypeError)
    typed = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
    if not (typed or keys.dtype == jnp.uint32):
        fail(fn, "keys", expected, f"dtype {keys.dtype}", kind=LSTMTypeError)
    if len(keys.shape) != (1 if typed else 2) or not keys.shape[0]:
        fail(fn, "keys", expected, f"keys of shape {shape_str(keys.shape)}")


def stacked(fn: str, step_shape: tuple[int, ...]) -> None:
    """Check that an ensemble's `state.step`, of `step_shape`, has one member axis."""
    if len(step_shape) != 1:
        expected = "a stacked ensemble (state.step of shape (N,)), from init_ensemble"
        fail(fn, "state", expected, f"state.step of shape {shape_str(step_shape)}")


def member_index(fn: str, index: Any, tree: Any) -> None:
    """Check the index of a member of the stacked ensemble pytree `tree`: in [-N, N)."""
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        fail(fn, "index", "an int", repr(index), kind=LSTMTypeError)
    shapes = [np.shape(leaf) for leaf in jax.tree.leaves(tree)]
    if () in shapes:
        expected = "a stacked ensemble pytree (a leading member axis on every leaf)"
        fail(fn, "state", expected, "a leaf of shape ()")
    number = min(shape[0] for shape in shapes) if shapes else None
    if number is not None and not -number <= index < number:
        fail(fn, "index", f"in [-{number}, {number}) (the ensemble's members)", index)


def stream_time(fn: str, stream: Any, time_axis: int) -> int:
    """Check a stream of truncated BPTT and return its length along `time_axis`."""
    leaves = jax.tree.leaves(stream)
    if not leaves:
        fail(fn, "stream", "a pytree with at least one array", repr(stream), kind=LSTMTypeError)
    layout = "(T_total, batch, features)" if time_axis == 0 else "(batch, T_total, features)"
    times = set()
    for shape in (np.shape(leaf) for leaf in leaves):
        if len(shape) <= time_axis:
            expected = f"arrays with a time axis {time_axis}, e.g. {layout}"
            fail(fn, "stream", expected, f"an array of shape {shape_str(shape)}")
        times.add(shape[time_axis])
    if len(times) > 1:
        fail(fn, "stream", f"arrays of one length along axis {time_axis}", sorted(times))
    if not min(times):
        fail(fn, "stream", f"at least one step along axis {time_axis}", "0 steps")
    return times.pop()


def sequences(fn: str, arg: str, value: Any, layout: str) -> None:
    """Check per-step float values of padded sequences, of at least the axes of `layout`."""
    float_array(fn, arg, value)
    rank(fn, arg, value, layout)


def labels(fn: str, value: Any, shape: tuple[int, ...], layout: str) -> None:
    """Check integer `labels` of the exact `shape`, spelt `layout` in the message."""
    array(fn, "labels", value)
    if not jnp.issubdtype(value.dtype, jnp.integer):
        fail(fn, "labels", "an integer array", f"dtype {value.dtype}", kind=LSTMTypeError)
    _exact_shape(fn, "labels", value, shape, layout)


def targets(fn: str, value: Any, shape: tuple[int, ...]) -> None:
    """Check float `targets` of the exact `shape`: one per sequence."""
    float_array(fn, "targets", value)
    _exact_shape(fn, "targets", value, shape, "(the (*batch, features) of predictions)")


def _exact_shape(fn: str, arg: str, value: Any, shape: tuple[int, ...], layout: str) -> None:
    if tuple(value.shape) != shape:
        fail(fn, arg, f"of shape {shape_str(shape)} {layout}", f"shape {shape_str(value.shape)}")


def mask_lengths(fn: str, value: Any) -> jax.Array:
    """Check the `lengths` of `sequence_mask`, an array of any shape, and return it."""
    value = as_array(fn, "lengths", value)
    array(fn, "lengths", value)
    return jnp.asarray(value)
