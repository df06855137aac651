"""Framework-free round trips of `jlstm.convert`: jlstm -> X -> jlstm is exact for every X."""

import subprocess
import sys

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.assertions import assert_same_tree
from support.convert import EquinoxLikeCell, random_params, random_stack

import jlstm
from jlstm import convert

LAYOUTS = ("linen", "nnx", "nnx_optimized")


def cudnn_round_trip(params, input_size, hidden_size, num_layers, bidirectional):
    vector = convert.to_cudnn(params)
    sizes = dict(num_layers=num_layers, bidirectional=bidirectional)
    return convert.from_cudnn(vector, input_size, hidden_size, **sizes)


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(
    input_size=st.integers(1, 5),
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
    proj_size = hidden_size - 1 if projected else None
    sizes = (input_size, hidden_size, num_layers, bidirectional)
    params = random_stack(seed, *sizes, proj_size=proj_size, bias=bias)
    assert_same_tree(convert.from_torch(convert.to_torch(params)), params)
    if proj_size is None:
        assert_same_tree(convert.from_keras(convert.to_keras(params)), params)
        if bias:  # cuDNN always has biases: without, they come back as zeros
            assert_same_tree(cudnn_round_trip(params, *sizes), params)


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(input_size=st.integers(1, 5), hidden_size=st.integers(1, 5), bias=st.booleans())
def test_cells_round_trip_exactly(input_size, hidden_size, bias):
    params = random_params(input_size + 7 * hidden_size, input_size, hidden_size, bias=bias)
    assert_same_tree(convert.from_torch(convert.to_torch(params, cell=True)), params)
    template = EquinoxLikeCell(*(None if w is None else np.zeros_like(w) for w in params[:3]))
    assert_same_tree(convert.from_equinox(convert.to_equinox(params, template)), params)
    # Flax always has a bias: params without one come back with zeros.
    with_bias = params if bias else params._replace(bias=np.zeros(4 * hidden_size, np.float32))
    for layout in LAYOUTS:
        assert_same_tree(convert.from_flax(convert.to_flax(params, layout=layout)), with_bias)


@pytest.mark.parametrize(
    ("num_layers", "bidirectional"),
    [(1, False), (1, True), (2, True), (2, False)],
    ids=["layer", "bidirectional", "bidirectional-stack", "stack"],
)
def test_every_converter_returns_one_structure_for_one_model(num_layers, bidirectional):
    params = random_stack(2, 3, 4, num_layers, bidirectional)
    expected = jlstm.Bidirectional if bidirectional else jlstm.LSTMParams
    converted = {
        "torch": convert.from_torch(convert.to_torch(params)),
        "keras": convert.from_keras(convert.to_keras(params)),
        "cudnn": cudnn_round_trip(params, 3, 4, num_layers, bidirectional),
    }
    for name, back in converted.items():
        assert isinstance(back, expected if num_layers == 1 else tuple), name
        assert_same_tree(back, params)


def test_keras_lists_say_how_many_layers_they_hold():
    params = random_stack(0, 3, 4, 1, True)
    weights = convert.to_keras(params)
    assert [w.shape for w in weights] == [(3, 16), (4, 16), (16,)] * 2
    assert_same_tree(convert.from_keras(weights), params)
    one_layer_stack = convert.to_keras((params,))  # a list of lists reads as a stack
    assert len(one_layer_stack) == 1 and isinstance(one_layer_stack[0], list)
    assert_same_tree(convert.from_keras(one_layer_stack), (params,))


def test_layouts_of_each_format():
    params = random_params(3, 3, 2, bias=False)
    torch_keys = ["weight_ih_l0", "weight_hh_l0"]
    assert list(convert.to_torch(params)) == torch_keys
    assert list(convert.to_torch(params, cell=True)) == ["weight_ih", "weight_hh"]
    kernel, recurrent_kernel = convert.to_keras(params)
    np.testing.assert_array_equal(kernel, params.weight_ih.T)
    np.testing.assert_array_equal(recurrent_kernel, params.weight_hh.T)
    assert kernel.flags.c_contiguous
    linen = convert.to_flax(params)["params"]
    np.testing.assert_array_equal(linen["if"]["kernel"], params.weight_ih[2:4].T)
    nnx = convert.to_flax(params, layout="nnx")
    np.testing.assert_array_equal(nnx["if_"]["kernel"], params.weight_ih[2:4].T)
    np.testing.assert_array_equal(nnx["hg"]["bias"], np.zeros(2))
    fused = convert.to_flax(params, layout="nnx_optimized")
    np.testing.assert_array_equal(fused["dense_h"]["kernel"], params.weight_hh.T)
    vector = convert.to_cudnn(params)  # W_ih, W_hh, then b_ih, b_hh
    np.testing.assert_array_equal(vector[:24], np.ravel(params.weight_ih))
    np.testing.assert_array_equal(vector[40:], np.zeros(16))


def test_bias_pairs_are_imported_as_their_sum():
    state_dict = convert.to_torch(random_params(4, 3, 2))
    bias_hh = np.arange(8, dtype=np.float32)
    state_dict["bias_hh_l0"] = bias_hh
    params = convert.from_torch(state_dict)
    np.testing.assert_array_equal(params.bias, state_dict["bias_ih_l0"] + bias_hh)
    again = convert.to_torch(params)  # the one lossy step: the sum and zeros
    np.testing.assert_array_equal(again["bias_ih_l0"], params.bias)
    np.testing.assert_array_equal(again["bias_hh_l0"], np.zeros(8))


def test_exports_are_writable_copies():
    params = random_params(0, 3, 2)
    exported = convert.to_torch(params)
    assert all(v.flags.writeable for v in exported.values())
    exported["weight_ih_l0"][...] = 0
    assert np.any(params.weight_ih)


def test_imports_are_copies():
    state_dict = convert.to_torch(random_params(1, 3, 2))
    params = convert.from_torch(state_dict)
    state_dict["weight_ih_l0"][...] = 0  # a torch tensor trained in place, say
    assert np.any(params.weight_ih)


def test_float64_and_bfloat16_keep_their_dtype(x64):
    for dtype in (np.float64, jax.numpy.bfloat16):
        params = random_params(1, 3, 2, dtype=dtype)
        assert_same_tree(convert.from_torch(convert.to_torch(params)), params)
        assert_same_tree(convert.from_flax(convert.to_flax(params)), params)


def test_nested_state_dicts_are_selected_by_prefix():
    inner = convert.to_torch(random_stack(5, 3, 2, 2))
    outer = {f"encoder.lstm.{k}": v for k, v in inner.items()} | {"head.weight": np.zeros(3)}
    assert_same_tree(convert.from_torch(outer, prefix="encoder.lstm."), convert.from_torch(inner))


@pytest.mark.slow
def test_import_pulls_in_no_framework():
    code = (
        "import sys, jlstm.convert; heavy = {'flax', 'torch', 'keras', 'equinox', 'tensorflow'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
