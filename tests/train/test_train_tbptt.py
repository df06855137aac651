"""Truncated BPTT against full BPTT (k >= T) and against a Python loop over chunks."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from support.assertions import assert_trees_close
from support.train import (
    OPTIMIZER,
    chunk_loss,
    fresh_state,
    init_carry,
    linear_state,
    make_streams,
)

import jlstm
from jlstm import train

TIME, CHUNK = 10, 4  # chunks of 4, 4 and 2 steps
STEP = train.make_tbptt_step(chunk_loss, OPTIMIZER, CHUNK, init_carry=init_carry)


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


@pytest.mark.slow
def test_one_chunk_is_full_bptt():
    (stream,) = make_streams(1)

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


@pytest.mark.slow
def test_chunks_and_carry_across_streams_match_python_loop():
    streams = make_streams(2)
    params, carry, losses = reference(streams)
    state, (losses_a, (got_carry, aux)) = STEP(fresh_state(), streams[0])
    assert losses_a.shape == (3,) and aux.shape == (3,) and int(state.step) == 3
    state, (losses_b, (got_carry, _)) = STEP(state, streams[1], got_carry)
    np.testing.assert_allclose(np.concatenate([losses_a, losses_b]), losses, rtol=1e-5)
    assert_trees_close(state.params, params)
    assert_trees_close(got_carry, carry)


@pytest.mark.slow
def test_time_major_stream_equals_batch_major():
    def time_major_loss(params, carry, chunk, key):
        xs, targets = (jnp.swapaxes(x, 0, 1) for x in chunk)  # (k, batch, ...) -> (batch, k, ...)
        return chunk_loss(params, carry, (xs, targets), key)

    def time_major_carry(params, stream):
        return jlstm.zero_state(params["lstm"], stream[0].shape[1:2])

    (stream,) = make_streams(1)
    step = train.make_tbptt_step(
        time_major_loss, OPTIMIZER, CHUNK, init_carry=time_major_carry, time_major=True
    )
    state, (losses, (carry, _)) = step(fresh_state(), tuple(np.swapaxes(x, 0, 1) for x in stream))
    want_state, (want_losses, (want_carry, _)) = STEP(fresh_state(), stream)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-6)
    assert_trees_close(state.params, want_state.params)
    assert_trees_close(carry, want_carry)


def running_sum_loss(params, carry, chunk, key):
    """A linear recurrence: the carry sums `xs @ w` over the steps; aux is the chunk length."""
    (xs,) = chunk  # (batch, k, 3)
    carry = carry + jnp.sum(xs @ params["w"], axis=1)
    return jnp.mean(carry**2), (carry, jnp.float32(xs.shape[1]))


def test_chunks_cover_the_stream_and_fit_runs_them():
    """With a zero learning rate the carry at the end is the sum over the whole stream."""
    step = train.make_tbptt_step(
        running_sum_loss, optax.sgd(0.0), CHUNK, init_carry=lambda p, s: jnp.zeros((2, 2))
    )
    xs = np.random.default_rng(0).normal(size=(2, TIME, 3)).astype(np.float32)
    state, (losses, (carry, lengths)) = step(linear_state(), (xs,))
    assert losses.shape == (3,) and int(state.step) == 3
    np.testing.assert_array_equal(lengths, [4, 4, 2])
    np.testing.assert_allclose(carry, np.sum(xs @ np.ones((3, 2)), axis=1), rtol=1e-5)
    state, history = train.fit(step, linear_state(), [(xs,)] * 3)
    assert history.losses.shape == (3, 3) and int(state.step) == 9
