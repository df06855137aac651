"""Every bad-input case of the registry (`support.bad_inputs`) raises as it says, at trace time."""

from __future__ import annotations

import re

import jax
import pytest
from support.bad_inputs import CASES

import jlstm


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
