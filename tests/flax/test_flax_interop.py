"""The Flax modules against Flax's own LSTM cell and Keras, loaded with the same weights.

Run with `-s` to see the largest errors against Keras.
"""

import jax
import numpy as np
import pytest
from flax import linen as nn
from flax import nnx
from support.assertions import check
from support.factories import hello, inputs
from support.modules import FEATURES, build

import jlstm
from jlstm import convert
from jlstm import flax as jflax

KERAS = 1e-6  # abs tolerance of float32 outputs against Keras


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["linen", "nnx"])
def test_the_named_state_of_a_flax_carry_gives_flax_numbers(kind):
    # A Flax cell's carry is (c, h): read as (h, c) it gave outputs 0.74 off, silently.
    xs = inputs((2, 5, 4))
    params, call = build(kind, xs, return_state=True)
    rnn = nn.RNN(nn.OptimizedLSTMCell(FEATURES), return_carry=True)
    variables = {"params": {"cell": convert.to_flax(params)["params"]}}
    carry = (inputs((2, FEATURES), seed=3), inputs((2, FEATURES), seed=4))  # (c, h)
    ys, h, c = call(xs, initial_state=jlstm.LSTMState(h=carry[1], c=carry[0]))
    flax_carry, flax_ys = rnn.apply(variables, xs, initial_carry=carry)
    np.testing.assert_allclose(ys, flax_ys, atol=1e-6)
    np.testing.assert_allclose(c, flax_carry[0], atol=1e-6)
    np.testing.assert_allclose(h, flax_carry[1], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["linen", "nnx"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["lstm", "bidirectional"])
def test_hello_demo_matches_keras(keras, kind, bidirectional):
    x_data = hello()  # (3, 5, 4)
    options = {"return_sequences": False, "return_state": True, "bidirectional": bidirectional}
    if kind == "linen":
        model = jflax.LSTM(features=2, **options)
        variables = model.init(jax.random.key(0), x_data)
        params, result = variables["params"]["lstm"], model.apply(variables, x_data)
    else:
        model = jflax.NNXLSTM(4, 2, rngs=nnx.Rngs(0), **options)
        params, result = model.params, model(x_data)
    layer = keras.layers.LSTM(units=2, return_state=True)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    # Keras broadcasts ranks implicitly, which the test suite forbids for jlstm.
    with jax.numpy_rank_promotion("allow"):
        layer.build(x_data.shape)
        layer.set_weights(convert.to_keras(params))
        expected = layer(np.asarray(x_data))
    assert len(result) == len(expected) == (5 if bidirectional else 3)
    for name, actual, desired in zip(
        ["output", "h", "c", "h back", "c back"], result, expected, strict=False
    ):
        check(f"{kind} hello {name}", actual, desired, KERAS)
