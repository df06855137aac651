"""`jlstm.convert` against Keras `LSTM` / `Bidirectional(LSTM)`: round trips and outputs.

Every test builds and runs Keras layers (the `keras` fixture of `tests/conftest.py`), so all
are slow. Run with `-s` to see the largest errors observed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import assert_same_tree, check
from support.factories import inputs

import jlstm
from jlstm import convert

KERAS = 1e-5  # abs tolerance of float32 outputs against Keras

pytestmark = pytest.mark.slow


def assert_same_list(actual, desired):
    assert len(actual) == len(desired)
    for a, d in zip(actual, desired, strict=True):
        assert a.dtype == d.dtype
        np.testing.assert_array_equal(a, d)


def random_weights(rng, layer):
    """Weights with random values (biases included) in the shapes Keras built."""
    return [rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in layer.weights]


@pytest.mark.parametrize(
    ("bidirectional", "use_bias"), [(False, True), (True, False)], ids=["lstm", "bidirectional"]
)
def test_keras_round_trip_and_outputs(keras, bidirectional, use_bias):
    batch, time, input_size, units = 3, 6, 4, 5
    rng = np.random.default_rng(0)
    xs = inputs((batch, time, input_size))
    # Weights that are overwritten need no (slow, orthogonal) initialisation.
    layer = keras.layers.LSTM(
        units,
        use_bias=use_bias,
        return_sequences=True,
        return_state=True,
        kernel_initializer="zeros",
        recurrent_initializer="zeros",
    )
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    # Keras broadcasts ranks implicitly, which the test suite forbids for jlstm.
    with jax.numpy_rank_promotion("allow"):
        layer.build(xs.shape)
        weights = random_weights(rng, layer)
        layer.set_weights(weights)
        outputs, *states = layer(xs)
    # `get_weights()` warns under NumPy 2; `.value` is what it returns.
    assert_same_list([np.asarray(w.value) for w in layer.weights], weights)

    params = convert.from_keras(weights)
    assert isinstance(params, jlstm.Bidirectional if bidirectional else jlstm.LSTMParams)
    back = convert.to_keras(params)
    assert_same_list(back, weights)
    assert_same_tree(convert.from_keras(back), params)

    if bidirectional:
        forward, ys_forward = jlstm.lstm(params.forward, jnp.asarray(xs))
        backward, ys_backward = jlstm.lstm(params.backward, jnp.asarray(xs), reverse=True)
        ys = jnp.concatenate([ys_forward, ys_backward], axis=-1)
        finals = [forward.h, forward.c, backward.h, backward.c]
    else:
        state, ys = jlstm.lstm(params, jnp.asarray(xs))
        finals = [state.h, state.c]
    check("keras outputs", ys, outputs, KERAS)
    for name, actual, desired in zip(("h", "c", "h back", "c back"), finals, states, strict=False):
        check(f"keras {name}", actual, desired, KERAS)


def test_keras_stack_of_layers(keras):
    rng = np.random.default_rng(1)
    layers = [
        keras.layers.LSTM(3, return_sequences=True, kernel_initializer="zeros"),
        keras.layers.Bidirectional(keras.layers.LSTM(2, kernel_initializer="zeros")),
    ]
    with jax.numpy_rank_promotion("allow"):
        model = keras.Sequential([keras.Input((5, 4)), *layers])
        weights = [random_weights(rng, layer) for layer in layers]
        for layer, w in zip(layers, weights, strict=True):
            layer.set_weights(w)
        outputs = model(np.ones((2, 5, 4), np.float32))

    params = convert.from_keras(weights)
    assert isinstance(params, tuple)
    assert isinstance(params[0], jlstm.LSTMParams)
    assert isinstance(params[1], jlstm.Bidirectional)
    back = convert.to_keras(params)
    for actual, desired in zip(back, weights, strict=True):
        assert_same_list(actual, desired)

    _, ys = jlstm.lstm(params[0], jnp.ones((2, 5, 4)))
    forward, _ = jlstm.lstm(params[1].forward, ys)
    backward, _ = jlstm.lstm(params[1].backward, ys, reverse=True)
    check("keras stack outputs", jnp.concatenate([forward.h, backward.h], -1), outputs, KERAS)
