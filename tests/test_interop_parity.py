"""`jlstm.lstm` against `torch.nn.LSTM` and `keras.layers.LSTM` loaded with identical weights.

Run with `-s` to see the largest errors observed for each comparison.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import check
from support.factories import hello

import jlstm

F32 = 1e-5  # abs tolerance of float32 values against PyTorch
GRAD_RTOL = 1e-4  # gradient tolerance, relative to the largest entry of the reference
KERAS = 1e-6  # abs tolerance against Keras


def uniform(rng, *shape):
    return rng.uniform(-0.5, 0.5, shape).astype(np.float32)


# Every pair of options, in both settings, in 5 cases instead of 16 (each case compiles a scan).
# PyTorch warns once that its oneDNN kernel lacks projections; its fallback is what we compare.
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize(
    ("bias", "proj_size", "initial_state", "lengths"),
    [
        pytest.param(True, 0, False, None, id="default"),
        pytest.param(True, 3, True, (2, 7, 1, 5), id="bias-proj-state-packed"),
        pytest.param(False, 0, True, (2, 7, 1, 5), id="state-packed"),
        pytest.param(False, 3, False, (2, 7, 1, 5), id="proj-packed"),
        pytest.param(False, 3, True, None, id="proj-state"),
    ],
)
def test_matches_torch_lstm(torch, bias, proj_size, initial_state, lengths):
    batch, time, input_size, hidden = 4, 7, 5, 6
    out_size = proj_size or hidden
    rng = np.random.default_rng(0)
    weights = {
        "weight_ih_l0": uniform(rng, 4 * hidden, input_size),
        "weight_hh_l0": uniform(rng, 4 * hidden, out_size),
    }
    if bias:  # two random parts, summed on the jlstm side
        weights |= {"bias_ih_l0": uniform(rng, 4 * hidden), "bias_hh_l0": uniform(rng, 4 * hidden)}
    if proj_size:
        weights["weight_hr_l0"] = uniform(rng, proj_size, hidden)
    xs = 4 * uniform(rng, batch, time, input_size)
    h0, c0 = uniform(rng, batch, out_size), uniform(rng, batch, hidden)
    cot_ys, cot_h = uniform(rng, batch, time, out_size), uniform(rng, batch, out_size)
    cot_c = uniform(rng, batch, hidden)

    module = torch.nn.LSTM(input_size, hidden, bias=bias, batch_first=True, proj_size=proj_size)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    xs_t = torch.from_numpy(xs).requires_grad_()
    hx = None
    if initial_state:
        hx = tuple(torch.from_numpy(s[None]).requires_grad_() for s in (h0, c0))
    packed = xs_t
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xs_t, list(lengths), batch_first=True, enforce_sorted=False
        )
    ys_t, (h_t, c_t) = module(packed, hx)
    if lengths is not None:
        ys_t, _ = torch.nn.utils.rnn.pad_packed_sequence(ys_t, batch_first=True, total_length=time)
    loss_t = (
        (ys_t * torch.from_numpy(cot_ys)).sum()
        + (h_t[0] * torch.from_numpy(cot_h)).sum()
        + (c_t[0] * torch.from_numpy(cot_c)).sum()
    )
    loss_t.backward()

    params = jlstm.LSTMParams(
        jnp.asarray(weights["weight_ih_l0"]),
        jnp.asarray(weights["weight_hh_l0"]),
        jnp.asarray(weights["bias_ih_l0"] + weights["bias_hh_l0"]) if bias else None,
        jnp.asarray(weights["weight_hr_l0"]) if proj_size else None,
    )
    state = jlstm.LSTMState(jnp.asarray(h0), jnp.asarray(c0)) if initial_state else None
    lengths_j = None if lengths is None else np.asarray(lengths, np.int32)

    def loss(params, xs, state):
        final, ys = jlstm.lstm(params, xs, state, lengths=lengths_j)
        value = jnp.sum(ys * cot_ys) + jnp.sum(final.h * cot_h) + jnp.sum(final.c * cot_c)
        return value, (final, ys)

    grad_fn = jax.jit(jax.grad(loss, argnums=(0, 1, 2), has_aux=True))
    (d_params, d_xs, d_state), (final, ys) = grad_fn(params, jnp.asarray(xs), state)

    if lengths is not None:
        padded = np.arange(time) >= np.asarray(lengths)[:, None]
        assert np.all(np.asarray(ys)[padded] == 0), "jlstm outputs at padded steps must be 0"
    check("torch ys", ys, ys_t.detach(), F32)
    check("torch h_n", final.h, h_t[0].detach(), F32)
    check("torch c_n", final.c, c_t[0].detach(), F32)
    grads = {
        "d xs": (d_xs, xs_t.grad),
        "d weight_ih": (d_params.weight_ih, module.weight_ih_l0.grad),
        "d weight_hh": (d_params.weight_hh, module.weight_hh_l0.grad),
    }
    if bias:
        grads["d bias (ih)"] = (d_params.bias, module.bias_ih_l0.grad)
        grads["d bias (hh)"] = (d_params.bias, module.bias_hh_l0.grad)
    if proj_size:
        grads["d weight_hr"] = (d_params.weight_hr, module.weight_hr_l0.grad)
    if initial_state:
        grads["d h0"] = (d_state.h, hx[0].grad[0])
        grads["d c0"] = (d_state.c, hx[1].grad[0])
    for name, (actual, desired) in grads.items():
        check(f"torch {name}", actual, desired, GRAD_RTOL, relative=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("random_input", "units", "return_sequences", "keras_init"),
    [
        pytest.param(False, 2, False, False, id="hello"),
        pytest.param(True, 5, True, False, id="random-sequences"),
        pytest.param(False, 2, False, True, id="hello-keras-init"),
    ],
)
def test_matches_keras_lstm(keras, random_input, units, return_sequences, keras_init):
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(6, 9, 7)).astype(np.float32) if random_input else hello()
    input_size = xs.shape[-1]
    # Weights that are overwritten need no (slow, orthogonal) initialisation.
    init = {} if keras_init else {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}
    layer = keras.layers.LSTM(units, return_sequences=return_sequences, return_state=True, **init)
    # Keras broadcasts ranks implicitly, which the test suite may forbid for jlstm.
    with jax.numpy_rank_promotion("allow"):
        layer.build(xs.shape)
        if keras_init:
            kernel, recurrent_kernel, bias = (np.asarray(w.value) for w in layer.weights)
            # Keras' unit_forget_bias default is jlstm's forget_bias=1.0.
            default = jlstm.init_lstm(jax.random.key(0), input_size, units).bias
            np.testing.assert_array_equal(bias, default)
        else:
            kernel = uniform(rng, input_size, 4 * units)
            recurrent_kernel, bias = uniform(rng, units, 4 * units), uniform(rng, 4 * units)
            layer.set_weights([kernel, recurrent_kernel, bias])
        outputs, h, c = layer(xs)

    params = jlstm.LSTMParams(
        jnp.asarray(kernel.T), jnp.asarray(recurrent_kernel.T), jnp.asarray(bias)
    )
    state, ys = jlstm.lstm(params, jnp.asarray(xs))
    check("keras outputs", ys if return_sequences else ys[:, -1], outputs, KERAS)
    check("keras h", state.h, h, KERAS)
    check("keras c", state.c, c, KERAS)
