"""Framework-free round trips of `jlstm.convert`: jlstm -> X -> jlstm is exact for every X."""

import subprocess
import sys
from typing import NamedTuple

import jax
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from support.assertions import assert_same_tree as assert_same_params

import jlstm
from jlstm import convert


class EquinoxLikeCell(NamedTuple):
    """A pytree with the fields of `equinox.nn.LSTMCell`, for machines without Equinox."""

    weight_ih: np.ndarray
    weight_hh: np.ndarray
    bias: np.ndarray | None


def random_layer(rng, input_size, hidden_size, proj_size=None, bias=True, dtype=np.float32):
    def draw(*shape):
        return rng.normal(size=shape).astype(dtype)

    out_size = proj_size or hidden_size
    return jlstm.LSTMParams(
        weight_ih=draw(4 * hidden_size, input_size),
        weight_hh=draw(4 * hidden_size, out_size),
        bias=draw(4 * hidden_size) if bias else None,
        weight_hr=draw(proj_size, hidden_size) if proj_size else None,
    )


def random_stack(rng, input_size, hidden_size, num_layers, bidirectional, proj_size, bias):
    layers, features = [], input_size
    for _ in range(num_layers):
        directions = [
            random_layer(rng, features, hidden_size, proj_size, bias)
            for _ in range(1 + bidirectional)
        ]
        layers.append(jlstm.Bidirectional(*directions) if bidirectional else directions[0])
        features = (1 + bidirectional) * (proj_size or hidden_size)
    return layers[0] if num_layers == 1 else tuple(layers)


sizes = st.integers(1, 5)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(
    input_size=sizes,
    hidden_size=st.integers(2, 5),
    num_layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    projected=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_stacks_round_trip_exactly(
    input_size, hidden_size, num_layers, bidirectional, projected, bias, seed
):
    rng = np.random.default_rng(seed)
    proj_size = hidden_size - 1 if projected else None
    params = random_stack(rng, input_size, hidden_size, num_layers, bidirectional, proj_size, bias)
    assert_same_params(
        convert.from_torch(convert.to_torch(params)), jax.tree.map(np.asarray, params)
    )
    if proj_size is None:
        assert_same_params(convert.from_keras(convert.to_keras(params)), params)
        if bias:
            cudnn = convert.from_cudnn(
                convert.to_cudnn(params),
                input_size,
                hidden_size,
                num_layers=num_layers,
                bidirectional=bidirectional,
            )
            assert_same_params(cudnn, params)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(input_size=sizes, hidden_size=sizes, bias=st.booleans(), seed=st.integers(0, 2**16))
def test_cells_round_trip_exactly(input_size, hidden_size, bias, seed):
    params = random_layer(np.random.default_rng(seed), input_size, hidden_size, bias=bias)
    assert_same_params(convert.from_torch(convert.to_torch(params, cell=True)), params)
    template = EquinoxLikeCell(*(None if w is None else np.zeros_like(w) for w in params[:3]))
    assert_same_params(convert.from_equinox(convert.to_equinox(params, template)), params)
    with_bias = params if bias else params._replace(bias=np.zeros(4 * hidden_size, np.float32))
    for layout in ("linen", "nnx", "nnx_optimized"):
        assert_same_params(convert.from_flax(convert.to_flax(params, layout=layout)), with_bias)


def test_keras_bidirectional_round_trips_as_one_layer():
    params = random_stack(np.random.default_rng(0), 3, 4, 1, True, None, True)
    weights = convert.to_keras(params)
    assert [w.shape for w in weights] == [(3, 16), (4, 16), (16,)] * 2
    assert_same_params(convert.from_keras(weights), params)


def test_every_converter_returns_one_structure_for_one_model():
    rng = np.random.default_rng(2)
    for num_layers, bidirectional in [(1, False), (1, True), (2, True), (2, False)]:
        params = random_stack(rng, 3, 4, num_layers, bidirectional, None, True)
        expected = jlstm.Bidirectional if bidirectional else jlstm.LSTMParams
        sizes = dict(num_layers=num_layers, bidirectional=bidirectional)
        converted = {
            "torch": convert.from_torch(convert.to_torch(params)),
            "keras": convert.from_keras(convert.to_keras(params)),
            "cudnn": convert.from_cudnn(convert.to_cudnn(params), 3, 4, **sizes),
        }
        for name, back in converted.items():
            assert isinstance(back, expected if num_layers == 1 else tuple), (name, sizes)
            assert_same_params(back, params)


def test_exports_are_writable_copies():
    params = random_layer(np.random.default_rng(0), 3, 2)
    exported = convert.to_torch(params)
    assert all(v.flags.writeable for v in exported.values())
    exported["weight_ih_l0"][...] = 0
    assert np.any(params.weight_ih)


def test_float64_and_bfloat16_keep_their_dtype(x64):
    for dtype in (np.float64, jax.numpy.bfloat16):
        params = jax.tree.map(
            lambda w, d=dtype: np.asarray(w).astype(d), random_layer(np.random.default_rng(1), 3, 2)
        )
        assert_same_params(convert.from_torch(convert.to_torch(params)), params)
        assert_same_params(convert.from_flax(convert.to_flax(params)), params)


def test_import_pulls_in_no_framework():
    code = (
        "import sys, jlstm.convert; heavy = {'flax', 'torch', 'keras', 'equinox', 'tensorflow'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
