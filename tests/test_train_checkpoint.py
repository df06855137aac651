"""Orbax checkpoints: exact round trips, bit-for-bit resume, guarded restores."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jlstm
from jlstm import LSTMTypeError, LSTMValueError, train

OPTIMIZER = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))


def init_params(hidden_size=4, proj_size=None, dtype=jnp.float32):
    lstm = jlstm.init_lstm(
        jax.random.key(0), 3, hidden_size, proj_size=proj_size, param_dtype=dtype
    )
    out = jnp.ones((proj_size or hidden_size, 2), dtype)
    return {"lstm": lstm, "out": out}


def fresh_state(key=None, **kwargs):
    key = jax.random.key(1) if key is None else key
    return train.init_train_state(init_params(**kwargs), OPTIMIZER, key=key)


def loss_fn(params, batch, key):
    xs, targets = batch
    xs = xs * (1.0 + 0.1 * jax.random.uniform(key, dtype=xs.dtype))  # resume needs the key too
    state, _ = jlstm.lstm(params["lstm"], xs)
    return jnp.mean((state.h @ params["out"] - targets) ** 2), None


STEP = train.make_train_step(loss_fn, OPTIMIZER)
RNG = np.random.default_rng(0)
BATCHES = [
    (RNG.normal(size=(4, 5, 3)).astype(np.float32), RNG.normal(size=(4, 2)).astype(np.float32))
    for _ in range(6)
]


def raw(leaf):
    return (
        jax.random.key_data(leaf)
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
        else leaf
    )


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(raw(x)), np.asarray(raw(y)))


@pytest.mark.parametrize("key", [jax.random.key(3), jax.random.PRNGKey(3)], ids=["typed", "raw"])
def test_round_trip_is_exact(tmp_path, key):
    state = fresh_state(key, proj_size=2)  # weight_hr is an array, other optional fields None
    state = state._replace(step=state.step + 1, key=jax.random.split(state.key)[0])
    assert train.save_checkpoint(tmp_path, state) == 1
    restored = train.restore_checkpoint(tmp_path, fresh_state(key, proj_size=2))
    assert_trees_equal(restored, state)
    abstract = jax.eval_shape(lambda: fresh_state(key, proj_size=2))
    assert_trees_equal(train.restore_checkpoint(tmp_path, abstract), state)


def test_resume_equals_uninterrupted_bit_for_bit(tmp_path):
    whole, whole_history = train.fit(STEP, fresh_state(), BATCHES)
    directory = tmp_path / "run"
    _, first = train.fit(STEP, fresh_state(), BATCHES[:3], checkpoint_dir=directory)
    assert train.latest_step(directory) == 3
    resumed = train.restore_checkpoint(directory, fresh_state())  # as after a restart
    assert int(resumed.step) == 3
    resumed, second = train.fit(STEP, resumed, BATCHES[int(resumed.step) :])
    np.testing.assert_array_equal(
        np.concatenate([first.losses, second.losses]), whole_history.losses
    )
    assert_trees_equal(resumed, whole)


def test_fit_saves_periodically_and_keeps_steps(tmp_path):
    train.fit(STEP, fresh_state(), BATCHES[:5], checkpoint_dir=tmp_path, checkpoint_every=2)
    restored = [
        int(train.restore_checkpoint(tmp_path, fresh_state(), step=s).step) for s in (2, 4, 5)
    ]
    assert restored == [2, 4, 5]
    assert train.latest_step(tmp_path) == 5


def test_max_to_keep(tmp_path):
    state = fresh_state()
    for step in range(4):
        train.save_checkpoint(tmp_path, state, step=step, max_to_keep=2)
    with pytest.raises(LSTMValueError, match=r"`step` must be one of the saved steps \[2, 3\]"):
        train.restore_checkpoint(tmp_path, state, step=0)


def test_unfinished_checkpoint_is_ignored(tmp_path):
    state = fresh_state()
    train.save_checkpoint(tmp_path, state, step=1)
    # What a save interrupted before Orbax's final rename leaves behind.
    unfinished = tmp_path / "7.orbax-checkpoint-tmp-1712345678"
    (unfinished / "arrays").mkdir(parents=True)
    (unfinished / "arrays" / "half_written").write_bytes(b"\x00" * 10)
    assert train.latest_step(tmp_path) == 1
    assert int(train.restore_checkpoint(tmp_path, state).step) == 0
    with pytest.raises(LSTMValueError, match=r"`step` must be one of the saved steps \[1\], got 7"):
        train.restore_checkpoint(tmp_path, state, step=7)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_restoring_into_another_dtype_raises(tmp_path, dtype):
    train.save_checkpoint(tmp_path, fresh_state())
    template = fresh_state(dtype=dtype)
    match = (
        r"restore_checkpoint: `template.params\['lstm'\].weight_ih` must be of dtype float32 "
        rf"as saved in step 0 of .*, got dtype {jnp.dtype(dtype).name}\. Orbax would cast"
    )
    with pytest.raises(LSTMTypeError, match=match):
        train.restore_checkpoint(tmp_path, template)


def test_restoring_into_another_structure_or_shape_raises(tmp_path):
    train.save_checkpoint(tmp_path, fresh_state())
    sgd = train.init_train_state(init_params(), optax.sgd(0.1), key=jax.random.key(1))
    with pytest.raises(
        LSTMTypeError,
        match=r"`template` must be a pytree of the structure .*"
        r"9 saved leaves missing \(first: .opt_state\[1\]\[0\].count\)",
    ):
        train.restore_checkpoint(tmp_path, sgd)
    with pytest.raises(
        LSTMTypeError, match=r"3 leaves the checkpoint lacks \(first: .params\['lstm'\].weight_hr\)"
    ):
        train.restore_checkpoint(tmp_path, fresh_state(hidden_size=4, proj_size=2))
    match = r"`template.params\['lstm'\].weight_ih` must be of shape \(16, 3\) .*\(20, 3\)"
    with pytest.raises(LSTMValueError, match=match):
        train.restore_checkpoint(tmp_path, fresh_state(hidden_size=5))


def test_bad_arguments(tmp_path):
    with pytest.raises(LSTMValueError, match=r"`directory` must be a directory with a complete"):
        train.restore_checkpoint(tmp_path / "missing", fresh_state())
    assert train.latest_step(tmp_path / "missing") is None
    train.save_checkpoint(tmp_path, fresh_state())
    with pytest.raises(LSTMValueError, match=r"`step` must be a step not yet saved .*, got 0"):
        train.save_checkpoint(tmp_path, fresh_state())
    with pytest.raises(LSTMValueError, match=r"`step` must be given when `state` has no single"):
        train.save_checkpoint(tmp_path, {"w": jnp.ones(2)})
    train.save_checkpoint(tmp_path, {"w": jnp.ones(2)}, step=5)
    with pytest.raises(LSTMTypeError, match=r"`template\['w'\]` must be an array, got int"):
        train.restore_checkpoint(tmp_path, {"w": 1})
