"""`bidirectional` against the NumPy oracle and keras.layers.Bidirectional; its errors.

Run with `-s` to see the largest errors observed against Keras.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support import oracle as reference
from support.assertions import check

import jlstm
from jlstm import Bidirectional, LSTMParams, LSTMState, LSTMTypeError, LSTMValueError

F32 = 1e-6  # abs tolerance of float32 values against the float64 oracle
KERAS = 1e-6  # abs tolerance against Keras

MERGES = {  # the merge modes written out; Keras calls "mean" "ave"
    "concat": lambda a, b: jnp.concatenate([a, b], axis=-1),
    "sum": lambda a, b: a + b,
    "mean": lambda a, b: (a + b) / 2,
    "mul": lambda a, b: a * b,
}


def inputs(shape, seed=1, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def random_layer(seed, input_size, hidden_size, proj_size=None, *, dtype=np.float32):
    """`LSTMParams` drawn uniformly from [-0.6, 0.6] (cheaper than init_lstm's orthogonal)."""
    rng = np.random.default_rng(seed)

    def draw(*shape):
        return jnp.asarray(rng.uniform(-0.6, 0.6, shape).astype(dtype))

    out_size = proj_size or hidden_size
    weight_hr = draw(proj_size, hidden_size) if proj_size else None
    return LSTMParams(
        draw(4 * hidden_size, input_size),
        draw(4 * hidden_size, out_size),
        draw(4 * hidden_size),
        weight_hr,
    )


def random_state(seed, params, batch_shape, dtype=np.float32):
    """A random `LSTMState` for the layer `params`."""
    h = inputs((*batch_shape, params.weight_hh.shape[1]), seed, dtype)
    c = inputs((*batch_shape, params.weight_hh.shape[0] // 4), seed + 1, dtype)
    return LSTMState(jnp.asarray(h), jnp.asarray(c))


def pair(equal_sizes=False, dtype=np.float32):
    """A bidirectional layer on 3 features: outputs 2 + 3, or 3 + 3 with `equal_sizes`."""
    forward = random_layer(0, 3, 4, 3 if equal_sizes else 2, dtype=dtype)
    return Bidirectional(forward, random_layer(1, 3, 3, dtype=dtype))


def run(merge_mode="concat", time_major=False):
    return jax.jit(
        lambda p, x, s, n: jlstm.bidirectional(
            p, x, s, lengths=n, merge_mode=merge_mode, time_major=time_major
        )
    )


# ---------------------------------------------------------------------------------------------
# Against the NumPy oracle
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "merge_mode, lengths",
    [
        ("concat", None),
        ("concat", [6, 0, 3, 1]),
        ("sum", [6, 0, 3, 1]),
        ("mean", [6, 0, 3, 1]),
        ("mul", [6, 0, 3, 1]),
        (None, [6, 0, 3, 1]),
    ],
)
def test_matches_oracle(merge_mode, lengths):
    params = pair(equal_sizes=merge_mode not in ("concat", None))
    xs = inputs((4, 6, 3))
    state = Bidirectional(*(random_state(s, p, (4,)) for s, p in zip((2, 4), params, strict=True)))
    lengths = None if lengths is None else np.asarray(lengths)
    final, ys = run(merge_mode)(params, xs, state, lengths)

    h_f, c_f, ys_f = reference.sequence(params.forward, xs, *state.forward, lengths=lengths)
    h_b, c_b, ys_b = reference.sequence(params.backward, xs, *state.backward, lengths, True)
    for name, actual, desired in [
        ("forward h", final.forward.h, h_f),
        ("forward c", final.forward.c, c_f),
        ("backward h", final.backward.h, h_b),
        ("backward c", final.backward.c, c_b),
    ]:
        check(name, actual, desired, F32)
    if merge_mode is None:
        assert isinstance(ys, Bidirectional)
        check("ys forward", ys.forward, ys_f, F32)
        check("ys backward", ys.backward, ys_b, F32)
    else:
        check("ys", ys, MERGES[merge_mode](ys_f, ys_b), F32)
    if lengths is not None:
        padded = np.arange(6) >= lengths[:, None]
        assert all(np.all(np.asarray(y)[padded] == 0) for y in jax.tree.leaves(ys))
        empty = lengths == 0  # length 0 keeps the initial state in both directions
        jax.tree.map(
            lambda a, b: np.testing.assert_array_equal(np.asarray(a)[empty], np.asarray(b)[empty]),
            final,
            state,
        )


def test_backward_reads_only_the_valid_part():
    params, xs, lengths = pair(), inputs((3, 6, 3)), np.array([6, 2, 4])
    noisy = xs.copy()
    for b, n in enumerate(lengths):
        noisy[b, n:] = 1e3
    fn = run()
    jax.tree.map(
        np.testing.assert_array_equal,
        fn(params, xs, None, lengths),
        fn(params, noisy, None, lengths),
    )
    full = fn(params, xs, None, np.full(3, 6))
    unpadded = run()(params, xs, None, None)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-7), full, unpadded)


