"""The bad-input cases of `jlstm.convert`."""

from __future__ import annotations

import numpy as np

from jlstm import convert
from support.bad_inputs.common import (
    BARE,
    CARRY,
    PAIR,
    PARAMS,
    PROJ,
    Case,
    T,
    V,
)

CASES = [
    Case("to-torch-dict", "convert.to_torch", "params", T, r"got dict",
         lambda: convert.to_torch({"weight_ih": PARAMS.weight_ih})),
    Case("from-keras-count", "convert.from_keras", "weights", V, r"got 1 arrays",
         lambda: convert.from_keras([np.zeros((3, 16), np.float32)])),
    Case("from-keras-shape", "convert.from_keras", r"weights[1] (recurrent_kernel)", V,
         r"\(4, 16\), got shape \(5, 16\)",
         lambda: convert.from_keras([np.zeros((3, 16)), np.zeros((5, 16)), np.zeros(16)])),
    Case("to-keras-projection", "convert.to_keras", "params.weight_hr", V, r"no projection",
         lambda: convert.to_keras(PROJ)),
    Case("from-cudnn-size", "convert.from_cudnn", "weights", V, r"\(144,\).*got shape \(10,\)",
         lambda: convert.from_cudnn(np.zeros(10, np.float32), 3, 4)),
    Case("state-from-flax", "convert.state_from_flax", "carry", T, r"\(c, h\), got ndarray",
         lambda: convert.state_from_flax(np.zeros(3, np.float32))),
    Case("state-to-flax-tuple", "convert.state_to_flax", "state", T, BARE,
         lambda: convert.state_to_flax(CARRY)),
    Case("from-torch-state-rows", "convert.from_torch_state", "h_n", V,
         r"\(2, \*batch, size\).*got shape \(3, 2, 4\)",
         lambda: convert.from_torch_state(np.zeros((3, 2, 4)), np.zeros((3, 2, 4)), PAIR)),
    Case("from-torch-state-proj", "convert.from_torch_state", "h_n", V,
         r"of 2 features in row 0 \(from params\), got shape \(1, 2, 4\)",
         lambda: convert.from_torch_state(np.zeros((1, 2, 4)), np.zeros((1, 2, 4)), PROJ)),
    Case("to-torch-state-carry", "convert.to_torch_state", "states", T,
         r"got a tuple of 2 arrays\. .*\(c, h\)", lambda: convert.to_torch_state(CARRY)),
]  # fmt: skip
