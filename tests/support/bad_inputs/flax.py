"""The bad-input cases of `jlstm.flax`."""

from __future__ import annotations

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
)

CASES = [
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
