"""`jlstm.convert` against the cuDNN weight layout of `jax.experimental.rnn`.

`jax.experimental.rnn.lstm` runs on GPUs only, so the layout is checked on any machine with
the module's own `unpack_lstm_weights` and its reference implementation `lstm_ref`.
Run with `-s` to see the largest errors observed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import assert_same_tree, check
from support.convert import pseudo_layers, random_params, run_stack
from support.factories import inputs

import jlstm
from jlstm import convert

F32 = 1e-5  # abs tolerance of float32 outputs against the reference
BATCH, TIME, INPUT, HIDDEN = 3, 5, 4, 6


@pytest.fixture(scope="module")
def rnn():
    return pytest.importorskip("jax.experimental.rnn")


def sizes(num_layers, bidirectional):
    return dict(
        input_size=INPUT, hidden_size=HIDDEN, num_layers=num_layers, bidirectional=bidirectional
    )


@pytest.mark.parametrize(
    ("num_layers", "bidirectional"), [(2, True), (3, False)], ids=["2-bidirectional", "3"]
)
def test_cudnn_layout_round_trip(rnn, num_layers, bidirectional):
    count = rnn.get_num_params_in_lstm(**sizes(num_layers, bidirectional))
    weights = jnp.asarray(inputs((count,), num_layers))
    params = convert.from_cudnn(
        weights, INPUT, HIDDEN, num_layers=num_layers, bidirectional=bidirectional
    )
    # One layer comes back as itself (LSTMParams or Bidirectional), more as a stack tuple.
    single = jlstm.Bidirectional if bidirectional else jlstm.LSTMParams
    assert isinstance(params, single if num_layers == 1 else tuple)

    w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(weights, **sizes(num_layers, bidirectional))
    directions = pseudo_layers(params)
    assert len(directions) == len(w_ih)
    for p, direction in enumerate(directions):
        np.testing.assert_array_equal(direction.weight_ih, w_ih[p])
        np.testing.assert_array_equal(direction.weight_hh, w_hh[p])
        np.testing.assert_array_equal(direction.bias, b_ih[p] + b_hh[p])

    vector = convert.to_cudnn(params)
    assert vector.shape == weights.shape and vector.dtype == weights.dtype
    unpacked = rnn.unpack_lstm_weights(vector, **sizes(num_layers, bidirectional))
    for p, direction in enumerate(directions):  # exact, except that the biases are summed
        np.testing.assert_array_equal(unpacked[0][p], w_ih[p])
        np.testing.assert_array_equal(unpacked[1][p], w_hh[p])
        np.testing.assert_array_equal(unpacked[2][p], direction.bias)
        np.testing.assert_array_equal(unpacked[3][p], np.zeros(4 * HIDDEN, np.float32))
    back = convert.from_cudnn(
        vector, INPUT, HIDDEN, num_layers=num_layers, bidirectional=bidirectional
    )
    assert_same_tree(back, params)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("num_layers", "bidirectional"), [(2, True), (3, False)], ids=["2-bidirectional", "3"]
)
def test_cudnn_reference_outputs(rnn, num_layers, bidirectional):
    weights = rnn.init_lstm_weight(jax.random.key(0), **sizes(num_layers, bidirectional))
    params = convert.from_cudnn(
        weights, INPUT, HIDDEN, num_layers=num_layers, bidirectional=bidirectional
    )
    w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(weights, **sizes(num_layers, bidirectional))
    rows = num_layers * (1 + bidirectional)
    xs = jnp.asarray(inputs((BATCH, TIME, INPUT), 1))
    h0, c0 = (jnp.asarray(inputs((rows, BATCH, HIDDEN), seed)) for seed in (2, 3))
    lengths = jnp.full((BATCH,), TIME, jnp.int32)
    ys_ref, h_ref, c_ref = rnn.lstm_ref(
        xs, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, INPUT, HIDDEN, num_layers, 0.0, bidirectional
    )
    ys, h_n, c_n = jax.jit(run_stack)(params, xs, h0, c0)
    check("cudnn ys", ys, ys_ref, F32)
    check("cudnn h_n", h_n, h_ref, F32)
    check("cudnn c_n", c_n, c_ref, F32)


def test_params_without_bias_write_zero_biases(rnn):
    params = random_params(2, INPUT, HIDDEN, bias=False)
    vector = convert.to_cudnn(params)
    _, _, b_ih, b_hh = rnn.unpack_lstm_weights(vector, INPUT, HIDDEN, 1, False)
    assert not np.any(b_ih[0]) and not np.any(b_hh[0])
    back = convert.from_cudnn(vector, INPUT, HIDDEN)
    np.testing.assert_array_equal(back.weight_ih, params.weight_ih)
