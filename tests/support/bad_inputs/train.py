"""The bad-input cases of `jlstm.train`.

Every call fails before it writes or reads anything: `NOWHERE`, the checkpoint directory of
the cases, is never created.
"""

from __future__ import annotations

import os
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jlstm import train
from support.bad_inputs.common import KEY, Case, T, V
from support.train import SGD, chunk_loss, init_carry, linear_loss, linear_state

STATE = linear_state()
STEP = train.make_train_step(linear_loss, SGD)
BATCH = (jnp.zeros((4, 3)), jnp.zeros((4, 2)))
VECTOR_STATE = train.init_train_state({"w": jnp.ones(2)}, SGD, key=KEY)
TBPTT = train.make_tbptt_step(chunk_loss, SGD, 4, init_carry=init_carry)
STREAM = (jnp.zeros((2, 10, 3)), jnp.zeros((2, 10, 5)))
LOGITS, LABELS, LENGTHS = jnp.zeros((3, 4, 5)), jnp.zeros((3, 4), jnp.int32), jnp.array([4, 1, 0])
KEYS = jax.random.split(KEY, 2)
NOWHERE = os.path.join(tempfile.gettempdir(), "jlstm-bad-inputs-never-written")


def init_linear(key):
    return {"w": jax.random.normal(key, (3, 2))}


def loss_returning(output):
    """A step whose loss function returns `output`, called on VECTOR_STATE."""
    return lambda: train.make_train_step(lambda p, b, k: output(p), SGD)(VECTOR_STATE, None)


def fitting(*args, **options):
    """A call of `fit`, by default `fit(STEP, STATE, [], **options)`."""
    return lambda: train.fit(*(args or (STEP, STATE, [])), **options)


