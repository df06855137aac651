"""Sequence losses against NumPy loops; padding (even NaN or inf) never leaks into them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.train import make_batches, model_params

import jlstm
from jlstm import train

CLASSES = 4


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def random_case(batch_shape, time, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(*batch_shape, time, CLASSES)).astype(np.float32)
    labels = rng.integers(0, CLASSES, (*batch_shape, time)).astype(np.int32)
    lengths = rng.integers(0, time + 1, batch_shape).astype(np.int32)
    return logits, labels, lengths


def poison(array, lengths, value, time_axis=-2):
    """Overwrite the padded steps of `array` (time on `time_axis`) with `value`."""
    array = np.array(array)
    time_axis %= array.ndim
    steps = np.arange(array.shape[time_axis]).reshape((-1,) + (1,) * (array.ndim - 1 - time_axis))
    padded = steps >= np.expand_dims(lengths, tuple(range(lengths.ndim, array.ndim)))
    array[np.broadcast_to(padded, array.shape)] = value
    return array


def reference_sequence_ce(logits, labels, lengths):
    flat_logits = logits.reshape(-1, *logits.shape[-2:]).astype(np.float64)
    flat_labels, flat_lengths = labels.reshape(-1, labels.shape[-1]), lengths.reshape(-1)
    terms = [
        -log_softmax(flat_logits[b, t])[flat_labels[b, t]]
        for b in range(len(flat_lengths))
        for t in range(flat_lengths[b])
    ]
    return np.mean(terms) if terms else 0.0


SEQUENCE_CE = jax.jit(train.sequence_cross_entropy)


@pytest.mark.parametrize("batch_shape", [(), (2, 3)])
def test_sequence_cross_entropy_matches_loop(batch_shape):
    logits, labels, lengths = random_case(batch_shape, 6)
    if not batch_shape:
        lengths = np.int32(4)
    loss = SEQUENCE_CE(logits, labels, lengths)
    np.testing.assert_allclose(loss, reference_sequence_ce(logits, labels, lengths), rtol=1e-6)
    full = SEQUENCE_CE(logits, labels)
    everything = np.full(batch_shape, 6, np.int32)
    np.testing.assert_allclose(full, reference_sequence_ce(logits, labels, everything), rtol=1e-6)


SEQUENCE_CE_GRAD = jax.jit(jax.value_and_grad(train.sequence_cross_entropy))


@pytest.mark.parametrize("value", [np.nan, np.inf, -1e30, 7.0])
def test_padding_never_leaks(value):
    logits, labels, lengths = random_case((6,), 5, seed=1)
    lengths[0] = 0
    grad_fn = SEQUENCE_CE_GRAD
    loss, grad = grad_fn(logits, labels, lengths)
    bad_logits = poison(logits, lengths, value)
    bad_labels = poison(labels, lengths, -3, time_axis=-1)
    bad_loss, bad_grad = grad_fn(bad_logits, bad_labels, lengths)
    assert loss == bad_loss
    np.testing.assert_array_equal(grad, bad_grad)
    assert np.all(poison(np.asarray(grad), lengths, 0.0) == grad)  # zero gradient on padding


LAST_VALID_MSE_GRAD = jax.jit(jax.value_and_grad(train.last_valid_mse))
LAST_VALID_CE_GRAD = jax.jit(jax.value_and_grad(train.last_valid_cross_entropy))


@pytest.mark.slow
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_last_valid_losses_ignore_padding(value):
    rng = np.random.default_rng(2)
    predictions = rng.normal(size=(5, 4, 3)).astype(np.float32)
    targets = rng.normal(size=(5, 3)).astype(np.float32)
    labels = rng.integers(0, 3, 5).astype(np.int32)
    lengths = np.array([4, 1, 0, 2, 3], np.int32)
    valid = lengths > 0
    last = predictions[np.arange(5), np.maximum(lengths - 1, 0)]
    mse = np.mean(((last - targets) ** 2)[valid])
    ce = np.mean([-log_softmax(last[b])[labels[b]] for b in np.flatnonzero(valid)])
    for grad_fn, second, expected in [
        (LAST_VALID_MSE_GRAD, targets, mse),
        (LAST_VALID_CE_GRAD, labels, ce),
    ]:
        loss, grad = grad_fn(predictions, second, lengths)
        np.testing.assert_allclose(loss, expected, rtol=1e-6)
        bad_loss, bad_grad = grad_fn(poison(predictions, lengths, value), second, lengths)
        assert loss == bad_loss
        np.testing.assert_array_equal(grad, bad_grad)


def test_last_valid_picks_the_last_valid_step():
    ys = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2)
    lengths = np.array([[4, 1, 0], [2, 3, 4]], np.int32)
    last_valid = jax.jit(train.last_valid)
    picked = np.asarray(last_valid(ys, lengths))
    for index in np.ndindex(2, 3):
        expected = ys[index][lengths[index] - 1] if lengths[index] else np.zeros(2)
        np.testing.assert_array_equal(picked[index], expected)
    np.testing.assert_array_equal(last_valid(ys), ys[..., -1, :])


@pytest.mark.slow
def test_padding_never_leaks_through_an_lstm_model():
    """The whole model: padded inputs and labels change neither loss nor gradients."""
    params = model_params()
    xs, labels, _ = make_batches(1, batch=3, time=7, seed=4)[0]
    lengths = np.array([7, 3, 0], np.int32)

    @jax.jit
    @jax.value_and_grad
    def loss(params, xs, labels):
        _, hs = jlstm.lstm(params["lstm"], xs, lengths=lengths)
        last = train.last_valid(hs, lengths)
        ce = train.sequence_cross_entropy(hs @ params["out"], labels, lengths)
        return ce + jnp.sum(last**2)

    clean = loss(params, xs, labels)
    for value in (1e6, -3.0):
        bad_xs, bad_labels = poison(xs, lengths, value), poison(labels, lengths, 99, time_axis=-1)
        poisoned = loss(params, bad_xs, bad_labels)
        for a, b in zip(jax.tree.leaves(clean), jax.tree.leaves(poisoned), strict=True):
            np.testing.assert_array_equal(a, b)


MASKED_MEAN = jax.jit(train.masked_mean)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=4, max_size=4),
    st.integers(0, 2**31 - 1),
)
def test_masked_mean_is_mean_of_valid_entries(lengths, seed):
    values = np.random.default_rng(seed).normal(size=(4, 5)).astype(np.float32)
    lengths = np.array(lengths, np.int32)
    valid = [values[b, t] for b in range(4) for t in range(lengths[b])]
    expected = np.mean(valid) if valid else 0.0
    got = MASKED_MEAN(poison(values, lengths, np.nan, time_axis=-1), lengths)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_sequence_mask():
    mask = train.sequence_mask(np.array([[2], [0]]), 3)
    np.testing.assert_array_equal(mask, [[[True, True, False]], [[False, False, False]]])
