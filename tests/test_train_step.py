"""`make_train_step` and `fit` against a hand-written Optax loop."""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jlstm
from jlstm import LSTMTypeError, LSTMValueError, train

INPUT, HIDDEN, CLASSES = 3, 4, 5


def init_params(key):
    key_lstm, key_out = jax.random.split(key)
    return {
        "lstm": jlstm.init_lstm(key_lstm, INPUT, HIDDEN),
        "out": jax.random.uniform(key_out, (HIDDEN, CLASSES), jnp.float32, -1.0, 1.0),
    }


def loss_fn(params, batch, key):
    """Cross-entropy of a read-out, with input noise drawn from `key`."""
    xs, labels = batch
    xs = xs * (1.0 + 0.1 * jax.random.uniform(key, dtype=xs.dtype))  # key-dependent
    _, hs = jlstm.lstm(params["lstm"], xs)
    loss = train.sequence_cross_entropy(hs @ params["out"], labels)
    return loss, {"loss_copy": loss}


def make_batches(count, batch=4, time=6, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (
            rng.normal(size=(batch, time, INPUT)).astype(np.float32),
            rng.integers(0, CLASSES, (batch, time)).astype(np.int32),
        )
        for _ in range(count)
    ]


OPTIMIZER = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
BATCHES = make_batches(6)
STEP = train.make_train_step(loss_fn, OPTIMIZER)


def fresh_state(optimizer=OPTIMIZER):
    return train.init_train_state(init_params(jax.random.key(0)), optimizer, key=jax.random.key(1))


@functools.cache
def manual_run():
    """The loop every Optax tutorial writes, with the same key schedule, over BATCHES."""
    params, key = init_params(jax.random.key(0)), jax.random.key(1)
    opt_state = OPTIMIZER.init(params)

    @jax.jit
    def update(params, opt_state, key, batch):
        key, step_key = jax.random.split(key)
        (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, step_key)
        updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, key, loss

    losses = []
    for batch in BATCHES:
        params, opt_state, key, loss = update(params, opt_state, key, batch)
        losses.append(float(loss))
    return params, np.array(losses)


def assert_trees_close(a, b, atol=1e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=0)


# A linear model: for the tests of plumbing, where the model does not matter (fast to compile).
def linear_loss(params, batch, key):
    xs, ys = batch
    return jnp.mean((xs @ params["w"] - ys) ** 2), None


def linear_state(optimizer, key=1):
    params = {"w": jnp.ones((3, 2), jnp.float32)}
    return train.init_train_state(params, optimizer, key=jax.random.key(key))


def linear_batches(count, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 2)).astype(np.float32))
        for _ in range(count)
    ]


SGD = optax.sgd(0.1)
LINEAR_STEP = train.make_train_step(linear_loss, SGD)


def test_step_matches_manual_optax_loop():
    params, losses = manual_run()
    state = fresh_state()
    for i, batch in enumerate(BATCHES):
        state, (loss, aux) = STEP(state, batch)
        np.testing.assert_allclose(loss, losses[i], atol=1e-6)
        np.testing.assert_array_equal(aux["loss_copy"], loss)
    assert int(state.step) == len(BATCHES)
    assert_trees_close(state.params, params)


@pytest.mark.parametrize("donate", [True, False])
def test_donation_consumes_the_input_state(donate):
    step = train.make_train_step(linear_loss, SGD, donate=donate)
    state = linear_state(SGD)
    weight = state.params["w"]
    step(state, linear_batches(1)[0])
    assert weight.is_deleted() == donate


def test_each_update_gets_a_fresh_key():
    def key_loss(params, batch, key):
        return jnp.sum(params["w"] ** 2), jax.random.key_data(key)

    state = linear_state(SGD, key=7)
    step = train.make_train_step(key_loss, SGD)
    key, seen = jax.random.key(7), []
    for _ in range(3):
        state, (_, step_key) = step(state, None)
        key, expected = jax.random.split(key)
        np.testing.assert_array_equal(step_key, jax.random.key_data(expected))
        seen.append(tuple(np.asarray(step_key)))
    assert len(set(seen)) == 3


def test_weak_types_are_fixed_so_the_step_compiles_once():
    state = train.init_train_state({"w": jnp.full((3, 2), 0.5)}, SGD, key=jax.random.key(0))
    assert not state.params["w"].weak_type and state.params["w"].dtype == jnp.float32
    traces = []

    def counting_loss(params, batch, key):
        traces.append(1)  # runs once per trace, i.e. per compilation
        return linear_loss(params, batch, key)

    step = train.make_train_step(counting_loss, SGD)
    for batch in linear_batches(3):
        state, _ = step(state, batch)
    assert len(traces) == 1


def test_clipping_bounds_the_update():
    optimizer = optax.chain(optax.clip_by_global_norm(1e-3), optax.sgd(1.0))
    state = linear_state(optimizer)
    before = np.asarray(state.params["w"])
    state, _ = train.make_train_step(linear_loss, optimizer)(state, linear_batches(1)[0])
    change = np.linalg.norm(np.asarray(state.params["w"]) - before)
    assert 0 < change <= 1e-3 * (1 + 1e-5)


