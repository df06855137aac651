"""Truncated BPTT against full BPTT (k >= T) and against a Python loop over chunks."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jlstm
from jlstm import LSTMTypeError, LSTMValueError, train

BATCH, TIME, INPUT, HIDDEN, CHUNK = 2, 10, 3, 4, 4  # chunks of 4, 4 and 2 steps
OPTIMIZER = optax.adam(0.05)


def chunk_loss(params, carry, chunk, key):
    xs, targets = chunk  # (batch, k, input), (batch, k, hidden)
    carry, hs = jlstm.lstm(params, xs, carry)
    return jnp.mean((hs - targets) ** 2), (carry, jnp.sum(hs))


def init_carry(params, stream):
    return jlstm.zero_state(params, stream[0].shape[:1])


def make_stream(time=TIME, seed=0):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(BATCH, time, INPUT)).astype(np.float32)
    mixing = rng.normal(size=(INPUT, HIDDEN)) / INPUT
    return xs, (0.5 * np.tanh(np.cumsum(xs, axis=1) @ mixing)).astype(np.float32)


def fresh_state():
    params = jlstm.init_lstm(jax.random.key(0), INPUT, HIDDEN)
    return train.init_train_state(params, OPTIMIZER, key=jax.random.key(1))


def assert_trees_close(a, b, atol=1e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=0)


@jax.jit
def reference_update(params, opt_state, key, carry, chunk):
    key, step_key = jax.random.split(key)
    grad_fn = jax.value_and_grad(chunk_loss, has_aux=True)
    (loss, (carry, _)), grads = grad_fn(params, carry, chunk, step_key)
    updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, key, carry, loss


def reference(streams):
    """A Python loop: one update per chunk of CHUNK steps, each chunk's gradient on its own.

    The carry runs on from one stream to the next.
    """
    state = fresh_state()
    params, opt_state, key = state.params, state.opt_state, state.key
    carry = init_carry(params, streams[0])
    losses = []
    for stream in streams:
        for start in range(0, TIME, CHUNK):
            chunk = tuple(x[:, start : start + CHUNK] for x in stream)
            params, opt_state, key, carry, loss = reference_update(
                params, opt_state, key, carry, chunk
            )
            losses.append(float(loss))
    return params, carry, np.array(losses)


STEP = train.make_tbptt_step(chunk_loss, OPTIMIZER, CHUNK, init_carry=init_carry)


def test_one_chunk_is_full_bptt():
    stream = make_stream()

    def full_loss(params, stream, key):
        loss, (_, aux) = chunk_loss(params, init_carry(params, stream), stream, key)
        return loss, aux

    full_state, (full_loss_value, _) = train.make_train_step(full_loss, OPTIMIZER)(
        fresh_state(), stream
    )
    step = train.make_tbptt_step(chunk_loss, OPTIMIZER, TIME + 5, init_carry=init_carry)
    state, (losses, (_, aux)) = step(fresh_state(), stream)
    assert losses.shape == (1,) and aux.shape == (1,) and int(state.step) == 1
    np.testing.assert_allclose(losses[0], full_loss_value, rtol=1e-6)
    assert_trees_close(state.params, full_state.params)


def test_chunks_match_python_loop():
    stream = make_stream()
    params, carry, losses = reference([stream])
    state, (got_losses, (got_carry, aux)) = STEP(fresh_state(), stream)
    assert got_losses.shape == (3,) and aux.shape == (3,) and int(state.step) == 3
    np.testing.assert_allclose(got_losses, losses, rtol=1e-5)
    assert_trees_close(state.params, params)
    assert_trees_close(got_carry, carry)


def test_carry_continues_across_streams():
    streams = [make_stream(seed=0), make_stream(seed=1)]
    params, carry, losses = reference(streams)
    state, (losses_a, (got_carry, _)) = STEP(fresh_state(), streams[0])
    state, (losses_b, (got_carry, _)) = STEP(state, streams[1], got_carry)
    np.testing.assert_allclose(np.concatenate([losses_a, losses_b]), losses, rtol=1e-5)
    assert_trees_close(state.params, params)
    assert_trees_close(got_carry, carry)


def test_time_major_stream_equals_batch_major():
    def time_major_loss(params, carry, chunk, key):
        xs, targets = (jnp.swapaxes(x, 0, 1) for x in chunk)  # (k, batch, ...) -> (batch, k, ...)
        return chunk_loss(params, carry, (xs, targets), key)

    def time_major_carry(params, stream):
        return jlstm.zero_state(params, stream[0].shape[1:2])

    stream = make_stream()
    step = train.make_tbptt_step(
        time_major_loss, OPTIMIZER, CHUNK, init_carry=time_major_carry, time_major=True
    )
    state, (losses, (carry, _)) = step(fresh_state(), tuple(np.swapaxes(x, 0, 1) for x in stream))
    want_state, (want_losses, (want_carry, _)) = STEP(fresh_state(), stream)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-6)
    assert_trees_close(state.params, want_state.params)
    assert_trees_close(carry, want_carry)


def test_fit_runs_tbptt_steps():
    streams = [make_stream(seed=seed) for seed in range(3)]
    state, history = train.fit(STEP, fresh_state(), streams)
    assert history.losses.shape == (3, 3) and int(state.step) == 9


def test_bad_arguments():
    with pytest.raises(LSTMValueError, match=r"make_tbptt_step: `chunk_size` must be a positive"):
        train.make_tbptt_step(chunk_loss, OPTIMIZER, 0, init_carry=init_carry)
    with pytest.raises(LSTMTypeError, match=r"`init_carry` must be a function"):
        train.make_tbptt_step(chunk_loss, OPTIMIZER, 4, init_carry=None)
    with pytest.raises(LSTMTypeError, match=r"make_tbptt_step: `time_major` must be a Python bool"):
        train.make_tbptt_step(chunk_loss, OPTIMIZER, 4, init_carry=init_carry, time_major=1)
    step = STEP
    xs, targets = make_stream()
    with pytest.raises(LSTMValueError, match=r"`stream` must be arrays of one length along axis 1"):
        step(fresh_state(), (xs, targets[:, :5]))
    with pytest.raises(LSTMValueError, match=r"`stream` must be arrays with a time axis 1"):
        step(fresh_state(), (xs, targets[:, 0, 0]))