@pytest.mark.parametrize("batch_shape", [(), (2, 3)])
def test_any_leading_batch_dims(batch_shape):
    params, xs = pair(), inputs((*batch_shape, 5, 3))
    final, ys = jlstm.bidirectional(params, xs)
    _, _, ys_f = reference.sequence(params.forward, xs.reshape(-1, 5, 3))
    h_b, _, ys_b = reference.sequence(params.backward, xs.reshape(-1, 5, 3), reverse=True)
    check("ys", ys, np.concatenate([ys_f, ys_b], -1).reshape(*batch_shape, 5, 5), F32)
    check("backward h", final.backward.h, h_b.reshape(*batch_shape, 3), F32)


def test_time_major_equals_batch_major():
    params, xs, lengths = pair(), inputs((3, 6, 3)), np.array([6, 1, 4])
    batch_major = run()(params, xs, None, lengths)
    time_major = run(time_major=True)(params, xs.swapaxes(0, 1), None, lengths)
    np.testing.assert_array_equal(batch_major[1], np.swapaxes(time_major[1], 0, 1))
    jax.tree.map(np.testing.assert_array_equal, batch_major[0], time_major[0])


def test_check_grads_float64(x64):
    params = pair(equal_sizes=True, dtype=np.float64)
    xs = jnp.asarray(inputs((3, 4, 3), dtype=np.float64))
    lengths = np.array([4, 0, 2])

    def loss(params, xs):
        final, ys = jlstm.bidirectional(params, xs, lengths=lengths, merge_mode="mul")
        return jnp.sum(ys**2) + jnp.sum(jnp.sin(final.backward.c)) + jnp.sum(final.forward.h)

    check_grads(jax.jit(loss), (params, xs), order=1, modes=("rev",))


def test_vmap_over_batch_equals_batched_call():
    params, xs, lengths = pair(), jnp.asarray(inputs((4, 6, 3))), jnp.array([6, 0, 3, 1])
    batched = run()(params, xs, None, lengths)
    mapped = jax.jit(jax.vmap(lambda x, n: jlstm.bidirectional(params, x, lengths=n)))(xs, lengths)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), batched, mapped)


# ---------------------------------------------------------------------------------------------
# Against keras.layers.Bidirectional
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


GAPPED = np.array([[0, 1, 1, 0, 1, 1], [1, 1, 1, 1, 1, 1], [1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]])


@pytest.mark.parametrize(
    "merge_mode, masking, initial_state",
    [
        ("concat", None, False),
        ("sum", None, True),
        ("mean", "lengths", False),
        ("mul", "gapped", True),
        (None, "lengths", True),
    ],
)
def test_matches_keras_bidirectional(keras, merge_mode, masking, initial_state):
    """Right padding as `lengths`, or any Keras mask as the `mask` option of `jlstm.lstm`."""
    units, rng = 4, np.random.default_rng(3)
    xs = rng.normal(size=(4, 6, 5)).astype(np.float32)
    lengths = np.array([6, 0, 3, 1])
    mask = {None: None, "lengths": np.arange(6) < lengths[:, None], "gapped": GAPPED == 1}[masking]
    weights = [  # forward then backward: kernel = weight_ih.T, recurrent_kernel = weight_hh.T
        rng.uniform(-0.5, 0.5, shape).astype(np.float32)
        for _ in range(2)
        for shape in ((5, 4 * units), (units, 4 * units), (4 * units,))
    ]
    states = [rng.uniform(-0.5, 0.5, (4, units)).astype(np.float32) for _ in range(4)]
    keras_mode = "ave" if merge_mode == "mean" else merge_mode
    zeros = {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}
    cell = keras.layers.LSTM(units, return_sequences=True, return_state=True, **zeros)
    layer = keras.layers.Bidirectional(cell, merge_mode=keras_mode)
    with jax.numpy_rank_promotion("allow"):  # Keras relies on implicit rank promotion
        layer.build(xs.shape)
        layer.set_weights(weights)
        outputs = layer(xs, mask=mask, initial_state=states if initial_state else None)
    outputs = [np.asarray(o) for o in outputs]
    ys_keras = Bidirectional(*outputs[:2]) if merge_mode is None else outputs[0]

    params = Bidirectional(
        *(
            LSTMParams(jnp.asarray(kernel.T), jnp.asarray(recurrent.T), jnp.asarray(bias))
            for kernel, recurrent, bias in (weights[:3], weights[3:])
        )
    )
    state = None
    if initial_state:
        state = Bidirectional(LSTMState(*states[:2]), LSTMState(*states[2:]))
    if masking == "gapped":
        # Keras' Bidirectional zeroes the outputs at masked steps, where jlstm.lstm (like a
        # plain Keras LSTM) repeats the carried h: compare the unmasked steps.
        final, ys = jax.jit(
            lambda p, x, s, m: jlstm.bidirectional(p, x, s, merge_mode=merge_mode, mask=m)
        )(params, xs, state, mask)
        ys = jax.tree.map(lambda y: np.where(mask[..., None], y, 0), ys)
    else:
        final, ys = run(merge_mode)(params, xs, state, None if masking is None else lengths)
    jax.tree.map(lambda a, b: check("keras ys", a, b, KERAS), ys, ys_keras)
    names = ("forward h", "forward c", "backward h", "backward c")
    for name, actual, desired in zip(names, jax.tree.leaves(final), outputs[-4:], strict=True):
        check(f"keras {name}", actual, desired, KERAS)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

