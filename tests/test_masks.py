"""`mask` (Keras semantics) and `resets` (Haiku's ResetCore) against the NumPy oracle,
Keras masking, and separate runs of the segments. Run with `-s` to see the largest errors.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support import oracle as reference
from support.assertions import check, ulp_close
from support.factories import GAPPED, RESETS, VARIANTS, inputs, make, make_variant
from support.layers import jit_lstm

import jlstm

F32 = 2e-6
KERAS = 1e-6

# (batch=4, time=7) masks: left-padded like Keras' pad_sequences(padding="pre"), and gapped.
LEFT_PADDED = np.arange(7)[None, :] >= np.array([0, 3, 6, 7])[:, None]
MASKS = {"left-padded": LEFT_PADDED, "gapped": GAPPED}


@pytest.mark.parametrize(
    "mask_name, reverse, lengths",
    [
        pytest.param("left-padded", False, None, marks=pytest.mark.slow),
        pytest.param("gapped", True, None, marks=pytest.mark.slow),
        ("gapped", False, (7, 2, 5, 0)),
        pytest.param("left-padded", True, (7, 6, 7, 3), marks=pytest.mark.slow),
    ],
)
def test_mask_matches_oracle(mask_name, reverse, lengths):
    params = make(input_size=3, hidden_size=4, proj_size=2)
    xs, h0, c0 = inputs((4, 7, 3)), inputs((4, 2), 2), inputs((4, 4), 3)
    mask = MASKS[mask_name]
    lengths = None if lengths is None else np.array(lengths)
    state = jlstm.LSTMState(jnp.asarray(h0), jnp.asarray(c0))
    final, ys = jit_lstm(params, xs, state, mask=mask, lengths=lengths, reverse=reverse)
    h_ref, c_ref, ys_ref, _ = reference.general_sequence(
        params, xs, h0, c0, mask=mask, lengths=lengths, reverse=reverse
    )
    check("ys", ys, ys_ref, F32)
    check("h_n", final.h, h_ref, F32)
    check("c_n", final.c, c_ref, F32)
    # Masked and padded inputs are never read.
    noisy = np.where(mask[..., None], xs, np.float32(1e3))
    other = jit_lstm(params, noisy, state, mask=mask, lengths=lengths, reverse=reverse)
    jax.tree.map(np.testing.assert_array_equal, (final, ys), other)


@pytest.mark.slow
def test_all_true_mask_equals_no_mask():
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((3, 5, 3)))
    lengths = np.array([5, 2, 0])
    for kwargs in ({}, {"lengths": lengths, "reverse": True}):
        plain = jit_lstm(params, xs, **kwargs)
        masked = jit_lstm(params, xs, mask=np.ones((3, 5), bool), **kwargs)
        ulp_close(plain, masked)


def keras_lstm(keras, xs, units, go_backwards=False):
    """A Keras LSTM with random weights, and the same layer as jlstm params."""
    rng = np.random.default_rng(0)
    layer = keras.layers.LSTM(
        units,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        kernel_initializer="zeros",
        recurrent_initializer="zeros",
    )
    kernel = rng.uniform(-0.5, 0.5, (xs.shape[-1], 4 * units)).astype(np.float32)
    recurrent = rng.uniform(-0.5, 0.5, (units, 4 * units)).astype(np.float32)
    bias = rng.uniform(-0.5, 0.5, 4 * units).astype(np.float32)
    with jax.numpy_rank_promotion("allow"):
        layer.build(xs.shape)
        layer.set_weights([kernel, recurrent, bias])
    params = jlstm.LSTMParams(jnp.asarray(kernel.T), jnp.asarray(recurrent.T), jnp.asarray(bias))
    return layer, params


@pytest.mark.slow
@pytest.mark.parametrize(
    "mask_name, go_backwards",
    [("left-padded", False), ("gapped", False), ("gapped", True)],
)
def test_mask_matches_keras(keras, mask_name, go_backwards):
    xs, mask = inputs((4, 7, 3)), MASKS[mask_name]
    layer, params = keras_lstm(keras, xs, 5, go_backwards)
    with jax.numpy_rank_promotion("allow"):
        outputs, h, c = layer(xs, mask=mask)
    outputs = np.asarray(outputs)
    if go_backwards:  # Keras returns the outputs in the order it ran them
        outputs = outputs[:, ::-1]
    state, ys = jit_lstm(params, jnp.asarray(xs), mask=mask, reverse=go_backwards)
    check(f"keras {mask_name} outputs", ys, outputs, KERAS)
    check(f"keras {mask_name} h", state.h, h, KERAS)
    check(f"keras {mask_name} c", state.c, c, KERAS)


@pytest.mark.slow
def test_masking_layer_matches_keras(keras):
    # Left-padded with zero rows, as keras.utils.pad_sequences(padding="pre") makes them.
    xs = np.where(LEFT_PADDED[..., None], inputs((4, 7, 3)), np.float32(0.0))
    layer, params = keras_lstm(keras, xs, 5)
    with jax.numpy_rank_promotion("allow"):
        source = keras.Input((7, 3))
        model = keras.Model(source, layer(keras.layers.Masking(mask_value=0.0)(source)))
        outputs, h, c = model(xs)
    mask = np.any(xs != 0.0, axis=-1)  # what Masking computes
    state, ys = jit_lstm(params, jnp.asarray(xs), mask=mask)
    check("keras Masking outputs", ys, outputs, KERAS)
    check("keras Masking h", state.h, h, KERAS)
    check("keras Masking c", state.c, c, KERAS)


@pytest.mark.slow
@pytest.mark.parametrize("reverse", [False, True])
def test_resets_equal_separate_segments(reverse):
    params = make(input_size=3, hidden_size=4, proj_size=2)
    xs, h0, c0 = inputs((4, 8, 3)), inputs((4, 2), 2), inputs((4, 4), 3)
    lengths = np.array([8, 6, 0, 7])  # the flag at step 7 of sequence 3 is past its length
    state = jlstm.LSTMState(jnp.asarray(h0), jnp.asarray(c0))
    final, ys = jit_lstm(params, xs, state, resets=RESETS, lengths=lengths, reverse=reverse)
    # Every segment as a sequence of its own, all in one padded batch.
    segments = []  # (sequence, start, end)
    for b in range(4):
        starts = [0] + [t for t in range(1, lengths[b]) if RESETS[b, t]] + [lengths[b]]
        segments += [(b, starts[k], starts[k + 1]) for k in range(len(starts) - 1)]
    owner = [b for b, _, _ in segments]
    seg_xs = np.zeros((len(segments), 8, 3), np.float32)
    for k, (b, start, end) in enumerate(segments):
        seg_xs[k, : end - start] = xs[b, start:end]
    seg_lengths = np.array([end - start for _, start, end in segments])
    seg_state = jlstm.LSTMState(jnp.asarray(h0[owner]), jnp.asarray(c0[owner]))
    seg_final, seg_ys = jit_lstm(params, seg_xs, seg_state, lengths=seg_lengths, reverse=reverse)
    for k, (b, start, end) in enumerate(segments):
        np.testing.assert_allclose(ys[b, start:end], seg_ys[k, : end - start], atol=1e-6)
        if start == 0 if reverse else end == lengths[b]:  # the segment run last
            np.testing.assert_allclose(final.h[b], seg_final.h[k], atol=1e-6)
            np.testing.assert_allclose(final.c[b], seg_final.c[k], atol=1e-6)
    assert np.all(np.asarray(ys)[np.arange(8)[None, :] >= lengths[:, None]] == 0)
    np.testing.assert_array_equal(final.c[2], c0[2])  # length 0: the initial state


@pytest.mark.slow
@pytest.mark.parametrize("reverse", [False, True])
def test_resets_mask_lengths_variants_match_oracle(reverse):
    params = make_variant(input_size=3, hidden_size=4, **VARIANTS["all"])
    xs, h0, c0 = inputs((4, 7, 3)), inputs((4, 4), 2), inputs((4, 4), 3)
    lengths, resets = np.array([7, 5, 3, 6]), RESETS[:, :7]
    state = jlstm.LSTMState(jnp.asarray(h0), jnp.asarray(c0))
    final, ys = jit_lstm(
        params, xs, state, mask=GAPPED, resets=resets, lengths=lengths, reverse=reverse
    )
    h_ref, c_ref, ys_ref, _ = reference.general_sequence(
        params, xs, h0, c0, mask=GAPPED, resets=resets, lengths=lengths, reverse=reverse
    )
    check("ys", ys, ys_ref, F32)
    check("h_n", final.h, h_ref, F32)
    check("c_n", final.c, c_ref, F32)


@pytest.mark.slow
def test_no_resets_equal_plain_and_reset_needs_the_initial_state():
    params = make()
    xs = jnp.asarray(inputs((2, 5, 3)))
    plain = jit_lstm(params, xs)
    none_set = jit_lstm(params, xs, resets=np.zeros((2, 5), bool))
    ulp_close(plain, none_set)
    # A reset returns to the given initial state, not to zeros.
    state = jlstm.LSTMState(jnp.ones((2, 5)), jnp.ones((2, 5)))
    every = jit_lstm(params, xs, state, resets=np.ones((2, 5), bool))[1]
    one_step = jlstm.LSTMState(*(jnp.ones((2, 5, 5)),) * 2)  # each step a sequence of its own
    _, fresh = jit_lstm(params, xs[..., None, :], one_step)
    np.testing.assert_allclose(every, fresh[..., 0, :], atol=1e-6)


@pytest.mark.slow
def test_time_major_and_vmap():
    params = make()
    xs = jnp.asarray(inputs((4, 7, 3)))
    kwargs = {"mask": GAPPED, "resets": RESETS[:, :7], "lengths": np.array([7, 5, 3, 6])}
    batch_major = jit_lstm(params, xs, **kwargs)
    time_major = jit_lstm(
        params,
        xs.swapaxes(0, 1),
        mask=GAPPED.T,
        resets=RESETS[:, :7].T,
        lengths=kwargs["lengths"],
        time_major=True,
    )
    np.testing.assert_array_equal(batch_major[1], time_major[1].swapaxes(0, 1))
    mapped = jax.jit(
        jax.vmap(lambda x, m, r, n: jlstm.lstm(params, x, mask=m, resets=r, lengths=n))
    )(xs, *kwargs.values())
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), batch_major, mapped)


@pytest.mark.slow
def test_check_grads_float64(x64):
    params = make_variant(hidden_size=3, dtype=jnp.float64, peephole=True)
    xs = jnp.asarray(inputs((2, 5, 3), dtype=np.float64))
    kwargs = {"mask": GAPPED[:2, :5], "resets": RESETS[:2, :5], "lengths": np.array([5, 4])}

    def loss(params, xs):
        state, ys = jit_lstm(params, xs, reverse=True, **kwargs)
        return jnp.sum(ys**2) + jnp.sum(jnp.sin(state.c))

    check_grads(jax.jit(loss), (params, xs), order=1, modes=("rev",))
