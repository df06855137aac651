"""The bad-input cases of `jlstm.convert`: foreign weights and states, and params to export."""

from __future__ import annotations

import numpy as np

from jlstm import Bidirectional, LSTMParams, LSTMState, convert
from support.bad_inputs.common import BARE, CARRY, PAIR, PARAMS, PROJ, UNI_STACK, Case, T, V
from support.convert import (
    EquinoxLikeCell,
    flax_params,
    fused_flax_params,
    random_params,
    torch_layer,
    zeros,
)


def layer(input_size=3, hidden=2, proj_size=None, bias=True):
    return random_params(0, input_size, hidden, proj_size, bias=bias)


def torch_case(name, arg, kind, match, state_dict, prefix=""):
    return Case(
        f"from-torch-{name}",
        "convert.from_torch",
        arg,
        kind,
        match,
        lambda: convert.from_torch(state_dict, prefix=prefix),
    )


def to_torch_case(name, arg, kind, match, params, cell=False):
    return Case(
        f"to-torch-{name}",
        "convert.to_torch",
        arg,
        kind,
        match,
        lambda: convert.to_torch(params, cell=cell),
    )


def flax_case(name, arg, kind, match, variables):
    return Case(
        f"from-flax-{name}",
        "convert.from_flax",
        arg,
        kind,
        match,
        lambda: convert.from_flax(variables),
    )


class NotAPytree:
    """An object with a cell's attributes that is no pytree of them."""

    weight_ih, weight_hh, bias = zeros(8, 3), zeros(8, 2), zeros(8)


# Params are built here, not in the calls: `jnp.asarray` under `jax.eval_shape` gives tracers.
ONE, NO_BIAS, TWO_BY_3, FROM_4, FROM_5 = layer(), layer(bias=False), layer(2, 3), layer(4), layer(5)
LSTMP = layer(hidden=3, proj_size=2)
CELL = EquinoxLikeCell(zeros(8, 3), zeros(8, 2), zeros(8))
CIFG = LSTMParams(zeros(12, 3), zeros(12, 4), zeros(12))  # 3 gate blocks of hidden_size 4
FLAX = flax_params()
GOOD = torch_layer()

