"""`jlstm.convert` rejects bad weights with messages that name the key and both shapes."""

from typing import NamedTuple

import jax
import numpy as np
import pytest

import jlstm
from jlstm import convert


def zeros(*shape, dtype=np.float32):
    return np.zeros(shape, dtype)


def torch_layer(suffix="_l0", input_size=3, hidden=2, bias=True):
    state_dict = {
        f"weight_ih{suffix}": zeros(4 * hidden, input_size),
        f"weight_hh{suffix}": zeros(4 * hidden, hidden),
    }
    if bias:
        state_dict |= {f"bias_ih{suffix}": zeros(4 * hidden), f"bias_hh{suffix}": zeros(4 * hidden)}
    return state_dict


def layer(input_size=3, hidden=2, **kwargs):
    return jlstm.init_lstm(jax.random.key(0), input_size, hidden, **kwargs)


class Cell(NamedTuple):
    """A pytree with the fields of `equinox.nn.LSTMCell`."""

    weight_ih: np.ndarray
    weight_hh: np.ndarray
    bias: np.ndarray | None


def flax_params(input_size=3, hidden=2):
    params = {f"i{g}": {"kernel": zeros(input_size, hidden)} for g in "ifgo"}
    return params | {
        f"h{g}": {"kernel": zeros(hidden, hidden), "bias": zeros(hidden)} for g in "ifgo"
    }


@pytest.mark.parametrize(
    ("state_dict", "kind", "match"),
    [
        pytest.param(
            torch_layer() | {"weight_ih_l1": zeros(8, 2)},
            jlstm.LSTMValueError,
            r"`state_dict` must be a state dict with the key 'weight_hh_l1'"
            r", got only .*'weight_ih_l1'",
            id="missing-key",
        ),
        pytest.param(
            torch_layer() | {"foo": zeros(1)},
            jlstm.LSTMValueError,
            r"convert\.from_torch: `state_dict` must be a torch\.nn\.LSTM .*"
            r" got the key 'foo'\. .*prefix=",
            id="extra-key",
        ),
        pytest.param(
            torch_layer() | {"bias_hh_l0": zeros(7)},
            jlstm.LSTMValueError,
            r"`state_dict\['bias_hh_l0'\]` must be of shape \(8,\), got shape \(7,\)",
            id="wrong-bias-shape",
        ),
        pytest.param(
            torch_layer() | {"weight_hh_l0": zeros(8, 3)},
            jlstm.LSTMValueError,
            r"`state_dict\['weight_hh_l0'\]` must be of shape \(8, 2\), got shape \(8, 3\)",
            id="wrong-weight-shape",
        ),
        pytest.param(
            torch_layer() | {"weight_ih_l0": zeros(7, 3)},
            jlstm.LSTMValueError,
            r"`state_dict\['weight_ih_l0'\]` must be of shape"
            r" \(4\*hidden_size, input_size\) with 4 equal",
            id="rows-not-4-gates",
        ),
        pytest.param(
            {k: v for k, v in torch_layer().items() if k != "bias_hh_l0"},
            jlstm.LSTMValueError,
            r"with the key 'bias_hh_l0'",
            id="one-bias-only",
        ),
        pytest.param(
            torch_layer() | torch_layer("_l1_reverse", 4, 2),
            jlstm.LSTMValueError,
            r"the key 'weight_ih_l0_reverse'",
            id="missing-reverse",
        ),
        pytest.param(
            torch_layer("") | torch_layer(),
            jlstm.LSTMValueError,
            r"got the key 'bias_hh'\. nn\.LSTM keys end in _l\{k\}",
            id="cell-and-lstm-keys",
        ),
        pytest.param(
            torch_layer() | {"weight_hh_l0": zeros(8, 2, dtype=np.int32)},
            jlstm.LSTMTypeError,
            r"`state_dict\['weight_hh_l0'\]` must be a real floating-point array, got dtype int32",
            id="int-dtype",
        ),
        pytest.param(
            [], jlstm.LSTMTypeError, r"`state_dict` must be a mapping", id="not-a-mapping"
        ),
        pytest.param({}, jlstm.LSTMValueError, r"a state dict with keys, got none", id="empty"),
    ],
)
def test_from_torch_errors(state_dict, kind, match):
    with pytest.raises(kind, match=match):
        convert.from_torch(state_dict)


def test_from_torch_prefix_without_matches():
    with pytest.raises(jlstm.LSTMValueError, match=r"keys starting with 'encoder\.', got none"):
        convert.from_torch(torch_layer(), prefix="encoder.")


