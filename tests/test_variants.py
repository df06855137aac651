"""Peephole, layer-norm and CIFG cells against the NumPy equations of their papers.

Also: a variant that is off costs nothing (the plain program is unchanged) and equals the
plain cell bit for bit. Run with `-s` to see the largest errors.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support import oracle as reference
from support.assertions import loop_bodies
from test_sequence import inputs, make

import jlstm
from jlstm import LSTMTypeError, LSTMValueError

F32 = 2e-6

VARIANTS = {
    "peephole": {"peephole": True},
    "layer_norm": {"layer_norm": True},
    "cifg": {"cifg": True},
    "all": {"peephole": True, "layer_norm": True, "cifg": True},
}


def make_variant(
    input_size=3, hidden_size=4, proj_size=None, *, seed=0, dtype=jnp.float32, **variants
):
    """Params with random bias, peepholes and layer-norm gains so that every term counts."""
    key_p, key_n = jax.random.split(jax.random.key(seed))
    params = jlstm.init_lstm(
        key_p, input_size, hidden_size, proj_size=proj_size, param_dtype=dtype, **variants
    )
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key_n, len(leaves))
    noisy = [
        leaf
        if leaf.shape == params.weight_ih.shape or leaf.shape == params.weight_hh.shape
        # weights keep their init; small vectors get noise
        else leaf + 0.5 * jax.random.normal(k, leaf.shape, dtype)
        for k, leaf in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(tree, noisy)


def report(name, actual, desired):
    err = float(np.max(np.abs(np.asarray(actual) - np.asarray(desired)), initial=0.0))
    print(f"{name}: max abs err {err:.2e}")
    return err


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("proj_size", [None, 2])
def test_cell_matches_paper_equations(variant, proj_size):
    params = make_variant(proj_size=proj_size, **VARIANTS[variant])
    out = params.weight_hh.shape[1]
    h, c, x = inputs((5, out), 2), inputs((5, 4), 3), inputs((5, 3), 4)
    state, trace = jlstm.lstm_cell(params, jlstm.LSTMState(h, c), x, return_gates=True)
    h_ref, c_ref, gates = reference.variant_cell(params, *map(np.float64, (h, c, x)))
    assert report(f"{variant} h", state.h, h_ref) <= F32
    assert report(f"{variant} c", state.c, c_ref) <= F32
    for name, value in gates.items():
        assert report(f"{variant} {name}", getattr(trace, name), value) <= F32
    if "cifg" in VARIANTS[variant]:
        np.testing.assert_allclose(trace.i, 1 - trace.f, atol=1e-7)


@pytest.mark.parametrize(
    "variant, proj_size, reverse",
    [("peephole", None, False), ("layer_norm", 2, True), ("cifg", None, True), ("all", 2, False)],
)
def test_sequence_matches_paper_equations(variant, proj_size, reverse):
    params = make_variant(proj_size=proj_size, **VARIANTS[variant])
    out = params.weight_hh.shape[1]
    xs, h0, c0 = inputs((4, 6, 3)), inputs((4, out), 5), inputs((4, 4), 6)
    lengths = np.array([6, 3, 0, 1])
    state = jlstm.LSTMState(jnp.asarray(h0), jnp.asarray(c0))
    final, ys = jlstm.lstm(params, xs, state, lengths=lengths, reverse=reverse)
    h_ref, c_ref, ys_ref, _ = reference.general_sequence(
        params, xs, h0, c0, lengths=lengths, reverse=reverse
    )
    assert report(f"{variant} ys", ys, ys_ref) <= F32
    assert report(f"{variant} h_n", final.h, h_ref) <= F32
    assert report(f"{variant} c_n", final.c, c_ref) <= F32


def test_sequence_equals_loop_of_cell():
    params = make_variant(proj_size=2, **VARIANTS["all"])
    xs = jnp.asarray(inputs((2, 5, 3)))
    state = jlstm.zero_state(params, (2,))
    outputs = []
    for t in range(5):
        state, h = jlstm.lstm_cell(params, state, xs[:, t])
        outputs.append(h)
    final, ys = jlstm.lstm(params, xs)
    np.testing.assert_allclose(ys, jnp.stack(outputs, axis=1), atol=1e-6)
    np.testing.assert_allclose(final.c, state.c, atol=1e-6)


def test_init_variants():
    plain = jlstm.init_lstm(jax.random.key(1), 3, 4, proj_size=2)
    both = jlstm.init_lstm(jax.random.key(1), 3, 4, proj_size=2, peephole=True, layer_norm=True)
    # The variants add parts; the weights drawn from the key stay the same.
    jax.tree.map(np.testing.assert_array_equal, tuple(both[:4]), tuple(plain[:4]))
    np.testing.assert_array_equal(both.weight_peephole, np.zeros((3, 4)))
    norm = both.layer_norm
    assert isinstance(norm, jlstm.LayerNorm)
    assert norm.scale_ih.shape == norm.scale_hh.shape == (16,)
    np.testing.assert_array_equal(norm.scale_c, np.ones(4))
    np.testing.assert_array_equal(norm.offset_c, np.zeros(4))

    cifg = jlstm.init_lstm(jax.random.key(1), 3, 4, cifg=True, peephole=True, layer_norm=True)
    assert cifg.weight_ih.shape == (12, 3) and cifg.weight_hh.shape == (12, 4)
    np.testing.assert_array_equal(cifg.bias, np.repeat([1.0, 0.0, 0.0], 4))  # [f; g; o]
    assert cifg.weight_peephole.shape == (2, 4) and cifg.layer_norm.scale_ih.shape == (12,)
    state = jlstm.zero_state(jlstm.init_lstm(jax.random.key(1), 3, 4, cifg=True), (2,))
    assert state.h.shape == state.c.shape == (2, 4)
    proj = jlstm.init_lstm(jax.random.key(1), 3, 4, proj_size=3, cifg=True)
    assert proj.weight_hh.shape == (12, 3)
    state = jlstm.zero_state(proj, (2,))
    assert state.h.shape == (2, 3) and state.c.shape == (2, 4)
    bf16 = jlstm.init_lstm(jax.random.key(1), 3, 4, param_dtype=jnp.bfloat16, **VARIANTS["all"])
    assert {leaf.dtype for leaf in jax.tree.leaves(bf16)} == {jnp.dtype(jnp.bfloat16)}


def ulp_close(actual, desired):
    # Another loop body may let XLA fuse multiply-adds differently: a few ULP apart.
    np.testing.assert_allclose(actual, desired, rtol=1e-6, atol=1e-7)


def test_zero_peephole_equals_plain():
    params = make(proj_size=2)
    zero_peephole = params._replace(weight_peephole=jnp.zeros((3, 5)))
    xs = jnp.asarray(inputs((3, 6, 3)))
    state = jlstm.zero_state(params, (3,))
    jax.tree.map(
        np.testing.assert_array_equal,  # one step: the same operations, bit for bit
        jlstm.lstm_cell(params, state, xs[:, 0]),
        jlstm.lstm_cell(zero_peephole, state, xs[:, 0]),
    )
    kwargs = {"lengths": np.array([6, 2, 0]), "reverse": True}
    jax.tree.map(
        ulp_close, jlstm.lstm(params, xs, **kwargs), jlstm.lstm(zero_peephole, xs, **kwargs)
    )


def test_variants_off_give_the_plain_program():
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((2, 4, 3)))
    off = {
        "mask": None,
        "resets": None,
        "input_dropout": 0.0,
        "recurrent_dropout": 0.0,
        "zoneout_h": 0.0,
        "zoneout_c": 0.0,
        "key": None,
        "return_gates": False,
    }
    init_off = jlstm.init_lstm(jax.random.key(0), 3, 5, peephole=False, layer_norm=False)
    assert init_off.weight_peephole is None and init_off.layer_norm is None
    default = jax.make_jaxpr(lambda p, x: jlstm.lstm(p, x))(params, xs)
    explicit = jax.make_jaxpr(lambda p, x: jlstm.lstm(p, x, **off))(params, xs)
    assert str(default) == str(explicit)
    jax.tree.map(
        np.testing.assert_array_equal, jlstm.lstm(params, xs), jlstm.lstm(params, xs, **off)
    )
    # Dropout rates in evaluation mode are a no-op: the same program.
    no_key = {"input_dropout": 0.5, "recurrent_dropout": 0.5, "deterministic": True}
    assert str(jax.make_jaxpr(lambda p, x: jlstm.lstm(p, x, **no_key))(params, xs)) == str(default)
    # A key with zero rates changes nothing either.
    key = jax.random.key(0)
    assert str(jax.make_jaxpr(lambda p, x: jlstm.lstm(p, x, key=key))(params, xs)) == str(default)


def _minimal_step(w_ih_t, w_hh_t, bias, w_hr_t, state, x):
    """The textbook step, written out by hand: the plain loop body may hold no more."""
    h, c = state
    z = jnp.matmul(x, w_ih_t, preferred_element_type=jnp.float32)
    z = z + jnp.matmul(h, w_hh_t, preferred_element_type=jnp.float32)
    z = z + bias.reshape(1, -1)
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jnp.matmul(jax.nn.sigmoid(o) * jnp.tanh(c), w_hr_t, preferred_element_type=jnp.float32)
    return h, c


def _primitives(jaxpr):
    return [eqn.primitive.name for eqn in jaxpr.eqns]


@pytest.mark.parametrize("lengths", [False, True])
def test_plain_loop_body_is_the_bare_equations(lengths):
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((2, 4, 3)))
    n = jnp.array([4, 2])

    def minimal(params, xs, n):
        weights = (params.weight_ih.T, params.weight_hh.T, params.bias, params.weight_hr.T)
        state = (jnp.zeros((2, 2)), jnp.zeros((2, 5)))

        def body(state, inputs):
            x, read = inputs
            new = _minimal_step(*weights, state, x)
            if lengths:  # steps that are not read carry the state through
                new = tuple(
                    jnp.where(read.reshape(2, 1), a, b) for a, b in zip(new, state, strict=True)
                )
            return new, new[0]

        return jax.lax.scan(body, state, (jnp.moveaxis(xs, 1, 0), jnp.arange(4)[:, None] < n[None]))

    ours = jax.make_jaxpr(lambda p, x, n: jlstm.lstm(p, x, lengths=n if lengths else None))
    (body,) = loop_bodies(ours(params, xs, n))
    (expected,) = loop_bodies(jax.make_jaxpr(minimal)(params, xs, n))
    print(f"loop body: {len(body.eqns)} equations, hand-written: {len(expected.eqns)}")
    assert sorted(_primitives(body)) == sorted(_primitives(expected))


def test_plain_cell_is_the_bare_equations():
    params = make(proj_size=2)
    state, x = jlstm.zero_state(params, (2,)), jnp.asarray(inputs((2, 3)))

    def minimal(params, state, x):
        weights = (params.weight_ih.T, params.weight_hh.T, params.bias, params.weight_hr.T)
        return _minimal_step(*weights, state, x)

    ours = jax.make_jaxpr(jlstm.lstm_cell)(params, state, x).jaxpr
    expected = jax.make_jaxpr(minimal)(params, state, x).jaxpr
    assert sorted(_primitives(ours)) == sorted(_primitives(expected))


def test_general_path_equals_plain():
    # return_gates takes the general loop with the variant cell; with no variant it runs
    # the same operations as the plain cell.
    params = make(proj_size=2)
    xs = jnp.asarray(inputs((3, 5, 3)))
    lengths = np.array([5, 1, 3])
    for kwargs in ({}, {"lengths": lengths, "reverse": True}):
        state, ys = jlstm.lstm(params, xs, **kwargs)
        state_g, trace = jlstm.lstm(params, xs, return_gates=True, **kwargs)
        ulp_close(ys, trace.h)
        jax.tree.map(ulp_close, state, state_g)
    cell_state = jlstm.zero_state(params, (3,))
    plain = jlstm.lstm_cell(params, cell_state, xs[:, 0])
    state_g, trace = jlstm.lstm_cell(params, cell_state, xs[:, 0], return_gates=True)
    np.testing.assert_array_equal(plain[1], trace.h)
    jax.tree.map(np.testing.assert_array_equal, plain[0], state_g)


def test_compute_dtype_with_variants():
    params = make_variant(**VARIANTS["all"])
    xs = jnp.asarray(inputs((2, 5, 3)))
    state, ys = jlstm.lstm(params, xs, dtype=jnp.bfloat16)
    assert ys.dtype == jnp.bfloat16 and state.c.dtype == jnp.float32
    _, ys32 = jlstm.lstm(params, xs)
    np.testing.assert_allclose(np.float32(ys), ys32, atol=3e-2)


def test_vmap_over_variant_params():
    keys = jax.random.split(jax.random.key(0), 3)
    ensemble = jax.vmap(lambda k: jlstm.init_lstm(k, 3, 4, **VARIANTS["all"]))(keys)
    xs = jnp.asarray(inputs((2, 5, 3)))
    mapped = jax.vmap(lambda p: jlstm.lstm(p, xs)[1])(ensemble)
    single = jlstm.lstm(jax.tree.map(lambda leaf: leaf[1], ensemble), xs)[1]
    np.testing.assert_allclose(mapped[1], single, atol=1e-6)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_check_grads_cell_float64(x64, variant):
    params = make_variant(proj_size=2, dtype=jnp.float64, **VARIANTS[variant])
    h, c, x = (jnp.asarray(inputs((2, n), s, np.float64)) for n, s in [(2, 1), (4, 2), (3, 3)])
    cell = jax.jit(lambda p, h, c, x: jlstm.lstm_cell(p, jlstm.LSTMState(h, c), x))
    check_grads(cell, (params, h, c, x), order=1, modes=("rev",))


def test_check_grads_sequence_float64(x64):
    params = make_variant(proj_size=2, dtype=jnp.float64, **VARIANTS["all"])
    xs = jnp.asarray(inputs((2, 4, 3), dtype=np.float64))

    def loss(params, xs):
        state, ys = jlstm.lstm(params, xs, lengths=np.array([4, 2]))
        return jnp.sum(ys**2) + jnp.sum(jnp.sin(state.c))

    check_grads(jax.jit(loss), (params, xs), order=1, modes=("rev",))


PARAMS = make_variant(**VARIANTS["all"])
XS = jnp.zeros((2, 5, 3), jnp.float32)
BAD_PARAMS = [
    (
        "peephole shape",
        PARAMS._replace(weight_peephole=jnp.zeros((3, 4))),
        LSTMValueError,
        r"`params.weight_peephole` must be of shape \(2, 4\), got shape \(3, 4\)",
    ),
    (
        "peephole int",
        PARAMS._replace(weight_peephole=jnp.zeros((2, 4), jnp.int32)),
        LSTMTypeError,
        r"`params.weight_peephole` .*floating",
    ),
    (
        "layer_norm type",
        PARAMS._replace(layer_norm=(jnp.ones(12),) * 4),
        LSTMTypeError,
        r"`params.layer_norm` must be a jlstm.LayerNorm or None, got tuple",
    ),
    (
        "layer_norm shape",
        PARAMS._replace(layer_norm=PARAMS.layer_norm._replace(scale_hh=jnp.ones(16))),
        LSTMValueError,
        r"`params.layer_norm.scale_hh` must be of shape \(12,\), got shape \(16,\)",
    ),
    (
        "layer_norm dtype",
        PARAMS._replace(
            layer_norm=jax.tree.map(lambda a: a.astype(jnp.float16), PARAMS.layer_norm)
        ),
        LSTMTypeError,
        r"`params` must be all of one dtype",
    ),
    (
        "gate blocks",
        PARAMS._replace(weight_ih=jnp.zeros((10, 3))),
        LSTMValueError,
        r"`params.weight_ih` must be of shape \(4\*hidden_size, input_size\).*CIFG.*\(10, 3\)",
    ),
]


@pytest.mark.parametrize("case, params, error, match", BAD_PARAMS, ids=[c[0] for c in BAD_PARAMS])
def test_rejects_bad_variant_params(case, params, error, match):
    with pytest.raises(error, match=match):
        jax.eval_shape(lambda: jlstm.lstm(params, XS))
    state = jlstm.LSTMState(jnp.zeros((2, 4)), jnp.zeros((2, 4)))
    with pytest.raises(error, match=match):
        jlstm.lstm_cell(params, state, XS[:, 0])
