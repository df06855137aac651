"""What the bad-input cases share: the `Case` record, small valid arguments, call builders."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import jlstm
from jlstm import Bidirectional, LSTMState, LSTMTypeError, LSTMValueError


class Case(NamedTuple):
    """One bad call: the function and argument the message names, the error and a pattern."""

    name: str
    fn: str
    arg: str
    kind: type[Exception]
    match: str  # a further pattern the message must contain (expected or actual, hint)
    call: Callable[[], Any]


KEY = jax.random.key(0)
PARAMS = jlstm.init_lstm(KEY, 3, 4)  # input_size 3, hidden_size 4
PROJ = jlstm.init_lstm(KEY, 3, 4, proj_size=2)
PAIR = Bidirectional(PARAMS, jlstm.init_lstm(jax.random.key(1), 3, 4))
STACK = jlstm.init_stack(KEY, 3, 4, num_layers=2, bidirectional=True)
XS = jnp.zeros((2, 5, 3), jnp.float32)  # (batch, time, input_size)


def state(batch=(2,), dtype=jnp.float32) -> LSTMState:
    return LSTMState(jnp.zeros((*batch, 4), dtype), jnp.zeros((*batch, 4), dtype))


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
