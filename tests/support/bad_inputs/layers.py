"""The bad-input cases of layered calls: `stack`, `bidirectional`, `init_stack`.

An error raised inside a layer names the `jlstm.lstm` argument and carries notes that say
where: in which layer of the stack, in which direction.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jlstm
from jlstm import Bidirectional, LSTMState
from support.bad_inputs.common import (
    BARE,
    CARRY,
    KEY,
    PAIR,
    PARAMS,
    STACK,
    UNI_STACK,
    XS,
    Case,
    T,
    V,
    cast,
    lstm,
    state,
    traced,
    zeros,
)
from support.factories import mixed_stack, random_layer

MIXED = mixed_stack()  # 3 -> 5 -> Bidirectional(2 + 3) -> 4
UNEQUAL = Bidirectional(random_layer(0, 3, 4, 2), random_layer(1, 3, 3))  # outputs 2 and 3
BF16_STATE = state(dtype=jnp.bfloat16)


def zero_states(layer, batch=(2,)):
    """Zero states for a layer of one or two directions."""
    if isinstance(layer, Bidirectional):
        return Bidirectional(*(zero_states(p, batch) for p in layer))
    hidden_size, out_size = layer.weight_hh.shape[0] // 4, layer.weight_hh.shape[1]
    return LSTMState(zeros((*batch, out_size)), zeros((*batch, hidden_size)))


def stack(**change):
    return lambda: jlstm.stack(**({"params": MIXED, "xs": XS} | change))


def bidirectional(**change):
    return lambda: jlstm.bidirectional(**({"params": UNEQUAL, "xs": XS} | change))


def init_stack(**change):
    return lambda: jlstm.init_stack(KEY, **({"input_size": 3, "hidden_size": 4} | change))


CASES = [
    Case("stack-as-params", "lstm", "params", T, r"LSTMParams, got tuple", lstm(params=STACK)),
    Case("stack-state-count", "stack", "state", V, r"tuple of 2 states.*got 3 states",
         lambda: jlstm.stack(STACK, XS, [None] * 3)),
    Case("stack-state-count-one", "stack", "state", V, r"tuple of 2 states.*got 1 state\.",
         lambda: jlstm.stack(STACK, XS, (None,))),
    Case("stack-carry-states", "stack", "state", T, r"got a tuple of 2 arrays\. .*\(c, h\)",
         lambda: jlstm.stack(UNI_STACK, XS, CARRY)),
    Case("stack-tuple-layer-state", "stack", "state[1]", T, BARE,
         lambda: jlstm.stack(UNI_STACK, XS, (None, CARRY))),
    Case("stack-unidirectional-state", "stack", "state[0]", T,
         r"Bidirectional\(forward, backward\) of LSTMState.*got LSTMState",
         lambda: jlstm.stack(STACK, XS, (state(), None))),
    Case("stack-dropout-above-one", "stack", "dropout", V, r"in \[0, 1\), got 1.5",
         lambda: jlstm.stack(STACK, XS, dropout=1.5)),
    Case("stack-dropout-without-key", "stack", "key", V, r"got None \(dropout=0.2\)\. .*"
         r"deterministic=True", lambda: jlstm.stack(STACK, XS, dropout=0.2)),
    Case("stack-time-major-mix-up", "lstm", "state.h", V, r"fits xs read with time_major=True",
         lambda: jlstm.stack(STACK, zeros((5, 2, 3)), (Bidirectional(state(), None), None))),
    Case("stack-lengths-range", "lstm", "lengths", V, r"in \[0, 5\].*values in \[1, 9\]",
         lambda: jlstm.stack(STACK, XS, lengths=np.array([9, 1]))),
    Case("bidirectional-one-layer", "bidirectional", "params", T,
         r"Bidirectional\(forward, backward\) of LSTMParams, got LSTMParams",
         lambda: jlstm.bidirectional(PARAMS, XS)),
    Case("bidirectional-state", "bidirectional", "state", T, r"as `params` is one, got LSTMState",
         lambda: jlstm.bidirectional(PAIR, XS, state())),
    Case("bidirectional-merge-int", "bidirectional", "merge_mode", T, r"'concat'.*got 1",
         lambda: jlstm.bidirectional(PAIR, XS, merge_mode=1)),
    Case("bidirectional-state-dtype", "lstm", "state.h", T, r"float32.*got dtype bfloat16",
         traced(lambda: jlstm.bidirectional(PAIR, XS, Bidirectional(None, BF16_STATE)))),
    Case("bidirectional-tuple-state", "bidirectional", "state.forward", T, BARE,
         lambda: jlstm.bidirectional(PAIR, XS, Bidirectional(CARRY, None))),
    Case("init-stack-no-layers", "init_stack", "num_layers", V, r"positive int, got 0",
         lambda: jlstm.init_stack(KEY, 3, 4, num_layers=0)),
    Case("init-stack-size-count", "init_stack", "hidden_size", V, r"num_layers=3.*got 2 sizes",
         lambda: jlstm.init_stack(KEY, 3, [4, 5], num_layers=3)),
    Case("init-stack-proj", "init_stack", "proj_size", V,
         r"smaller than hidden_size=5 in layer 1, got 6",
         lambda: jlstm.init_stack(KEY, 3, [8, 5], num_layers=2, proj_size=6)),
    Case("init-stack-bidirectional", "init_stack", "bidirectional", T, r"bool, got 'yes'",
         lambda: jlstm.init_stack(KEY, 3, 4, num_layers=1, bidirectional="yes")),
    Case("stack-single-layer", "stack", "params", T,
         r"tuple of layers, got LSTMParams\. Wrap a single layer in a tuple", stack(params=PARAMS)),
    Case("stack-empty", "stack", "params", V, r"tuple of at least one layer", stack(params=())),
    Case("stack-layer-type", "stack", "params[1]", T,
         r"LSTMParams or a Bidirectional.*got dict", stack(params=(MIXED[0], {"weight_ih": 1}))),
    Case("stack-layer-leaf", "stack", "params.bias", V,
         r"\(16,\), got shape \(3,\).*in `params\[2\]`",
         stack(params=(*MIXED[:2], MIXED[2]._replace(bias=zeros(3))))),
    Case("stack-sizes-do-not-chain", "stack", "params[1].weight_ih", V,
         r"\(4\*hidden_size, 5\) \(the output size of params\[0\]\), got shape \(12, 4\)",
         stack(params=(MIXED[0], random_layer(0, 4, 3)))),
    Case("stack-concatenated-directions", "stack", "params[1].weight_ih", V,
         r"\(4\*hidden_size, 5\) \(the output size of params\[0\], both directions concatenated\)",
         stack(params=(MIXED[1], random_layer(0, 2, 3)))),
    Case("stack-merged-directions", "stack", "params[1].weight_ih", V,
         r"\(4\*hidden_size, 2\) \(the output size of params\[0\]\), got shape \(20, 3\)",
         stack(params=(Bidirectional(random_layer(0, 3, 2), random_layer(1, 3, 2)), MIXED[0]),
               merge_mode="sum")),
    Case("stack-merge-unequal-directions", "stack", "params[1]", V,
         r"one output size to merge them with merge_mode='mean', got output sizes 2 and 3",
         stack(merge_mode="mean")),
    Case("stack-layer-dtypes", "stack", "params[1]", T,
         r"of dtype float32 like params\[0\] when no compute `dtype=`",
         stack(params=(MIXED[0], jax.tree.map(lambda w: cast(w, jnp.bfloat16), MIXED[1])))),
    Case("stack-state-not-in-a-tuple", "stack", "state", T,
         r"a tuple of 1 state, one per layer of `params`, got LSTMState\. Wrap a single",
         stack(params=MIXED[:1], state=zero_states(MIXED[0]))),
    Case("stack-bidirectional-state", "stack", "state[0]", T,
         r"LSTMState, as `params\[0\]` is an LSTMParams \(one direction\), got Bidirectional",
         stack(state=(zero_states(Bidirectional(MIXED[0], MIXED[0])), None, None))),
    Case("stack-state-shape-in-a-layer", "lstm", "state.h", V,
         r"\(2, 4\), got shape \(3, 4\).*in layer 2 of the stack",
         traced(stack(state=(None, None, zero_states(MIXED[2], (3,)))))),
    Case("stack-state-shape-in-a-direction", "lstm", "state.h", V,
         r"\(2, 3\), got shape \(2, 2\).*in the backward direction.*in layer 1 of the stack",
         traced(stack(state=(None, Bidirectional(None, zero_states(MIXED[1].forward)), None)))),
    Case("stack-input-size", "lstm", "xs", V, r"\(\*batch, time, 3\).*in layer 0 of the stack",
         stack(xs=zeros((2, 5, 4)))),
    Case("stack-dropout-negative", "stack", "dropout", V, r"in \[0, 1\), got -0.1",
         stack(dropout=-0.1)),
    Case("stack-dropout-array", "stack", "dropout", T,
         r"Python float in \[0, 1\).*cannot be a traced array", stack(dropout=jnp.array(0.5))),
    Case("stack-key-array", "stack", "key", T, r"one PRNG key", stack(key=zeros(3))),
    Case("stack-gate-traces", "stack", "return_gates", T,
         r"left out, got True\. Trace the gates of one layer", stack(return_gates=True)),
    Case("stack-unknown-merge-mode", "stack", "merge_mode", V,
         r"one of 'concat', 'sum', 'mean', 'mul', got 'max'", stack(merge_mode="max")),
    Case("stack-merge-mode-none", "stack", "merge_mode", V,
         r"got None\. .*jlstm.bidirectional\(\.\.\., merge_mode=None\)", stack(merge_mode=None)),
    Case("stack-states-and-state", "stack", "states", T, r"left out when `state` is given",
         lambda: jlstm.stack(UNI_STACK, XS, (None, None), states=(None, None))),
    Case("stack-bidirectional-state-of-a-layer", "stack", "state[1]", T,
         r"an LSTMState.*got Bidirectional",
         lambda: jlstm.stack(UNI_STACK, XS, (None, Bidirectional(None, None)))),
    Case("bidirectional-direction-type", "bidirectional", "params.backward", T,
         r"an LSTMParams, got dict",
         bidirectional(params=Bidirectional(UNEQUAL.forward, {"weight_ih": 1}))),
    Case("bidirectional-input-sizes", "bidirectional", "params.backward.weight_ih", V,
         r"\(4\*hidden_size, 3\) \(the input_size of params.forward\), got shape \(12, 4\)",
         bidirectional(params=Bidirectional(UNEQUAL.forward, random_layer(0, 4, 3)))),
    Case("bidirectional-direction-leaf", "bidirectional", "params.bias", V,
         r"\(12,\), got shape \(5,\).*in `params.backward`",
         bidirectional(params=UNEQUAL._replace(backward=UNEQUAL.backward._replace(
             bias=zeros(5))))),
    Case("bidirectional-backward-state-shape", "lstm", "state.h", V,
         r"\(2, 3\), got shape \(3, 3\).*in the backward direction",
         traced(bidirectional(state=Bidirectional(None, zero_states(UNEQUAL.backward, (3,)))))),
    Case("bidirectional-keras-merge-mode", "bidirectional", "merge_mode", V,
         r"or None, got 'ave'\. Keras' 'ave' is called 'mean' here",
         bidirectional(merge_mode="ave")),
    Case("bidirectional-merge-unequal", "bidirectional", "params", V,
         r"one output size to merge them with merge_mode='sum', got output sizes 2 and 3",
         bidirectional(merge_mode="sum")),
    Case("bidirectional-reverse", "bidirectional", "reverse", T,
         r"left out, got True\. The backward direction already runs reversed",
         bidirectional(reverse=True)),
    Case("bidirectional-gate-traces", "bidirectional", "return_gates", T,
         r"left out, got True\. Trace the gates of each direction",
         bidirectional(return_gates=True)),
    Case("bidirectional-unknown-option", "bidirectional", "zoneout", T,
         r"a keyword option of jlstm\.lstm \(see its docstring\), got 0\.1",
         bidirectional(zoneout=0.1)),
    Case("stack-unknown-option", "stack", "dropuot", T,
         r"a keyword option of jlstm\.lstm", stack(dropuot=0.2)),
    Case("bidirectional-key-array", "bidirectional", "key", T, r"one PRNG key",
         bidirectional(key=zeros(3))),
    Case("bidirectional-input-size", "lstm", "xs", V,
         r"\(\*batch, time, 3\).*in the forward direction", bidirectional(xs=zeros((2, 5, 4)))),
    Case("init-stack-proj-count", "init_stack", "proj_size", V,
         r"one size per layer \(num_layers=3\)",
         init_stack(hidden_size=[4, 5, 6], num_layers=3, proj_size=[2, 3])),
    Case("init-stack-layer-size-zero", "init_stack", "hidden_size[1]", V, r"positive int, got 0",
         init_stack(hidden_size=[4, 0], num_layers=2)),
    Case("init-stack-hidden-float", "init_stack", "hidden_size", T, r"positive int, got 4.0",
         init_stack(hidden_size=4.0, num_layers=2)),
    Case("init-stack-merge-none", "init_stack", "merge_mode", V, r"one of 'concat'.*got None",
         init_stack(num_layers=2, bidirectional=True, merge_mode=None)),
    Case("init-stack-input-size", "init_stack", "input_size", V, r"positive int, got 0",
         init_stack(input_size=0, num_layers=2)),
    Case("init-stack-dtype-and-param-dtype", "init_stack", "dtype", T,
         r"left out when `param_dtype`",
         init_stack(num_layers=2, dtype=jnp.bfloat16, param_dtype=jnp.float16)),
]  # fmt: skip