def test_fit_matches_manual_loop_and_reports():
    params, losses = manual_run()
    seen = []

    def evaluate(state):
        seen.append(int(state.step))
        return {"out_sum": jnp.sum(state.params["out"]), "ones": np.ones(2)}

    state, history = train.fit(STEP, fresh_state(), BATCHES, eval_fn=evaluate, eval_every=4)
    np.testing.assert_allclose(history.losses, losses, atol=1e-6)
    assert_trees_close(state.params, params)
    assert seen == [4, 6]
    assert [step for step, _ in history.metrics] == [4, 6]
    final = history.metrics[-1][1]
    assert final["out_sum"] == pytest.approx(float(jnp.sum(state.params["out"])))
    np.testing.assert_array_equal(final["ones"], np.ones(2))
    assert math.isfinite(history.steps_per_second) and history.steps_per_second > 0


def test_fit_num_steps_and_generators():
    batches = itertools.cycle(linear_batches(2))
    state, history = train.fit(LINEAR_STEP, linear_state(SGD), batches, num_steps=5)
    assert history.losses.shape == (5,) and int(state.step) == 5
    state, history = train.fit(LINEAR_STEP, state, iter(linear_batches(1)))
    assert history.losses.shape == (1,) and int(state.step) == 6
    assert math.isnan(history.steps_per_second)  # one call: nothing timed after compiling
    state, history = train.fit(LINEAR_STEP, state, [])
    assert history.losses.shape == (0,) and int(state.step) == 6


def test_fit_progress_bar(capsys):
    train.fit(LINEAR_STEP, linear_state(SGD), linear_batches(10), progress=True)
    out = capsys.readouterr().out
    assert "training" in out and "10/10" in out and "loss" in out
    train.fit(LINEAR_STEP, linear_state(SGD), linear_batches(2))
    assert capsys.readouterr().out == ""  # not a terminal: no bar by default


def bad_outputs():
    return [
        (
            lambda p, b, k: jnp.sum(p["w"]),
            LSTMTypeError,
            r"`loss_fn` must be .*\(loss, aux\), got an array of shape \(\)",
        ),
        (lambda p, b, k: (p["w"], None), LSTMTypeError, r"scalar float.*shape \(2,\)"),
        (lambda p, b, k: (jnp.int32(1), None), LSTMTypeError, r"scalar float.*int32"),
        (lambda p, b, k: (1.0, None, None), LSTMTypeError, r"tuple of length 3"),
        (lambda p, b, k: (1.0, None), LSTMTypeError, r"scalar float array, got a float"),
    ]


@pytest.mark.parametrize("bad_loss, error, match", bad_outputs())
def test_bad_loss_output_is_named(bad_loss, error, match):
    state = train.init_train_state({"w": jnp.ones(2)}, optax.sgd(0.1), key=jax.random.key(0))
    with pytest.raises(error, match=r"jlstm\.train\.make_train_step: .*" + match):
        train.make_train_step(bad_loss, optax.sgd(0.1))(state, None)


def test_bad_arguments():
    with pytest.raises(LSTMTypeError, match=r"`optimizer` must be an optax"):
        train.make_train_step(loss_fn, optax.adam)
    with pytest.raises(LSTMTypeError, match=r"`loss_fn` must be a function"):
        train.make_train_step("loss", OPTIMIZER)
    with pytest.raises(LSTMTypeError, match=r"`optimizer` must be an optax"):
        train.init_train_state({}, None, key=jax.random.key(0))
    step = LINEAR_STEP
    with pytest.raises(LSTMTypeError, match=r"`state` must be a TrainState.*got tuple"):
        step(tuple(linear_state(SGD)), linear_batches(1)[0])
    with pytest.raises(LSTMTypeError, match=r"train\.fit: `state` must be a TrainState"):
        train.fit(step, {}, [])
    with pytest.raises(LSTMValueError, match=r"`num_steps` must be a positive int, got 0"):
        train.fit(step, linear_state(SGD), [], num_steps=0)
    with pytest.raises(LSTMValueError, match=r"`eval_fn` must be given when eval_every is"):
        train.fit(step, linear_state(SGD), [], eval_every=3)
    with pytest.raises(LSTMValueError, match=r"`checkpoint_dir` must be given"):
        train.fit(step, linear_state(SGD), [], checkpoint_every=3)
    with pytest.raises(LSTMTypeError, match=r"`batches` must be an iterable"):
        train.fit(step, linear_state(SGD), 3)
    with pytest.raises(LSTMTypeError, match=r"`eval_fn` must be a function returning a dict"):
        train.fit(step, linear_state(SGD), linear_batches(1), eval_fn=lambda state: 1.0)


def test_public_names_are_documented():
    for name in train.__all__:
        assert getattr(train, name).__doc__, name