PAIR = pair()
XS = jnp.zeros((2, 5, 3), jnp.float32)


def zero_states(params=PAIR, batch=(2,)):
    return Bidirectional(*(jlstm.zero_state(p, batch) for p in params))


BIDIRECTIONAL_CASES = [
    (
        "one direction",
        {"params": PAIR.forward},
        LSTMTypeError,
        r"`params` must be a Bidirectional\(forward, backward\) of LSTMParams, got LSTMParams",
    ),
    (
        "direction type",
        {"params": Bidirectional(PAIR.forward, {"weight_ih": 1})},
        LSTMTypeError,
        r"`params.backward` must be an LSTMParams, got dict",
    ),
    (
        "direction input sizes",
        {"params": Bidirectional(PAIR.forward, random_layer(0, 4, 3))},
        LSTMValueError,
        r"`params.backward.weight_ih` must be of shape \(4\*hidden_size, 3\) "
        r"\(the input_size of params.forward\), got shape \(12, 4\)",
    ),
    (
        "bad direction leaf",
        {"params": Bidirectional(PAIR.forward, PAIR.backward._replace(bias=jnp.zeros(5)))},
        LSTMValueError,
        r"(?s)`params.bias` must be of shape \(12,\), got shape \(5,\).*in `params.backward`",
    ),
    (
        "unidirectional state",
        {"state": jlstm.zero_state(PAIR.forward, (2,))},
        LSTMTypeError,
        r"`state` must be a Bidirectional\(forward, backward\) of LSTMState, as `params` is one, "
        r"got LSTMState",
    ),
    (
        "backward state shape",
        {"state": Bidirectional(None, jlstm.zero_state(PAIR.backward, (3,)))},
        LSTMValueError,
        r"(?s)jlstm.lstm: `state.h` must be of shape \(2, 3\).*in the backward direction",
    ),
    (
        "unknown merge mode",
        {"merge_mode": "max"},
        LSTMValueError,
        r"`merge_mode` must be one of 'concat', 'sum', 'mean', 'mul' or None, got 'max'",
    ),
    ("keras merge mode", {"merge_mode": "ave"}, LSTMValueError, r"got 'ave'. Keras' 'ave' is"),
    (
        "merge different sizes",
        {"merge_mode": "sum"},
        LSTMValueError,
        r"`params` must be two directions of one output size to merge them with "
        r"merge_mode='sum', got output sizes 2 and 3",
    ),
    (
        "reverse option",
        {"reverse": True},
        LSTMTypeError,
        r"`reverse` must be left out, got True. The backward direction already runs reversed",
    ),
    (
        "gate traces",
        {"return_gates": True},
        LSTMTypeError,
        r"`return_gates` must be left out, got True. Trace the gates of each direction",
    ),
    ("key type", {"key": jnp.zeros(3)}, LSTMTypeError, r"`key` must be one PRNG key"),
    (
        "inputs",
        {"xs": jnp.zeros((2, 5, 4))},
        LSTMValueError,
        r"(?s)jlstm.lstm: `xs` must be of shape \(\*batch, time, 3\).*in the forward direction",
    ),
]


@pytest.mark.parametrize(
    "case, change, error, match", BIDIRECTIONAL_CASES, ids=[c[0] for c in BIDIRECTIONAL_CASES]
)
def test_bidirectional_rejects(case, change, error, match):
    kwargs = {"params": PAIR, "xs": XS} | change
    with pytest.raises(error, match=match):
        jax.eval_shape(lambda: jlstm.bidirectional(**kwargs))


def test_accepts_states_per_direction():
    state = Bidirectional(None, jlstm.zero_state(PAIR.backward, (2,)))
    final, ys = jax.eval_shape(lambda: jlstm.bidirectional(PAIR, XS, state, merge_mode=None))
    assert ys.forward.shape == (2, 5, 2) and ys.backward.shape == (2, 5, 3)
    assert final.forward.c.shape == (2, 4)
