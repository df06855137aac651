"""Orbax checkpoints: exact round trips, bit-for-bit resume, guarded restores."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from support.assertions import assert_same_tree
from support.train import (
    OPTIMIZER,
    fresh_state,
    linear_batches,
    linear_loss,
    linear_state,
    raw_keys,
)

from jlstm import LSTMTypeError, LSTMValueError, train

LINEAR_STEP = train.make_train_step(linear_loss, OPTIMIZER)


def assert_trees_equal(actual, desired):
    assert_same_tree(raw_keys(actual), raw_keys(desired))


@pytest.mark.parametrize("key", [jax.random.key(3), jax.random.PRNGKey(3)], ids=["typed", "raw"])
def test_round_trip_is_exact(tmp_path, key):
    state = fresh_state(key=key, proj_size=2)  # weight_hr an array, other optional fields None
    state = state._replace(step=state.step + 1, key=jax.random.split(state.key)[0])
    assert train.save_checkpoint(tmp_path, state) == 1
    restored = train.restore_checkpoint(tmp_path, fresh_state(key=key, proj_size=2))
    assert_trees_equal(restored, state)
    abstract = jax.eval_shape(lambda: fresh_state(key=key, proj_size=2))
    assert_trees_equal(train.restore_checkpoint(tmp_path, abstract), state)


@pytest.mark.slow
def test_resume_equals_uninterrupted_bit_for_bit(tmp_path):
    batches = linear_batches(6)
    whole, whole_history = train.fit(LINEAR_STEP, linear_state(OPTIMIZER), batches)
    directory = tmp_path / "run"
    _, first = train.fit(
        LINEAR_STEP, linear_state(OPTIMIZER), batches[:3], checkpoint_dir=directory
    )
    assert train.latest_step(directory) == 3
    resumed = train.restore_checkpoint(directory, linear_state(OPTIMIZER))  # after a restart
    assert int(resumed.step) == 3
    resumed, second = train.fit(LINEAR_STEP, resumed, batches[int(resumed.step) :])
    np.testing.assert_array_equal(
        np.concatenate([first.losses, second.losses]), whole_history.losses
    )
    assert_trees_equal(resumed, whole)


def test_fit_saves_periodically_and_keeps_steps(tmp_path):
    state = linear_state(OPTIMIZER)
    train.fit(LINEAR_STEP, state, linear_batches(5), checkpoint_dir=tmp_path, checkpoint_every=2)
    restored = [int(train.restore_checkpoint(tmp_path, state, step=s).step) for s in (2, 4, 5)]
    assert restored == [2, 4, 5]
    assert train.latest_step(tmp_path) == 5


def test_max_to_keep(tmp_path):
    state = linear_state()
    for step in range(4):
        train.save_checkpoint(tmp_path, state, step=step, max_to_keep=2)
    with pytest.raises(LSTMValueError, match=r"`step` must be one of the saved steps \[2, 3\]"):
        train.restore_checkpoint(tmp_path, state, step=0)


def test_unfinished_checkpoint_is_ignored(tmp_path):
    state = linear_state()
    train.save_checkpoint(tmp_path, state, step=1)
    # What a save interrupted before Orbax's final rename leaves behind.
    unfinished = tmp_path / "7.orbax-checkpoint-tmp-1712345678"
    (unfinished / "arrays").mkdir(parents=True)
    (unfinished / "arrays" / "half_written").write_bytes(b"\x00" * 10)
    assert train.latest_step(tmp_path) == 1
    assert int(train.restore_checkpoint(tmp_path, state).step) == 0
    with pytest.raises(LSTMValueError, match=r"`step` must be one of the saved steps \[1\], got 7"):
        train.restore_checkpoint(tmp_path, state, step=7)


def test_restoring_into_another_dtype_raises(tmp_path):
    train.save_checkpoint(tmp_path, fresh_state())
    match = (
        r"restore_checkpoint: `template.params\['lstm'\].weight_ih` must be of dtype float32 "
        r"as saved in step 0 of .*, got dtype bfloat16\. Orbax would cast"
    )
    with pytest.raises(LSTMTypeError, match=match):
        train.restore_checkpoint(tmp_path, fresh_state(dtype=jnp.bfloat16))


def test_restoring_into_another_structure_or_shape_raises(tmp_path):
    train.save_checkpoint(tmp_path, fresh_state())
    with pytest.raises(
        LSTMTypeError,
        match=r"`template` must be a pytree of the structure .*"
        r"9 saved leaves missing \(first: .opt_state\[1\]\[0\].count\)",
    ):
        train.restore_checkpoint(tmp_path, fresh_state(optax.sgd(0.1)))
    with pytest.raises(
        LSTMTypeError, match=r"3 leaves the checkpoint lacks \(first: .params\['lstm'\].weight_hr\)"
    ):
        train.restore_checkpoint(tmp_path, fresh_state(hidden_size=4, proj_size=2))
    match = r"`template.params\['lstm'\].weight_ih` must be of shape \(16, 3\) .*\(20, 3\)"
    with pytest.raises(LSTMValueError, match=match):
        train.restore_checkpoint(tmp_path, fresh_state(hidden_size=5))


def test_saving_a_saved_step_raises(tmp_path):
    train.save_checkpoint(tmp_path, linear_state())
    with pytest.raises(LSTMValueError, match=r"`step` must be a step not yet saved .*, got 0"):
        train.save_checkpoint(tmp_path, linear_state())
    train.save_checkpoint(tmp_path, {"w": jnp.ones(2)}, step=5)
    with pytest.raises(LSTMTypeError, match=r"`template\['w'\]` must be an array, got int"):
        train.restore_checkpoint(tmp_path, {"w": 1})
