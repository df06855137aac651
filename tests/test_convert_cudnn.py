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

import jlstm
from jlstm import convert

rnn = pytest.importorskip("jax.experimental.rnn")

F32 = 1e-5  # abs tolerance of float32 outputs against the reference
BATCH, TIME, INPUT, HIDDEN = 3, 5, 4, 6


def is_layer(params):
    return isinstance(params, jlstm.LSTMParams | jlstm.Bidirectional)


def pseudo_layers(params):
    """The directions in cuDNN's order: layer 0 forward, layer 0 backward, layer 1 ..."""
    layers = params if isinstance(params, tuple) and not is_layer(params) else (params,)
    return [
        d
        for layer in layers
        for d in (layer if isinstance(layer, jlstm.Bidirectional) else (layer,))
    ]


def run_stack(params, xs, h0, c0):
    """A stack composed by hand from `jlstm.lstm`, initial states in cuDNN's order."""
    layers = params if isinstance(params, tuple) and not is_layer(params) else (params,)
    finals, p = [], 0
    for layer in layers:
        directions = layer if isinstance(layer, jlstm.Bidirectional) else (layer,)
        outputs = []
        for reverse, direction in enumerate(directions):
            state = jlstm.LSTMState(h=h0[p], c=c0[p])
            state, ys = jlstm.lstm(direction, xs, state, reverse=bool(reverse))
            finals.append(state)
            outputs.append(ys)
            p += 1
        xs = jnp.concatenate(outputs, axis=-1)
    return xs, jnp.stack([s.h for s in finals]), jnp.stack([s.c for s in finals])


@pytest.mark.parametrize(
    ("num_layers", "bidirectional"),
    [(1, False), (1, True), (2, True), (3, False)],
    ids=["one-layer", "bidirectional", "2-layers-bidirectional", "3-layers"],
)
def test_cudnn_layout_round_trip_and_outputs(num_layers, bidirectional):
    sizes = dict(
        input_size=INPUT, hidden_size=HIDDEN, num_layers=num_layers, bidirectional=bidirectional
    )
    weights = rnn.init_lstm_weight(jax.random.key(0), **sizes)
    assert weights.shape == (rnn.get_num_params_in_lstm(**sizes),)
    params = convert.from_cudnn(
        weights, INPUT, HIDDEN, num_layers=num_layers, bidirectional=bidirectional
    )
    # One layer comes back as itself (LSTMParams or Bidirectional), more as a stack tuple.
    single = jlstm.Bidirectional if bidirectional else jlstm.LSTMParams
    assert isinstance(params, single if num_layers == 1 else tuple)

    w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(weights, **sizes)
    directions = pseudo_layers(params)
    assert len(directions) == len(w_ih)
    for p, direction in enumerate(directions):
        np.testing.assert_array_equal(direction.weight_ih, w_ih[p])
        np.testing.assert_array_equal(direction.weight_hh, w_hh[p])
        np.testing.assert_array_equal(direction.bias, b_ih[p] + b_hh[p])

    vector = convert.to_cudnn(params)
    assert vector.shape == weights.shape and vector.dtype == weights.dtype
    w_ih2, w_hh2, b_ih2, b_hh2 = rnn.unpack_lstm_weights(vector, **sizes)
    for p, direction in enumerate(directions):  # exact, except that the biases are summed
        np.testing.assert_array_equal(w_ih2[p], w_ih[p])
        np.testing.assert_array_equal(w_hh2[p], w_hh[p])
        np.testing.assert_array_equal(b_ih2[p], direction.bias)
        np.testing.assert_array_equal(b_hh2[p], np.zeros(4 * HIDDEN, np.float32))
    assert_same_tree(
        convert.from_cudnn(
            vector, INPUT, HIDDEN, num_layers=num_layers, bidirectional=bidirectional
        ),
        params,
    )

    rng = np.random.default_rng(1)
    xs = jnp.asarray(rng.normal(size=(BATCH, TIME, INPUT)).astype(np.float32))
    h0, c0 = (
        jnp.asarray(rng.normal(size=(len(directions), BATCH, HIDDEN)).astype(np.float32))
        for _ in "hc"
    )
    lengths = jnp.full((BATCH,), TIME, jnp.int32)
    ys_ref, h_ref, c_ref = rnn.lstm_ref(
        xs, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, INPUT, HIDDEN, num_layers, 0.0, bidirectional
    )
    ys, h_n, c_n = jax.jit(run_stack)(params, xs, h0, c0)
    check("cudnn ys", ys, ys_ref, F32)
    check("cudnn h_n", h_n, h_ref, F32)
    check("cudnn c_n", c_n, c_ref, F32)


def test_params_without_bias_write_zero_biases():
    params = jlstm.init_lstm(jax.random.key(2), INPUT, HIDDEN, bias=False)
    vector = convert.to_cudnn(params)
    _, _, b_ih, b_hh = rnn.unpack_lstm_weights(vector, INPUT, HIDDEN, 1, False)
    assert not np.any(b_ih[0]) and not np.any(b_hh[0])
    back = convert.from_cudnn(vector, INPUT, HIDDEN)
    np.testing.assert_array_equal(back.weight_ih, params.weight_ih)