CASES = [
    torch_case("not-a-mapping", "state_dict", T, r"a mapping, got list", []),
    torch_case("empty", "state_dict", V, r"a state dict with keys, got an empty state dict\.", {}),
    torch_case("prefix", "state_dict", V,
               r"keys starting with 'encoder\.', got no key starting with 'encoder\.'\.", GOOD,
               "encoder."),
    torch_case("missing-key", "state_dict", V,
               r"with the key 'weight_hh_l1', got only .*'weight_ih_l1'",
               GOOD | {"weight_ih_l1": zeros(8, 2)}),
    torch_case("one-bias", "state_dict", V, r"with the key 'bias_hh_l0'",
               {k: v for k, v in GOOD.items() if k != "bias_hh_l0"}),
    torch_case("missing-reverse", "state_dict", V, r"the key 'weight_ih_l0_reverse'",
               GOOD | torch_layer("_l1_reverse", 4, 2)),
    torch_case("extra-key", "state_dict", V, r"torch\.nn\.LSTM .* got the key 'foo'\. .*prefix=",
               GOOD | {"foo": zeros(1)}),
    torch_case("cell-and-lstm-keys", "state_dict", V,
               r"got the key 'bias_hh'\. torch\.nn\.LSTM keys end in _l\{k\}",
               torch_layer("") | GOOD),
    torch_case("bias-shape", "state_dict['bias_hh_l0']", V, r"\(8,\), got shape \(7,\)",
               GOOD | {"bias_hh_l0": zeros(7)}),
    torch_case("weight-shape", "state_dict['weight_hh_l0']", V, r"\(8, 2\), got shape \(8, 3\)",
               GOOD | {"weight_hh_l0": zeros(8, 3)}),
    torch_case("gate-rows", "state_dict['weight_ih_l0']", V,
               r"\(4\*hidden_size, input_size\) with 4 equal gate blocks on axis 0",
               GOOD | {"weight_ih_l0": zeros(7, 3)}),
    torch_case("int-dtype", "state_dict['weight_hh_l0']", T, r"got dtype int32",
               GOOD | {"weight_hh_l0": zeros(8, 2, dtype=np.int32)}),
    torch_case("none", "state_dict['weight_hh_l0']", T, r"an array, got None",
               GOOD | {"weight_hh_l0": None}),
    to_torch_case("dict", "params", T, r"got dict", {"weight_ih": PARAMS.weight_ih}),
    to_torch_case("list", "params", T, r"non-empty tuple of them, got list", [ONE]),
    to_torch_case("empty", "params", T, r"non-empty tuple of them, got \(\)", ()),
    to_torch_case("item", "params[1]", T, r"an LSTMParams or a Bidirectional, got str",
                  (ONE, "x")),
    to_torch_case("inconsistent-shapes", "params.weight_ih", V,
                  r"\(12, input_size\), got shape \(8, 3\)",
                  ONE._replace(weight_hh=zeros(8, 3))),
    to_torch_case("peephole", "params.weight_peephole", V, r"None \(the plain LSTM",
                  PARAMS._replace(weight_peephole=zeros(3, 4))),
    to_torch_case("mixed-bias", "params[1]", V, r"alike to params\[0\]",
                  (ONE, layer(2, bias=False))),
    to_torch_case("mixed-directions", "params[1]", T,
                  r"a Bidirectional, got an LSTMParams\. torch\.nn\.LSTM runs all layers",
                  (Bidirectional(ONE, ONE), FROM_4)),
    to_torch_case("cell-flag", "cell", T, r"a Python bool, got 'yes'", ONE, "yes"),
    to_torch_case("cell-stack", "params", T, r"got tuple\. torch\.nn\.LSTMCell holds one layer",
                  (ONE, layer(2)), True),
    to_torch_case("cell-projection", "params.weight_hr", V, r"torch\.nn\.LSTMCell has no proj",
                  LSTMP, True),
    Case("from-keras-not-a-list", "convert.from_keras", "weights", T, r"a list of arrays",
         lambda: convert.from_keras(zeros(3, 8))),
    Case("from-keras-none", "convert.from_keras", "weights[0] (kernel)", T, r"an array, got None",
         lambda: convert.from_keras([None, zeros(2, 8)])),
    Case("from-keras-count", "convert.from_keras", "weights", V,
         r"2 or 3 arrays \(LSTM: kernel, recurrent_kernel, bias\) or 4 or 6 .*got 5 arrays",
         lambda: convert.from_keras([zeros(3, 16)] * 5)),
    Case("from-keras-shape", "convert.from_keras", r"weights[1] (recurrent_kernel)", V,
         r"\(4, 16\), got shape \(5, 16\)",
         lambda: convert.from_keras([np.zeros((3, 16)), np.zeros((5, 16)), np.zeros(16)])),
    Case("from-keras-gate-columns", "convert.from_keras", "weights[1] (recurrent_kernel)", V,
         r"\(units, 4\*units\) with 4 equal gate blocks on axis 1",
         lambda: convert.from_keras([zeros(3, 6), zeros(2, 6)])),
    Case("from-keras-kernel", "convert.from_keras", "weights[0] (kernel)", V,
         r"\(input_size, 8\), got shape \(3, 6\)",
         lambda: convert.from_keras([zeros(3, 6), zeros(2, 8)])),
    Case("from-keras-bias", "convert.from_keras", "weights[2] (bias)", V,
         r"\(8,\), got shape \(6,\)",
         lambda: convert.from_keras([zeros(3, 8), zeros(2, 8), zeros(6)])),
    Case("from-keras-backward", "convert.from_keras", "weights[3] (recurrent_kernel)", V,
         r"\(2, 8\), got shape \(3, 8\)",
         lambda: convert.from_keras([zeros(3, 8), zeros(2, 8), zeros(3, 8), zeros(3, 8)])),
    Case("from-keras-stack-item", "convert.from_keras", "weights[1]", V, r"got 1 arrays",
         lambda: convert.from_keras([[zeros(3, 8), zeros(2, 8)], [zeros(2, 8)]])),
    Case("to-keras-projection", "convert.to_keras", "params.weight_hr", V,
         r"Keras' LSTM has no projection", lambda: convert.to_keras(PROJ)),
    Case("to-keras-cifg", "convert.to_keras", "params.weight_ih", V,
         r"CIFG layer \(3 gate blocks\) has no counterpart", lambda: convert.to_keras(CIFG)),
    Case("to-keras-backward-bias", "convert.to_keras", "params.backward.bias", V,
         r"set exactly when forward\.bias is",
         lambda: convert.to_keras(Bidirectional(ONE, NO_BIAS))),
    flax_case("not-a-mapping", "variables", T, r"a mapping of Flax params, got list", []),
    flax_case("missing-block", "variables['params']", V, r"a mapping with the key 'hf'",
              {"params": {k: v for k, v in FLAX.items() if k != "hf"}}),
    flax_case("extra-block", "variables['params']", V, r"only the keys .* got the extra key 'foo'",
              {"params": FLAX | {"foo": {}}}),
    flax_case("not-a-block", "variables['params']['ii']", T, r"a mapping of Flax params, got",
              {"params": FLAX | {"ii": zeros(3, 2)}}),
    flax_case("missing-bias", "variables['params']['hi']", V, r"a mapping with the key 'bias'",
              {"params": FLAX | {"hi": {"kernel": zeros(2, 2)}}}),
    flax_case("bias-shape", "variables['params']['hg']['bias']", V, r"\(2,\), got shape \(3,\)",
              {"params": FLAX | {"hg": {"kernel": zeros(2, 2), "bias": zeros(3)}}}),
    flax_case("kernel-shape", "variables['params']['io']['kernel']", V,
              r"\(3, 2\), got shape \(4, 2\)", {"params": FLAX | {"io": {"kernel": zeros(4, 2)}}}),
    flax_case("fused-kernel", "variables['dense_i']['kernel']", V,
              r"\(input_size, 8\), got shape \(3, 4\)",
              fused_flax_params() | {"dense_i": {"kernel": zeros(3, 4)}}),
    flax_case("fused-missing", "variables", V, r"a mapping with the key 'dense_i'",
              {"dense_h": fused_flax_params()["dense_h"]}),
    Case("to-flax-layout", "convert.to_flax", "layout", V, r"one of 'linen', 'nnx', .* 'haiku'",
         lambda: convert.to_flax(ONE, layout="haiku")),
    Case("to-flax-projection", "convert.to_flax", "params.weight_hr", V,
         r"Flax's LSTMCell has no projection", lambda: convert.to_flax(PROJ)),
    Case("to-flax-stack", "convert.to_flax", "params", T, r"an LSTMParams, got tuple",
         lambda: convert.to_flax((ONE,))),
    Case("state-from-flax", "convert.state_from_flax", "carry", T, r"\(c, h\), got ndarray",
         lambda: convert.state_from_flax(np.zeros(3, np.float32))),
    Case("state-to-flax-tuple", "convert.state_to_flax", "state", T, BARE,
         lambda: convert.state_to_flax(CARRY)),
    Case("from-equinox-object", "convert.from_equinox", "cell", T,
         r"an equinox\.nn\.LSTMCell \(with a `weight_ih` field\), got object",
         lambda: convert.from_equinox(object())),
    Case("from-equinox-bias", "convert.from_equinox", "cell.bias", V, r"\(8,\), got shape \(4,\)",
         lambda: convert.from_equinox(CELL._replace(bias=zeros(4)))),
    Case("to-equinox-object", "convert.to_equinox", "cell", T, r"an equinox\.nn\.LSTMCell",
         lambda: convert.to_equinox(ONE, object())),
    Case("to-equinox-sizes", "convert.to_equinox", "params.weight_ih", V,
         r"\(8, 3\), got shape \(8, 4\)", lambda: convert.to_equinox(FROM_4, CELL)),
    Case("to-equinox-bias", "convert.to_equinox", "params.bias", V,
         r"None for a cell without bias, .*use_bias=True",
         lambda: convert.to_equinox(ONE, CELL._replace(bias=None))),
    Case("to-equinox-projection", "convert.to_equinox", "params.weight_hr", V,
         r"equinox\.nn\.LSTMCell has no projection",
         lambda: convert.to_equinox(LSTMP, CELL)),
    Case("to-equinox-not-a-pytree", "convert.to_equinox", "cell", T, r"a pytree with the leaves",
         lambda: convert.to_equinox(ONE, NotAPytree())),
    Case("from-cudnn-size", "convert.from_cudnn", "weights", V,
         r"\(144,\) for input_size=3, hidden_size=4.*got shape \(10,\)",
         lambda: convert.from_cudnn(np.zeros(10, np.float32), 3, 4)),
    Case("from-cudnn-layers", "convert.from_cudnn", "num_layers", V, r"a positive int, got 0",
         lambda: convert.from_cudnn(zeros(56), 3, 2, num_layers=0)),
    Case("from-cudnn-flag", "convert.from_cudnn", "bidirectional", T, r"a Python bool, got 1",
         lambda: convert.from_cudnn(zeros(56), 3, 2, bidirectional=1)),
    Case("to-cudnn-projection", "convert.to_cudnn", "params.weight_hr", V,
         r"cuDNN's LSTM has no projection", lambda: convert.to_cudnn(PROJ)),
    Case("to-cudnn-hidden", "convert.to_cudnn", "params[1].weight_hh", V,
         r"\(8, 2\), got shape \(12, 3\)\. cuDNN's LSTM has one hidden_size",
         lambda: convert.to_cudnn((ONE, TWO_BY_3))),
    Case("to-cudnn-chained", "convert.to_cudnn", "params[1].weight_ih", V,
         r"\(8, 2\), got shape \(8, 5\)\. Layers after the first read the previous",
         lambda: convert.to_cudnn((ONE, FROM_5))),
    Case("to-cudnn-directions", "convert.to_cudnn", "params[1]", T,
         r"a Bidirectional, got an LSTMParams\. cuDNN's LSTM runs all layers bidirectional",
         lambda: convert.to_cudnn((Bidirectional(ONE, ONE), FROM_4))),
    Case("from-torch-state-params", "convert.from_torch_state", "params", T, r"got dict",
         lambda: convert.from_torch_state(zeros(1, 2, 4), zeros(1, 2, 4), {})),
    Case("from-torch-state-rows", "convert.from_torch_state", "h_n", V,
         r"\(2, \*batch, size\).*got shape \(3, 2, 4\)",
         lambda: convert.from_torch_state(np.zeros((3, 2, 4)), np.zeros((3, 2, 4)), PAIR)),
    Case("from-torch-state-batch", "convert.from_torch_state", "c_n", V,
         r"the batch shape of h_n, \(2,\), got shape \(2, 3, 4\)",
         lambda: convert.from_torch_state(zeros(2, 2, 4), zeros(2, 3, 4), UNI_STACK)),
    Case("from-torch-state-proj", "convert.from_torch_state", "h_n", V,
         r"of 2 features in row 0 \(from params\), got shape \(1, 2, 4\)",
         lambda: convert.from_torch_state(np.zeros((1, 2, 4)), np.zeros((1, 2, 4)), PROJ)),
    Case("to-torch-state-carry", "convert.to_torch_state", "states", T,
         r"got a tuple of 2 arrays\. .*\(c, h\)", lambda: convert.to_torch_state(CARRY)),
    Case("to-torch-state-shapes", "convert.to_torch_state", "states[1].h", V,
         r"\(2, 4\) like states\[0\]\.h, got shape \(3, 4\)\. PyTorch keeps every layer's",
         lambda: convert.to_torch_state((LSTMState(zeros(2, 4), zeros(2, 4)),
                                         LSTMState(zeros(3, 4), zeros(3, 4))))),
]  # fmt: skip