@pytest.mark.parametrize(
    ("params", "kwargs", "kind", "match"),
    [
        pytest.param(
            (layer(), layer(2, 2, bias=False)),
            {},
            jlstm.LSTMValueError,
            r"`params\[1\]` must be alike to params\[0\]",
            id="mixed-bias",
        ),
        pytest.param(
            (jlstm.Bidirectional(layer(), layer()), layer(4, 2)),
            {},
            jlstm.LSTMValueError,
            r"`params\[1\]` must be alike",
            id="mixed-directions",
        ),
        pytest.param(
            layer(hidden=3, proj_size=2),
            {"cell": True},
            jlstm.LSTMValueError,
            r"`params\.weight_hr` must be None \(torch\.nn\.LSTMCell has no projection\)",
            id="cell-projection",
        ),
        pytest.param(
            (layer(), layer(2, 2)),
            {"cell": True},
            jlstm.LSTMValueError,
            r"one LSTMParams for cell=True, got 2 layer",
            id="cell-stack",
        ),
        pytest.param(
            [layer()], {}, jlstm.LSTMTypeError, r"`params` must be an LSTMParams", id="list"
        ),
        pytest.param((), {}, jlstm.LSTMTypeError, r"non-empty tuple of them, got \(\)", id="empty"),
        pytest.param(
            (layer(), "x"),
            {},
            jlstm.LSTMTypeError,
            r"`params\[1\]` must be an LSTMParams",
            id="item",
        ),
        pytest.param(
            layer()._replace(weight_hh=zeros(8, 3)),
            {},
            jlstm.LSTMValueError,
            r"`params\.weight_ih` must be of shape \(12, input_size\), got shape \(8, 3\)",
            id="inconsistent-shapes",
        ),
    ],
)
def test_to_torch_errors(params, kwargs, kind, match):
    with pytest.raises(kind, match=match):
        convert.to_torch(params, **kwargs)


def test_variants_are_not_exported():
    peephole = layer(peephole=True)
    with pytest.raises(jlstm.LSTMValueError, match=r"`params\.weight_peephole` must be None"):
        convert.to_torch(peephole)
    cifg = layer(hidden=4, cifg=True)
    with pytest.raises(
        jlstm.LSTMValueError, match=r"CIFG layer \(3 gate blocks\) has no counterpart"
    ):
        convert.to_keras(cifg)


@pytest.mark.parametrize(
    ("weights", "kind", "match"),
    [
        pytest.param(
            [zeros(3, 8)] * 5, jlstm.LSTMValueError, r"2 or 3 arrays .* got 5 arrays", id="count"
        ),
        pytest.param(
            [zeros(3, 8), zeros(2, 8), zeros(6)],
            jlstm.LSTMValueError,
            r"`weights\[2\] \(bias\)` must be of shape \(8,\), got shape \(6,\)",
            id="bias-shape",
        ),
        pytest.param(
            [zeros(3, 6), zeros(2, 8)],
            jlstm.LSTMValueError,
            r"`weights\[0\] \(kernel\)` must be of shape \(input_size, 8\), got shape \(3, 6\)",
            id="kernel-shape",
        ),
        pytest.param(
            [zeros(3, 8), zeros(2, 8), zeros(3, 8), zeros(3, 8)],
            jlstm.LSTMValueError,
            r"`weights\[3\] \(recurrent_kernel\)` must be of shape \(2, 8\), got shape \(3, 8\)",
            id="backward-recurrent",
        ),
        pytest.param(zeros(3, 8), jlstm.LSTMTypeError, r"a list of arrays", id="not-a-list"),
    ],
)
def test_from_keras_errors(weights, kind, match):
    with pytest.raises(kind, match=match):
        convert.from_keras(weights)


def test_to_keras_errors():
    with pytest.raises(jlstm.LSTMValueError, match=r"Keras' LSTM has no projection"):
        convert.to_keras(layer(hidden=3, proj_size=2))
    with pytest.raises(jlstm.LSTMValueError, match=r"`params\.backward\.bias` must be set exactly"):
        convert.to_keras(jlstm.Bidirectional(layer(), layer(bias=False)))


@pytest.mark.parametrize(
    ("edit", "kind", "match"),
    [
        pytest.param(
            lambda p: {k: v for k, v in p.items() if k != "hf"},
            jlstm.LSTMValueError,
            r"`variables\['params'\]` must be a mapping with the key 'hf'",
            id="missing-block",
        ),
        pytest.param(
            lambda p: p | {"foo": {}},
            jlstm.LSTMValueError,
            r"with only the keys .* got the extra key 'foo'",
            id="extra-block",
        ),
        pytest.param(
            lambda p: p | {"hg": {"kernel": zeros(2, 2), "bias": zeros(3)}},
            jlstm.LSTMValueError,
            r"`variables\['params'\]\['hg'\]\['bias'\]` must be of shape \(2,\), got shape \(3,\)",
            id="bias-shape",
        ),
        pytest.param(
            lambda p: p | {"io": {"kernel": zeros(4, 2)}},
            jlstm.LSTMValueError,
            r"`variables\['params'\]\['io'\]\['kernel'\]` must be of shape \(3, 2\)",
            id="kernel-shape",
        ),
        pytest.param(
            lambda p: p | {"hi": {"kernel": zeros(2, 2)}},
            jlstm.LSTMValueError,
            r"`variables\['params'\]\['hi'\]` must be a mapping with the key 'bias'",
            id="missing-bias",
        ),
        pytest.param(
            lambda p: p | {"ii": zeros(3, 2)},
            jlstm.LSTMTypeError,
            r"`variables\['params'\]\['ii'\]` must be a mapping",
            id="not-a-block",
        ),
    ],
)
def test_from_flax_errors(edit, kind, match):
    with pytest.raises(kind, match=match):
        convert.from_flax({"params": edit(flax_params())})


