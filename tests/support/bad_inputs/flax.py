"""The bad-input cases of `jlstm.flax`: module options, call arguments, rngs and loaded params."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from support.bad_inputs.common import (
    BARE,
    CARRY,
    KEY,
    XS,
    Case,
    T,
    V,
    flax_apply,
    flax_lstm,
    nnx_lstm,
    nnx_rngs,
    ones,
    traced,
    zeros,
)

NOISE = {"num_layers": 2, "dropout": 0.3, "input_dropout": 0.2}
# Both modules word an `xs` without a time axis alike.
NO_TIME_AXIS = r"of shape \(\*batch, time, input_size\), got shape \(4,\) \(rank 1\)\."


def nnx_module(**options):
    """Construct an `NNXLSTM(3, 4)`; `options` may hold `rngs`."""
    return lambda: nnx_lstm(**options)


def linen_module(**attributes):
    """Initialise a linen `LSTM(features=4)` on `XS`."""
    return lambda: flax_lstm(features=4, **attributes).init(KEY, XS, deterministic=True)


def linen_noise(**attributes):
    """Apply a linen `LSTM` with dropout on `XS`, initialised for evaluation."""

    def run():
        variables = linen_module(**NOISE)()
        return flax_lstm(features=4, **NOISE, **attributes).apply(variables, XS)

    return traced(run)


def load_one_direction():
    model = nnx_lstm(bidirectional=True)
    return model.load(model.params.forward)


def load_replacing(layer=None, **leaves):
    """Load the params of an `NNXLSTM(3, 4)` (two layers if `layer` is given), some replaced."""

    def run():
        model = nnx_lstm(num_layers=2) if layer is not None else nnx_lstm()
        if layer is None:
            return model.load(model.params._replace(**leaves))
        params = list(model.params)
        params[layer] = params[layer]._replace(**leaves)
        return model.load(tuple(params))

    return run


OPTIONS = [  # (name, arg, kind, match, value): bad constructor options of both modules
    ("dropout-one-layer", "dropout", V, r"0.0 for one layer.*got 0.5\. .*input_dropout", 0.5),
    ("proj-size", "proj_size", V, r"smaller than features=4, got 4", 4),
    ("keras-merge-mode", "merge_mode", V, r"'mean'.*got 'ave'", "ave"),
    ("input-dropout-one", "input_dropout", V, r"in \[0, 1\), got 1.0", 1.0),
    ("no-layers", "num_layers", V, r"positive int, got 0", 0),
    ("remat-string", "remat", T, r"Python bool, got 'yes'", "yes"),
    ("checks-string", "checks", T, r"Python bool, got 'yes'", "yes"),
]

CASES = [
    Case("flax-no-features", "flax.LSTM", "features", V, r"positive int, got 0",
         lambda: flax_lstm(features=0).init(KEY, XS)),
    *(Case(f"flax-{name}", "flax.LSTM", arg, kind, match, linen_module(**{arg: value}))
      for name, arg, kind, match, value in OPTIONS),
    *(Case(f"nnx-{name}", "flax.NNXLSTM", arg, kind, match, nnx_module(**{arg: value}))
      for name, arg, kind, match, value in OPTIONS),
    Case("flax-carry-initial-state", "flax.LSTM", "initial_state", T, BARE,
         flax_apply(initial_state=CARRY)),
    Case("flax-stack-carry", "flax.LSTM", "initial_state[0]", T, BARE,
         flax_apply(2, initial_state=(CARRY, CARRY))),
    Case("flax-flat-state-list", "flax.LSTM", "initial_state", T,
         r"got a list of 4 arrays\. .*\(c, h\)",
         flax_apply(2, initial_state=jax.tree.leaves((CARRY, CARRY)))),
    Case("flax-no-time-axis", "flax.LSTM", "xs", V, NO_TIME_AXIS, flax_apply(xs=ones((4,)))),
    Case("flax-int-inputs", "lstm", "xs", T, r"got dtype int32.*called by jlstm\.flax\.LSTM",
         flax_apply(xs=ones((2, 5, 3), jnp.int32))),
    Case("flax-no-dropout-rng", "flax.LSTM", "rngs", V,
         r"\"dropout\" rng when deterministic is False, got a call without one\.",
         linen_noise(deterministic=False)),
    Case("flax-no-deterministic", "flax.LSTM", "deterministic", V,
         r"True or False \(the module has dropout\), got None", linen_noise()),
    Case("nnx-carry-initial-state", "flax.NNXLSTM", "initial_state", T, BARE,
         lambda: nnx_lstm()(XS, initial_state=list(CARRY))),
    Case("nnx-int-rngs", "flax.NNXLSTM", "rngs", T, r"nnx\.Rngs, got 0\. .*rngs=nnx\.Rngs\(0\)",
         nnx_module(rngs=0)),
    Case("nnx-flat-state-list", "flax.NNXLSTM", "initial_state", T,
         r"got a list of 4 arrays\. .*\(c, h\)",
         lambda: nnx_lstm(num_layers=2)(XS, initial_state=jax.tree.leaves((CARRY, CARRY)))),
    Case("nnx-no-time-axis", "flax.NNXLSTM", "xs", V, NO_TIME_AXIS, lambda: nnx_lstm()(ones((4,)))),
    Case("nnx-time-major-no-time-axis", "flax.NNXLSTM", "xs", V,
         r"of shape \(time, \*batch, input_size\), got shape \(4,\) \(rank 1\)\.",
         lambda: nnx_lstm(time_major=True)(ones((4,)))),
    Case("nnx-int-inputs", "lstm", "xs", T, r"got dtype int32.*called by jlstm\.flax\.NNXLSTM",
         lambda: nnx_lstm()(ones((2, 5, 3), jnp.int32))),
    Case("nnx-no-dropout-stream", "flax.NNXLSTM", "rngs", V,
         r"dropout rng when deterministic is False, got None, and the module has no \"dropout\" "
         r"stream\. Pass rngs=nnx\.Rngs\(dropout=\.\.\.\)",
         lambda: nnx_lstm(rngs=nnx_rngs(params=0), **NOISE)(XS)),
    Case("nnx-load-one-direction", "flax.NNXLSTM.load", "params", T,
         r"of the module's structure Bidirectional\(forward=LSTMParams\(weight_ih='\(16, 3\) "
         r"float32'.*got LSTMParams\(weight_ih='\(16, 3\) float32'", load_one_direction),
    Case("nnx-load-shape", "flax.NNXLSTM.load", "params.weight_ih", V,
         r"of the module's shape \(16, 3\), got shape \(16, 5\)\.",
         load_replacing(weight_ih=zeros((16, 5)))),
    Case("nnx-load-dtype", "flax.NNXLSTM.load", "params.bias", T,
         r"of the module's dtype float32, got dtype bfloat16\.",
         load_replacing(bias=zeros((16,), jnp.bfloat16))),
    Case("nnx-load-stack-shape", "flax.NNXLSTM.load", "params[1].weight_hh", V,
         r"of the module's shape \(16, 4\), got shape \(16, 3\)\.",
         load_replacing(1, weight_hh=zeros((16, 3)))),
    Case("nnx-load-float-leaf", "flax.NNXLSTM.load", "params.bias", T, r"an array, got float",
         load_replacing(bias=0.0)),
]  # fmt: skip
