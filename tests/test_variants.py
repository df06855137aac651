"""Peephole, layer-norm and CIFG cells against the NumPy equations of their papers.

Run with `-s` to see the largest errors.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support import oracle as reference
from support.assertions import check
from support.factories import VARIANTS, inputs, make_variant
from support.layers import jit_cell, jit_lstm

import jlstm

F32 = 2e-6


@pytest.mark.parametrize(
    "variant, proj_size",
    [
        (variant, proj_size)
        if variant == "all"
        else pytest.param(variant, proj_size, marks=pytest.mark.slow)
        for variant in VARIANTS
        for proj_size in (None, 2)
    ],
)
def test_cell_matches_paper_equations(variant, proj_size):
    params = make_variant(proj_size=proj_size, **VARIANTS[variant])
    out = params.weight_hh.shape[1]
    h, c, x = inputs((5, out), 2), inputs((5, 4), 3), inputs((5, 3), 4)
    state, trace = jit_cell(params, jlstm.LSTMState(h, c), x, return_gates=True)
    h_ref, c_ref, gates = reference.variant_cell(params, *map(np.float64, (h, c, x)))
    check(f"{variant} h", state.h, h_ref, F32)
    check(f"{variant} c", state.c, c_ref, F32)
    for name, value in gates.items():
        check(f"{variant} {name}", getattr(trace, name), value, F32)
    if "cifg" in VARIANTS[variant]:
        np.testing.assert_allclose(trace.i, 1 - trace.f, atol=1e-7)


@pytest.mark.parametrize(
    "variant, proj_size, reverse",
    [
        pytest.param("peephole", None, False, marks=pytest.mark.slow),
        pytest.param("layer_norm", 2, True, marks=pytest.mark.slow),
        pytest.param("cifg", None, True, marks=pytest.mark.slow),
        ("all", 2, False),
    ],
)
def test_sequence_matches_paper_equations(variant, proj_size, reverse):
    params = make_variant(proj_size=proj_size, **VARIANTS[variant])
    out = params.weight_hh.shape[1]
    xs, h0, c0 = inputs((4, 6, 3)), inputs((4, out), 5), inputs((4, 4), 6)
    lengths = np.array([6, 3, 0, 1])
    state = jlstm.LSTMState(jnp.asarray(h0), jnp.asarray(c0))
    final, ys = jit_lstm(params, xs, state, lengths=lengths, reverse=reverse)
    h_ref, c_ref, ys_ref, _ = reference.general_sequence(
        params, xs, h0, c0, lengths=lengths, reverse=reverse
    )
    check(f"{variant} ys", ys, ys_ref, F32)
    check(f"{variant} h_n", final.h, h_ref, F32)
    check(f"{variant} c_n", final.c, c_ref, F32)


@pytest.mark.slow
def test_sequence_equals_loop_of_cell():
    params = make_variant(proj_size=2, **VARIANTS["all"])
    xs = jnp.asarray(inputs((2, 5, 3)))
    state = jlstm.zero_state(params, (2,))
    outputs = []
    for t in range(5):
        state, h = jit_cell(params, state, xs[:, t])
        outputs.append(h)
    final, ys = jit_lstm(params, xs)
    np.testing.assert_allclose(ys, jnp.stack(outputs, axis=1), atol=1e-6)
    np.testing.assert_allclose(final.c, state.c, atol=1e-6)


@pytest.mark.slow
def test_compute_dtype_with_variants():
    params = make_variant(**VARIANTS["all"])
    xs = jnp.asarray(inputs((2, 5, 3)))
    state, ys = jit_lstm(params, xs, dtype=jnp.bfloat16)
    assert ys.dtype == jnp.bfloat16 and state.c.dtype == jnp.float32
    _, ys32 = jit_lstm(params, xs)
    np.testing.assert_allclose(np.float32(ys), ys32, atol=3e-2)


@pytest.mark.slow
def test_vmap_over_variant_params():
    keys = jax.random.split(jax.random.key(0), 3)
    ensemble = jax.jit(jax.vmap(lambda k: jlstm.init_lstm(k, 3, 4, **VARIANTS["all"])))(keys)
    xs = inputs((2, 5, 3))
    mapped = jax.jit(jax.vmap(lambda p: jlstm.lstm(p, xs)[1]))(ensemble)
    single = jit_lstm(jax.tree.map(lambda leaf: leaf[1], ensemble), xs)[1]
    np.testing.assert_allclose(mapped[1], single, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["peephole", "all"])  # "all": layer norm and CIFG too
def test_check_grads_cell_float64(x64, variant):
    params = make_variant(proj_size=2, dtype=jnp.float64, **VARIANTS[variant])
    h, c, x = (jnp.asarray(inputs((2, n), s, np.float64)) for n, s in [(2, 1), (4, 2), (3, 3)])
    cell = jax.jit(lambda p, h, c, x: jlstm.lstm_cell(p, jlstm.LSTMState(h, c), x))
    check_grads(cell, (params, h, c, x), order=1, modes=("rev",))


@pytest.mark.slow
def test_check_grads_sequence_float64(x64):
    params = make_variant(proj_size=2, dtype=jnp.float64, **VARIANTS["all"])
    xs = jnp.asarray(inputs((2, 4, 3), dtype=np.float64))

    def loss(params, xs):
        state, ys = jit_lstm(params, xs, lengths=np.array([4, 2]))
        return jnp.sum(ys**2) + jnp.sum(jnp.sin(state.c))

    check_grads(jax.jit(loss), (params, xs), order=1, modes=("rev",))
