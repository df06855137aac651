"""The bad-input battery: every public function rejects wrong arguments by name, at trace time.

Each case below is a call with one wrong argument. It must raise a jlstm error
(`jlstm.LSTMValueError` or `jlstm.LSTMTypeError`, subclasses of `ValueError` / `TypeError`)
whose message reads ``jlstm.<function>: `<argument>` must be <expected>, got <actual>.``,
and it must raise while tracing: `jax.eval_shape` of the same call raises the same error,
so nothing is ever compiled. (`tests/test_validation.py` holds 27 further `jlstm.lstm`
cases; the module tests hold more per function.)

==========================  ========================  ==============================  =====
case                        function                  bad input                       error
==========================  ========================  ==============================  =====
cell-feature-size           lstm_cell                 `x` (2, 5) for input_size 3     Value
cell-scalar-input           lstm_cell                 `x` of rank 0                   Value
cell-bool-input             lstm_cell                 `x` of dtype bool               Type
cell-mixed-dtypes           lstm_cell                 float16 `x`, float32 params     Type
cell-no-state               lstm_cell                 `state` None                    Type
cell-list-state             lstm_cell                 `state` a list [h, c]           Type
cell-state-batch            lstm_cell                 `state` for 3 rows, `x` 2 rows  Value
cell-state-dtype            lstm_cell                 bfloat16 `state`, float32       Type
cell-params-missing-field   lstm_cell                 `params.weight_hh` None         Type
cell-compute-dtype          lstm_cell                 `dtype=jnp.int8`                Type
cell-gates-flag             lstm_cell                 `return_gates="yes"`            Type
reverse-not-bool            lstm                      `reverse=1`                     Type
time-major-traced           lstm                      `time_major` a jax array        Type
remat-not-bool              lstm                      `remat="no"`                    Type
checks-not-bool             lstm                      `checks=None`                   Type
state-time-major-mix-up     lstm                      state batch fits batch-major    Value
lengths-time-major-mix-up   lstm                      lengths (time,) of time-major   Value
unbatched-state             lstm                      `state` without batch dims      Value
flax-carry-state            lstm                      a Flax carry (c, h) as state    Type
torch-tensor-input          lstm                      a PyTorch tensor as `xs`        Type
torch-tensor-lengths        lstm                      a PyTorch tensor as `lengths`   Type
ragged-list-input           lstm                      a ragged nested list as `xs`    Type
torch-state-dict            lstm                      a PyTorch state dict as params  Type
stack-as-params             lstm                      a tuple of layers as params     Type
peephole-shape              lstm                      `weight_peephole` (2, 4)        Value
layer-norm-shape            lstm                      `layer_norm.scale_c` (5,)       Value
mask-dtype                  lstm                      int32 `mask`                    Type
resets-shape                lstm                      `resets` (5, 2) batch-major     Value
lengths-float-list          lstm                      `lengths=[5.0, 1.0]`            Type
zoneout-one                 lstm                      `zoneout_h=1.0`                 Value
dropout-without-key         lstm                      `recurrent_dropout=0.2`, no key Value
zoneout-without-key         lstm                      `zoneout_c=0.1`, no key         Value
stack-state-count           stack                     3 states for 2 layers           Value
stack-carry-states          stack                     one (c, h) carry as `state`     Type
stack-tuple-layer-state     stack                     a (c, h) tuple for one layer    Type
stack-unidirectional-state  stack                     LSTMState for a bidir. layer    Type
stack-dropout-above-one     stack                     `dropout=1.5`                   Value
stack-dropout-without-key   stack                     `dropout=0.2`, no key           Value
stack-time-major-mix-up     stack                     states of time-major batch      Value
stack-lengths-range         stack                     `lengths` [9, 1] for time 5     Value
bidirectional-one-layer     bidirectional             an LSTMParams as params         Type
bidirectional-state         bidirectional             an LSTMState as state           Type
bidirectional-merge-int     bidirectional             `merge_mode=1`                  Value
bidirectional-state-dtype   bidirectional             bfloat16 backward state         Type
bidirectional-tuple-state   bidirectional             (c, h) tuple as forward state   Type
init-input-size-zero        init_lstm                 `input_size=0`                  Value
init-proj-negative          init_lstm                 `proj_size=-1`                  Value
init-dtype-bool             init_lstm                 `param_dtype=bool`              Type
init-hidden-float           init_lstm                 `hidden_size=4.0`               Type
init-int-key                init_lstm                 `key=0` (an int)                Type
init-bias-string            init_lstm                 `bias="no"`                     Type
init-stack-no-layers        init_stack                `num_layers=0`                  Value
init-stack-size-count       init_stack                2 hidden sizes for 3 layers     Value
init-stack-proj             init_stack                `proj_size` >= a hidden_size    Value
init-stack-bidirectional    init_stack                `bidirectional="yes"`           Type
zero-state-float-batch      zero_state                `batch_shape=(2.5,)`            Value
zero-state-float-shape      zero_state                `batch_shape=2.5`               Type
zero-state-bidirectional    zero_state                a Bidirectional as params       Type
zero-state-int-dtype        zero_state                `dtype=jnp.int32`               Type
to-torch-dict               convert.to_torch          a dict as params                Type
from-keras-count            convert.from_keras        one array                       Value
from-keras-shape            convert.from_keras        recurrent kernel (5, 16)        Value
to-keras-projection         convert.to_keras          params with a projection        Value
from-cudnn-size             convert.from_cudnn        10 weights for I=3, H=4         Value
state-from-flax             convert.state_from_flax   an array as carry               Type
state-to-flax-tuple         convert.state_to_flax     a tuple as state                Type
from-torch-state-rows       convert.from_torch_state  3 rows for 2 directions         Value
from-torch-state-proj       convert.from_torch_state  h_n of 4 features, proj_size 2  Value
to-torch-state-carry        convert.to_torch_state    a (c, h) tuple as states        Type
train-step-loss             train.make_train_step     `loss_fn=3`                     Type
train-step-optimizer        train.make_train_step     `optimizer="adam"`              Type
train-float-labels          train.sequence_cross_...  float32 `labels`                Type
train-lengths-shape         train.masked_mean         `lengths` (1,) for batch 2      Value
train-float-lengths         train.last_valid          float32 `lengths`               Type
train-mask-negative-time    train.sequence_mask       `time=-1`                       Value
flax-no-features            flax.LSTM                 `features=0`                    Value
flax-dropout-one-layer      flax.LSTM                 `dropout=0.5`, one layer        Value
flax-carry-initial-state    flax.LSTM                 a Flax carry (c, h)             Type
flax-stack-carry            flax.LSTM                 (c, h) tuples per layer         Type
nnx-carry-initial-state     flax.NNXLSTM              a list [c, h]                   Type
nnx-int-rngs                flax.NNXLSTM              `rngs=0`                        Type
==========================  ========================  ==============================  =====
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jlstm
from jlstm import Bidirectional, LSTMState, LSTMTypeError, LSTMValueError, convert, train

KEY = jax.random.key(0)
PARAMS = jlstm.init_lstm(KEY, 3, 4)  # input_size 3, hidden_size 4
PROJ = jlstm.init_lstm(KEY, 3, 4, proj_size=2)
PAIR = Bidirectional(PARAMS, jlstm.init_lstm(jax.random.key(1), 3, 4))
STACK = jlstm.init_stack(KEY, 3, 4, num_layers=2, bidirectional=True)
XS = jnp.zeros((2, 5, 3), jnp.float32)  # (batch, time, input_size)


def state(batch=(2,), dtype=jnp.float32) -> LSTMState:
    return LSTMState(jnp.zeros((*batch, 4), dtype), jnp.zeros((*batch, 4), dtype))


class Case(NamedTuple):
    """One bad call: the function and argument the message names, the error and a pattern."""

    name: str
    fn: str
    arg: str
    kind: type[Exception]
    match: str  # a further pattern the message must contain (expected or actual, hint)
    call: Callable[[], Any]


def lstm(**change: Any) -> Callable[[], Any]:
    return lambda: jlstm.lstm(**({"params": PARAMS, "xs": XS} | change))


def cell(**change: Any) -> Callable[[], Any]:
    kwargs = {"params": PARAMS, "state": state(), "x": jnp.zeros((2, 3))} | change
    return lambda: jlstm.lstm_cell(**kwargs)


def flax_lstm(**attributes: Any) -> Any:
    return importlib.import_module("jlstm.flax").LSTM(**attributes)


def flax_apply(num_layers: int = 1, **call: Any) -> Callable[[], Any]:
    def run() -> Any:
        model = flax_lstm(features=4, num_layers=num_layers)
        return model.apply(model.init(KEY, XS), XS, **call)

    return run


def nnx_lstm(**options: Any) -> Any:
    nnx = importlib.import_module("flax.nnx")
    options.setdefault("rngs", nnx.Rngs(0))
    return importlib.import_module("jlstm.flax").NNXLSTM(3, 4, **options)


class Tensor:
    """Stands for a `torch.Tensor`: jlstm tells one by its module, without importing torch."""

    __module__ = "torch"
    shape, dtype = (2, 5, 3), "torch.float32"


CARRY = (jnp.zeros((2, 4)), jnp.ones((2, 4)))  # a Flax carry (c, h), of one shape
BARE = r"got (tuple|list)\. .*Flax carry is \(c, h\).*LSTMState\(h=carry\[1\], c=carry\[0\]\)"
UNI_STACK = jlstm.init_stack(KEY, 3, 4, num_layers=2)


V, T = LSTMValueError, LSTMTypeError
CASES = [
    Case("cell-feature-size", "lstm_cell", "x", V, r"\(\*batch, 3\).*\(2, 5\)",
         cell(x=jnp.zeros((2, 5)))),
    Case("cell-scalar-input", "lstm_cell", "x", V, r"rank 0", cell(x=jnp.zeros(()))),
    Case("cell-bool-input", "lstm_cell", "x", T, r"floating.*bool",
         cell(x=jnp.zeros((2, 3), bool))),
    Case("cell-mixed-dtypes", "lstm_cell", "x", T, r"float32 .*float16.*dtype=",
         cell(x=jnp.zeros((2, 3), jnp.float16))),
    Case("cell-no-state", "lstm_cell", "state", T, r"LSTMState\(h=\.\.\., c=\.\.\.\), got NoneType",
         cell(state=None)),
    Case("cell-list-state", "lstm_cell", "state", T, BARE, cell(state=list(CARRY))),
    Case("cell-state-batch", "lstm_cell", "state.h", V, r"\(2, 4\), got shape \(3, 4\)",
         cell(state=state((3,)))),
    Case("cell-state-dtype", "lstm_cell", "state.h", T, r"float32.*bfloat16",
         cell(state=state(dtype=jnp.bfloat16))),
    Case("cell-params-missing-field", "lstm_cell", "params.weight_hh", T, r"array, got NoneType",
         cell(params=PARAMS._replace(weight_hh=None))),
    Case("cell-compute-dtype", "lstm_cell", "dtype", T, r"floating dtype.*int8",
         cell(dtype=jnp.int8)),
    Case("cell-gates-flag", "lstm_cell", "return_gates", T, r"Python bool, got 'yes'",
         cell(return_gates="yes")),
    Case("reverse-not-bool", "lstm", "reverse", T, r"Python bool, got 1", lstm(reverse=1)),
    Case("time-major-traced", "lstm", "time_major", T, r"Python bool, got Array",
         lstm(time_major=jnp.array(True))),
    Case("remat-not-bool", "lstm", "remat", T, r"Python bool, got 'no'", lstm(remat="no")),
    Case("checks-not-bool", "lstm", "checks", T, r"Python bool, got None", lstm(checks=None)),
    Case("state-time-major-mix-up", "lstm", "state.h", V,
         r"\(5, 4\), got shape \(2, 4\)\. .*fits xs read with time_major=False",
         lstm(state=state((2,)), xs=jnp.zeros((2, 5, 3)), time_major=True)),
    Case("lengths-time-major-mix-up", "lstm", "lengths", V,
         r"\(2,\).*got shape \(5,\)\. .*fits xs read with time_major=True",
         lstm(xs=jnp.zeros((2, 5, 3)), lengths=jnp.full((5,), 2))),
    Case("unbatched-state", "lstm", "state.h", V, r"got shape \(4,\)\. .*broadcast",
         lstm(state=state(()))),
    Case("flax-carry-state", "lstm", "state", T, BARE, lstm(state=CARRY)),
    Case("torch-tensor-input", "lstm", "xs", T,
         r"JAX or NumPy array, got a PyTorch Tensor\. .*x\.detach\(\)\.cpu\(\)\.numpy\(\)",
         lstm(xs=Tensor())),
    Case("torch-tensor-lengths", "lstm", "lengths", T, r"got a PyTorch Tensor\. .*detach",
         lstm(lengths=Tensor())),
    Case("ragged-list-input", "lstm", "xs", T, r"array of numbers, got list",
         lstm(xs=[[1.0, 2.0, 3.0], [1.0]])),
    Case("torch-state-dict", "lstm", "params", T, r"got dict\. .*jlstm\.convert",
         lstm(params={"weight_ih_l0": np.zeros((16, 3)), "weight_hh_l0": np.zeros((16, 4))})),
    Case("stack-as-params", "lstm", "params", T, r"LSTMParams, got tuple", lstm(params=STACK)),
    Case("peephole-shape", "lstm", "params.weight_peephole", V, r"\(3, 4\), got shape \(2, 4\)",
         lstm(params=PARAMS._replace(weight_peephole=jnp.zeros((2, 4))))),
    Case("layer-norm-shape", "lstm", "params.layer_norm.scale_c", V, r"\(4,\), got shape \(5,\)",
         lstm(params=jlstm.init_lstm(KEY, 3, 4, layer_norm=True)._replace(
             layer_norm=jlstm.LayerNorm(jnp.ones(16), jnp.ones(16), jnp.ones(5), jnp.zeros(4))))),
    Case("mask-dtype", "lstm", "mask", T, r"boolean array, got dtype int32",
         lstm(mask=jnp.ones((2, 5), jnp.int32))),
    Case("resets-shape", "lstm", "resets", V, r"\(\*batch, time\) = \(2, 5\), got shape \(5, 2\)",
         lstm(resets=jnp.zeros((5, 2), bool))),
    Case("lengths-float-list", "lstm", "lengths", T, r"integer array, got dtype float32",
         lstm(lengths=[5.0, 1.0])),
    Case("zoneout-one", "lstm", "zoneout_h", V, r"in \[0, 1\), got 1.0", lstm(zoneout_h=1.0)),
    Case("dropout-without-key", "lstm", "key", V, r"got None \(recurrent_dropout=0.2\)\. .*"
         r"deterministic=True", lstm(recurrent_dropout=0.2)),
    Case("zoneout-without-key", "lstm", "key", V, r"got None \(zoneout_c=0.1\)",
         lstm(zoneout_c=0.1)),
    Case("stack-state-count", "stack", "state", V, r"tuple of 2 states.*got 3 states",
         lambda: jlstm.stack(STACK, XS, [None] * 3)),
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
         lambda: jlstm.stack(STACK, jnp.zeros((5, 2, 3)), (Bidirectional(state(), None), None))),
    Case("stack-lengths-range", "lstm", "lengths", V, r"in \[0, 5\].*values in \[1, 9\]",
         lambda: jlstm.stack(STACK, XS, lengths=np.array([9, 1]))),
    Case("bidirectional-one-layer", "bidirectional", "params", T,
         r"Bidirectional\(forward, backward\) of LSTMParams, got LSTMParams",
         lambda: jlstm.bidirectional(PARAMS, XS)),
    Case("bidirectional-state", "bidirectional", "state", T, r"as `params` is one, got LSTMState",
         lambda: jlstm.bidirectional(PAIR, XS, state())),
    Case("bidirectional-merge-int", "bidirectional", "merge_mode", V, r"'concat'.*got 1",
         lambda: jlstm.bidirectional(PAIR, XS, merge_mode=1)),
    Case("bidirectional-state-dtype", "lstm", "state.h", T, r"float32.*got dtype bfloat16",
         lambda: jlstm.bidirectional(PAIR, XS, Bidirectional(None, state(dtype=jnp.bfloat16)))),
    Case("bidirectional-tuple-state", "bidirectional", "state.forward", T, BARE,
         lambda: jlstm.bidirectional(PAIR, XS, Bidirectional(CARRY, None))),
    Case("init-input-size-zero", "init_lstm", "input_size", V, r"positive int, got 0",
         lambda: jlstm.init_lstm(KEY, 0, 4)),
    Case("init-proj-negative", "init_lstm", "proj_size", V, r"positive int, got -1",
         lambda: jlstm.init_lstm(KEY, 3, 4, proj_size=-1)),
    Case("init-dtype-bool", "init_lstm", "param_dtype", T, r"floating dtype.*got bool",
         lambda: jlstm.init_lstm(KEY, 3, 4, param_dtype=bool)),
    Case("init-hidden-float", "init_lstm", "hidden_size", T, r"positive int, got 4.0",
         lambda: jlstm.init_lstm(KEY, 3, 4.0)),
    Case("init-int-key", "init_lstm", "key", T, r"PRNG key such as jax.random.key\(0\), got 0",
         lambda: jlstm.init_lstm(0, 3, 4)),
    Case("init-bias-string", "init_lstm", "bias", T, r"Python bool, got 'no'",
         lambda: jlstm.init_lstm(KEY, 3, 4, bias="no")),
    Case("init-stack-no-layers", "init_stack", "num_layers", V, r"positive int, got 0",
         lambda: jlstm.init_stack(KEY, 3, 4, num_layers=0)),
    Case("init-stack-size-count", "init_stack", "hidden_size", V, r"num_layers=3.*got 2 sizes",
         lambda: jlstm.init_stack(KEY, 3, [4, 5], num_layers=3)),
    Case("init-stack-proj", "init_stack", "proj_size", V, r"got 6 with hidden_size=5 in layer 1",
         lambda: jlstm.init_stack(KEY, 3, [8, 5], num_layers=2, proj_size=6)),
    Case("init-stack-bidirectional", "init_stack", "bidirectional", T, r"bool, got 'yes'",
         lambda: jlstm.init_stack(KEY, 3, 4, num_layers=1, bidirectional="yes")),
    Case("zero-state-float-batch", "zero_state", "batch_shape", V, r"ints, got \(2.5,\)",
         lambda: jlstm.zero_state(PARAMS, (2.5,))),
    Case("zero-state-float-shape", "zero_state", "batch_shape", T, r"ints, got 2.5",
         lambda: jlstm.zero_state(PARAMS, 2.5)),
    Case("zero-state-bidirectional", "zero_state", "params", T, r"LSTMParams, got Bidirectional",
         lambda: jlstm.zero_state(PAIR, (2,))),
    Case("zero-state-int-dtype", "zero_state", "dtype", T, r"floating dtype.*got int32",
         lambda: jlstm.zero_state(PARAMS, (2,), dtype=jnp.int32)),
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
    Case("train-step-loss", "train.make_train_step", "loss_fn", T, r"got int",
         lambda: train.make_train_step(3, optax.adam(1e-3))),
    Case("train-step-optimizer", "train.make_train_step", "optimizer", T, r"got str",
         lambda: train.make_train_step(lambda params, batch, key: (0.0, None), "adam")),
    Case("train-float-labels", "train.sequence_cross_entropy", "labels", T,
         r"integer array, got dtype float32",
         lambda: train.sequence_cross_entropy(jnp.zeros((2, 5, 4)), jnp.zeros((2, 5)))),
    Case("train-lengths-shape", "train.masked_mean", "lengths", V, r"\(2,\).*got shape \(1,\)",
         lambda: train.masked_mean(jnp.zeros((2, 5)), jnp.array([5]))),
    Case("train-float-lengths", "train.last_valid", "lengths", T, r"got dtype float32",
         lambda: train.last_valid(jnp.zeros((2, 5, 4)), jnp.array([5.0, 5.0]))),
    Case("train-mask-negative-time", "train.sequence_mask", "time", V, r"non-negative int, got -1",
         lambda: train.sequence_mask(jnp.array([2, 0]), -1)),
    Case("flax-no-features", "flax.LSTM", "features", V, r"positive int, got 0",
         lambda: flax_lstm(features=0).init(KEY, XS)),
    Case("flax-dropout-one-layer", "flax.LSTM", "dropout", V, r"0.0 for one layer.*got 0.5",
         lambda: flax_lstm(features=4, dropout=0.5).init(KEY, XS)),
    Case("flax-carry-initial-state", "flax.LSTM", "initial_state", T, BARE,
         flax_apply(initial_state=CARRY)),
    Case("flax-stack-carry", "flax.LSTM", "initial_state[0]", T, BARE,
         flax_apply(2, initial_state=(CARRY, CARRY))),
    Case("nnx-carry-initial-state", "flax.NNXLSTM", "initial_state", T, BARE,
         lambda: nnx_lstm()(XS, initial_state=list(CARRY))),
    Case("nnx-int-rngs", "flax.NNXLSTM", "rngs", T, r"nnx\.Rngs, got 0\. .*rngs=nnx\.Rngs\(0\)",
         lambda: nnx_lstm(rngs=0)),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_raises_naming_argument_expected_and_actual_at_trace_time(case):
    head = re.escape(f"jlstm.{case.fn}: `{case.arg}` must be ")
    for run in (case.call, lambda: jax.eval_shape(case.call)):
        with pytest.raises(case.kind) as info:
            run()
        message = str(info.value)
        assert re.match(head + r".+, got .+", message, re.DOTALL), message
        assert re.search(case.match, message, re.DOTALL), message
        assert isinstance(info.value, jlstm.LSTMError)


def test_battery_covers_every_public_function():
    functions = {case.fn for case in CASES}
    names = {"lstm_cell", "lstm", "stack", "bidirectional", "init_lstm", "init_stack"}
    assert names | {"zero_state", "flax.LSTM", "flax.NNXLSTM"} <= functions
    assert {fn for fn in functions if fn.startswith("convert.")} >= {
        "convert.to_torch",
        "convert.from_keras",
        "convert.from_cudnn",
    }
    assert sum(fn.startswith("train.") for fn in functions) >= 3
    assert len({case.name for case in CASES}) == len(CASES) >= 30


def test_docstring_table_lists_every_case():
    lines = __doc__.splitlines()
    _, below_header, end = [k for k, line in enumerate(lines) if line.startswith("=====")]
    rows = [line.split()[0] for line in lines[below_header + 1 : end]]
    assert rows == [case.name for case in CASES]