def test_from_flax_fused_errors():
    fused = {
        "dense_i": {"kernel": zeros(3, 8)},
        "dense_h": {"kernel": zeros(2, 8), "bias": zeros(8)},
    }
    with pytest.raises(jlstm.LSTMValueError, match=r"`variables\['dense_i'\]\['kernel'\]` must be"):
        convert.from_flax(fused | {"dense_i": {"kernel": zeros(3, 4)}})
    with pytest.raises(jlstm.LSTMValueError, match=r"with the key 'dense_i'"):
        convert.from_flax({"dense_h": fused["dense_h"]})


def test_to_flax_and_state_errors():
    with pytest.raises(jlstm.LSTMValueError, match=r"`layout` must be one of 'linen', 'nnx'"):
        convert.to_flax(layer(), layout="haiku")
    with pytest.raises(jlstm.LSTMValueError, match=r"Flax's LSTMCell has no projection"):
        convert.to_flax(layer(hidden=3, proj_size=2))
    with pytest.raises(jlstm.LSTMTypeError, match=r"`params` must be an LSTMParams, got tuple"):
        convert.to_flax((layer(),))
    with pytest.raises(jlstm.LSTMTypeError, match=r"`carry` must be a Flax carry \(c, h\)"):
        convert.state_from_flax(zeros(2))
    with pytest.raises(
        jlstm.LSTMTypeError, match=r"`state` must be an LSTMState\(h=\.\.\., c=\.\.\.\), got tuple"
    ):
        convert.state_to_flax((zeros(2), zeros(2)))


def test_equinox_errors():
    cell = Cell(zeros(8, 3), zeros(8, 2), zeros(8))
    with pytest.raises(jlstm.LSTMTypeError, match=r"`cell` must be an equinox\.nn\.LSTMCell"):
        convert.from_equinox(object())
    with pytest.raises(jlstm.LSTMValueError, match=r"`cell\.bias` must be of shape \(8,\)"):
        convert.from_equinox(cell._replace(bias=zeros(4)))
    with pytest.raises(
        jlstm.LSTMValueError, match=r"`params\.weight_ih` must be of shape \(8, 3\)"
    ):
        convert.to_equinox(layer(input_size=4), cell)
    with pytest.raises(jlstm.LSTMValueError, match=r"use_bias=True"):
        convert.to_equinox(layer(), cell._replace(bias=None))
    with pytest.raises(jlstm.LSTMValueError, match=r"equinox\.nn\.LSTMCell has no projection"):
        convert.to_equinox(layer(hidden=3, proj_size=2), cell)

    class NotAPytree:
        weight_ih, weight_hh, bias = cell

    with pytest.raises(jlstm.LSTMTypeError, match=r"`cell` must be a pytree with the leaves"):
        convert.to_equinox(layer(), NotAPytree())


def test_cudnn_errors():
    with pytest.raises(
        jlstm.LSTMValueError, match=r"`weights` must be of shape \(56,\) for input_size=3"
    ):
        convert.from_cudnn(zeros(55), 3, 2)
    with pytest.raises(jlstm.LSTMValueError, match=r"`num_layers` must be a positive int, got 0"):
        convert.from_cudnn(zeros(56), 3, 2, num_layers=0)
    with pytest.raises(jlstm.LSTMValueError, match=r"cuDNN's LSTM has no projection"):
        convert.to_cudnn(layer(hidden=3, proj_size=2))
    with pytest.raises(jlstm.LSTMValueError, match=r"`params\[1\]\.weight_hh` .* one hidden_size"):
        convert.to_cudnn((layer(), layer(2, 3)))
    with pytest.raises(jlstm.LSTMValueError, match=r"`params\[1\]\.weight_ih` .* previous layer's"):
        convert.to_cudnn((layer(), layer(5, 2)))
    with pytest.raises(jlstm.LSTMValueError, match=r"`params\[1\]` must be a Bidirectional"):
        convert.to_cudnn((jlstm.Bidirectional(layer(), layer()), layer(4, 2)))