CASES = [
    Case("train-step-loss", "train.make_train_step", "loss_fn", T, r"got int",
         lambda: train.make_train_step(3, optax.adam(1e-3))),
    Case("train-step-optimizer", "train.make_train_step", "optimizer", T, r"got str",
         lambda: train.make_train_step(lambda params, batch, key: (0.0, None), "adam")),
    Case("train-step-optimizer-factory", "train.make_train_step", "optimizer", T,
         r"optax.GradientTransformation, got function\. .*optax.adam\(1e-3\)",
         lambda: train.make_train_step(linear_loss, optax.adam)),
    Case("train-step-donate", "train.make_train_step", "donate", T, r"Python bool, got 1",
         lambda: train.make_train_step(linear_loss, SGD, donate=1)),
    Case("train-step-tuple-state", "train.make_train_step", "state", T,
         r"TrainState\(params, opt_state, step, key\), got tuple\. .*init_train_state",
         lambda: STEP(tuple(STATE), BATCH)),
    Case("train-loss-no-aux", "train.make_train_step", "loss_fn", T,
         r"\(loss, aux\), got an array of shape \(\)", loss_returning(lambda p: jnp.sum(p["w"]))),
    Case("train-loss-three-outputs", "train.make_train_step", "loss_fn", T,
         r"tuple of length 3", loss_returning(lambda p: (1.0, None, None))),
    Case("train-loss-vector", "train.make_train_step", "loss_fn", V,
         r"scalar float array, got shape \(2,\)\. .*jnp.mean",
         loss_returning(lambda p: (p["w"], 0))),
    Case("train-loss-int", "train.make_train_step", "loss_fn", T, r"scalar float.*dtype int32",
         loss_returning(lambda p: (jnp.int32(1), None))),
    Case("train-loss-python-float", "train.make_train_step", "loss_fn", T,
         r"scalar float array, got a float", loss_returning(lambda p: (1.0, None))),
    Case("train-init-no-optimizer", "train.init_train_state", "optimizer", T, r"got NoneType",
         lambda: train.init_train_state({}, None, key=KEY)),
    Case("train-init-int-key", "train.init_train_state", "key", T, r"PRNG key.*got 0",
         lambda: train.init_train_state({}, SGD, key=0)),
    Case("train-fit-step", "train.fit", "step", T, r"a function step\(state, batch\)",
         fitting(None, STATE, [])),
    Case("train-fit-state", "train.fit", "state", T, r"TrainState.*got dict",
         fitting(STEP, {}, [])),
    Case("train-fit-batches", "train.fit", "batches", T, r"iterable of batches, got int",
         fitting(STEP, STATE, 3)),
    Case("train-fit-num-steps", "train.fit", "num_steps", V, r"positive int, got 0",
         fitting(num_steps=0)),
    Case("train-fit-eval-every-float", "train.fit", "eval_every", T, r"positive int, got 2.0",
         fitting(eval_fn=lambda state: {}, eval_every=2.0)),
    Case("train-fit-eval-every-alone", "train.fit", "eval_fn", V,
         r"given when eval_every is, got None", fitting(eval_every=3)),
    Case("train-fit-checkpoint-every-alone", "train.fit", "checkpoint_dir", V,
         r"given when checkpoint_every is, got None", fitting(checkpoint_every=3)),
    Case("train-fit-checkpoint-dir", "train.fit", "checkpoint_dir", T,
         r"a path \(a str or os.PathLike\), got int", fitting(checkpoint_dir=3)),
    Case("train-fit-progress", "train.fit", "progress", T, r"True, False or None, got 'yes'",
         fitting(progress="yes")),
    Case("train-float-labels", "train.sequence_cross_entropy", "labels", T,
         r"integer array, got dtype float32",
         lambda: train.sequence_cross_entropy(jnp.zeros((2, 5, 4)), jnp.zeros((2, 5)))),
    Case("train-labels-shape", "train.sequence_cross_entropy", "labels", V,
         r"\(3, 4\) \(the \(\*batch, time\) of logits\), got shape \(3, 5\)",
         lambda: train.sequence_cross_entropy(LOGITS, jnp.zeros((3, 5), jnp.int32))),
    Case("train-lengths-range", "train.sequence_cross_entropy", "lengths", V,
         r"in \[0, 4\].*values in \[0, 9\]",
         lambda: train.sequence_cross_entropy(LOGITS, LABELS, np.array([0, 9, 1]))),
    Case("train-int-logits", "train.sequence_cross_entropy", "logits", T,
         r"real floating-point array, got dtype int32",
         lambda: train.sequence_cross_entropy(LABELS, LABELS)),
    Case("train-lengths-shape", "train.masked_mean", "lengths", V, r"\(2,\).*got shape \(1,\)",
         lambda: train.masked_mean(jnp.zeros((2, 5)), jnp.array([5]))),
    Case("train-float-lengths", "train.last_valid", "lengths", T, r"got dtype float32",
         lambda: train.last_valid(jnp.zeros((2, 5, 4)), jnp.array([5.0, 5.0]))),
    Case("train-ys-rank", "train.last_valid", "ys", V,
         r"\(\*batch, time, features\), got shape \(3,\) \(rank 1\)",
         lambda: train.last_valid(np.zeros(3, np.float32))),
    Case("train-targets-shape", "train.last_valid_mse", "targets", V,
         r"\(3, 5\) \(the \(\*batch, features\) of predictions\), got shape \(3, 2\)",
         lambda: train.last_valid_mse(LOGITS, jnp.zeros((3, 2)), LENGTHS)),
    Case("train-last-labels-shape", "train.last_valid_cross_entropy", "labels", V,
         r"\(3,\) \(the \(\*batch,\) of logits\), got shape \(3, 4\)",
         lambda: train.last_valid_cross_entropy(LOGITS, LABELS, LENGTHS)),
    Case("train-mask-negative-time", "train.sequence_mask", "time", V, r"non-negative int, got -1",
         lambda: train.sequence_mask(jnp.array([2, 0]), -1)),
    Case("train-mask-float-time", "train.sequence_mask", "time", T, r"non-negative int, got 3.0",
         lambda: train.sequence_mask(jnp.array([2, 0]), 3.0)),
    Case("train-mask-string-lengths", "train.sequence_mask", "lengths", T, r"an array, got str",
         lambda: train.sequence_mask("2", 3)),
    Case("train-tbptt-chunk-size", "train.make_tbptt_step", "chunk_size", V,
         r"positive int, got 0",
         lambda: train.make_tbptt_step(chunk_loss, SGD, 0, init_carry=init_carry)),
    Case("train-tbptt-init-carry", "train.make_tbptt_step", "init_carry", T,
         r"a function init_carry\(params, stream\) -> carry, got NoneType",
         lambda: train.make_tbptt_step(chunk_loss, SGD, 4, init_carry=None)),
    Case("train-tbptt-time-major", "train.make_tbptt_step", "time_major", T,
         r"Python bool, got 1",
         lambda: train.make_tbptt_step(chunk_loss, SGD, 4, init_carry=init_carry, time_major=1)),
    Case("train-tbptt-stream-lengths", "train.make_tbptt_step", "stream", V,
         r"arrays of one length along axis 1, got \[5, 10\]",
         lambda: TBPTT(STATE, (STREAM[0], STREAM[1][:, :5]))),
    Case("train-tbptt-stream-rank", "train.make_tbptt_step", "stream", V,
         r"a time axis 1, e.g. \(batch, T_total, features\), got an array of shape \(2,\)",
         lambda: TBPTT(STATE, (STREAM[0], STREAM[1][:, 0, 0]))),
    Case("train-tbptt-empty-stream", "train.make_tbptt_step", "stream", T,
         r"a pytree with at least one array, got \(\)", lambda: TBPTT(STATE, ())),
    Case("train-save-string-step", "train.save_checkpoint", "step", T,
         r"non-negative int, got '3'", lambda: train.save_checkpoint(NOWHERE, STATE, step="3")),
    Case("train-save-negative-step", "train.save_checkpoint", "step", V,
         r"non-negative int, got -1", lambda: train.save_checkpoint(NOWHERE, STATE, step=-1)),
    Case("train-save-no-step", "train.save_checkpoint", "step", V,
         r"given when `state` has no single integer `state.step`, got None\. Pass step=",
         lambda: train.save_checkpoint(NOWHERE, {"w": jnp.ones(2)})),
    Case("train-save-max-to-keep", "train.save_checkpoint", "max_to_keep", V,
         r"positive int, got 0", lambda: train.save_checkpoint(NOWHERE, STATE, max_to_keep=0)),
    Case("train-save-int-directory", "train.save_checkpoint", "directory", T,
         r"os.PathLike\), got int", lambda: train.save_checkpoint(3, STATE)),
    Case("train-restore-float-step", "train.restore_checkpoint", "step", T,
         r"non-negative int, got 1.0", lambda: train.restore_checkpoint(NOWHERE, STATE, step=1.0)),
    Case("train-restore-missing", "train.restore_checkpoint", "directory", V,
         r"a directory with a complete checkpoint, got '.*jlstm-bad-inputs-never-written'",
         lambda: train.restore_checkpoint(NOWHERE, STATE)),
    Case("train-latest-step-directory", "train.latest_step", "directory", T, r"got NoneType",
         lambda: train.latest_step(None)),
    Case("train-ensemble-one-key", "train.init_ensemble", "keys", V,
         r"batch of PRNG keys.*got keys of shape \(\)",
         lambda: train.init_ensemble(init_linear, SGD, KEY)),
    Case("train-ensemble-raw-key", "train.init_ensemble", "keys", V, r"got keys of shape \(2,\)",
         lambda: train.init_ensemble(init_linear, SGD, jax.random.PRNGKey(0))),
    Case("train-ensemble-int-keys", "train.init_ensemble", "keys", T, r"got 3",
         lambda: train.init_ensemble(init_linear, SGD, 3)),
    Case("train-ensemble-float-keys", "train.init_ensemble", "keys", T, r"got dtype float32",
         lambda: train.init_ensemble(init_linear, SGD, jnp.zeros(2))),
    Case("train-ensemble-init-params", "train.init_ensemble", "init_params", T,
         r"a function init_params\(key\) -> params, got NoneType",
         lambda: train.init_ensemble(None, SGD, KEYS)),
    Case("train-ensemble-mesh-axis", "train.init_ensemble", "mesh", V,
         r'a mesh with a "member" axis.*got a mesh with axes \(\'batch\',\)',
         lambda: train.init_ensemble(init_linear, SGD, KEYS, mesh=train.data_mesh())),
    Case("train-ensemble-step-mesh-axis", "train.make_ensemble_step", "mesh", V,
         r'a mesh with a "member" axis',
         lambda: train.make_ensemble_step(linear_loss, SGD, mesh=train.data_mesh())),
    Case("train-ensemble-step-mesh-type", "train.make_ensemble_step", "mesh", T,
         r"jax.sharding.Mesh.*got list",
         lambda: train.make_ensemble_step(linear_loss, SGD, mesh=jax.devices())),
    Case("train-ensemble-shared-batch", "train.make_ensemble_step", "shared_batch", T,
         r"Python bool, got 'no'",
         lambda: train.make_ensemble_step(linear_loss, SGD, shared_batch="no")),
    Case("train-ensemble-unstacked-state", "train.make_ensemble_step", "state", V,
         r"stacked ensemble.*got state.step of shape \(\)",
         lambda: train.make_ensemble_step(
             linear_loss, SGD, mesh=train.data_mesh(axis_name="member"))(STATE, BATCH)),
    Case("train-member-float-index", "train.ensemble_member", "index", T, r"an int, got 1.0",
         lambda: train.ensemble_member({}, 1.0)),
    Case("train-member-index-range", "train.ensemble_member", "index", V,
         r"in \[-3, 3\) \(the ensemble's members\), got 3",
         lambda: train.ensemble_member({"w": jnp.zeros((3, 2))}, 3)),
    Case("train-member-unstacked", "train.ensemble_member", "state", V,
         r"leading member axis on every leaf\), got a leaf of shape \(\)",
         lambda: train.ensemble_member({"w": jnp.zeros(())}, 0)),
    Case("train-evaluate-fn", "train.evaluate", "fn", T, r"got NoneType",
         lambda: train.evaluate(None, {}, [])),
    Case("train-evaluate-batches", "train.evaluate", "batches", T, r"iterable.*got int",
         lambda: train.evaluate(lambda p, b: {}, {}, 3)),
    Case("train-evaluate-no-batches", "train.evaluate", "batches", V,
         r"at least one batch, got an empty iterable",
         lambda: train.evaluate(lambda p, b: {}, {"w": KEYS}, iter([]))),
    Case("train-evaluate-mesh", "train.evaluate", "mesh", T, r"jax.sharding.Mesh.*got str",
         lambda: train.evaluate(lambda p, b: {}, {}, [], mesh="batch")),
    Case("train-replicate-mesh", "train.replicate", "mesh", T, r"jax.sharding.Mesh.*got list",
         lambda: train.replicate({}, jax.devices())),
    Case("train-data-mesh-empty", "train.data_mesh", "devices", V,
         r"at least one device, got an empty sequence", lambda: train.data_mesh([])),
    Case("train-data-mesh-int", "train.data_mesh", "devices", T,
         r"a sequence of jax devices, got 3", lambda: train.data_mesh(3)),
    Case("train-shard-scalar", "train.shard_batch", "batch", V,
         r"leading axis divides among 1 local devices, got shape \(\)\. .*global batch",
         lambda: train.shard_batch(np.float32(1.0), train.data_mesh())),
]  # fmt: skip
