"""Every bad-input case of the registry (`support.bad_inputs`) raises as it says, at trace time."""

from __future__ import annotations

import inspect
import re

import jax
import pytest
from support.bad_inputs import CASES

import jlstm


def shown(error: BaseException) -> str:
    """The message as Python prints it: the text, then its notes (where in a stack it arose)."""
    return "\n".join([str(error), *getattr(error, "__notes__", [])])


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_raises_naming_argument_expected_and_actual_at_trace_time(case):
    head = re.escape(f"jlstm.{case.fn}: `{case.arg}` must be ")
    for run in (case.call, lambda: jax.eval_shape(case.call)):
        with pytest.raises(case.kind) as info:
            run()
        message = str(info.value)
        assert re.match(head + r".+, got .+", message, re.DOTALL), message
        assert re.search(case.match, shown(info.value), re.DOTALL), shown(info.value)
        assert isinstance(info.value, jlstm.LSTMError)


def public_callables(module, prefix=""):
    """The functions and modules in `module.__all__`, not its records (NamedTuples) or errors."""
    found = set()
    for name in module.__all__:
        obj = getattr(module, name)
        record = inspect.isclass(obj) and issubclass(obj, tuple | BaseException)
        if callable(obj) and not record:
            found.add(prefix + name)
    return found


def test_battery_covers_every_public_function():
    functions = {case.fn for case in CASES}
    core = public_callables(jlstm)
    assert {"lstm_cell", "lstm", "scan", "stack", "init_stack", "checked", "zero_state"} <= core
    assert core <= functions, sorted(core - functions)
    flax = public_callables(pytest.importorskip("jlstm.flax"), "flax.")
    assert {"flax.LSTM", "flax.NNXLSTM"} <= flax <= functions, sorted(flax - functions)
    assert {fn for fn in functions if fn.startswith("convert.")} >= {
        "convert.to_torch",
        "convert.from_keras",
        "convert.from_cudnn",
    }
    assert sum(fn.startswith("train.") for fn in functions) >= 3
    assert len({case.name for case in CASES}) == len(CASES) >= 30


def test_errors_are_standard_exceptions():
    assert issubclass(jlstm.LSTMValueError, ValueError) and issubclass(
        jlstm.LSTMTypeError, TypeError
    )
    assert issubclass(jlstm.LSTMValueError, jlstm.LSTMError)
    assert issubclass(jlstm.LSTMTypeError, jlstm.LSTMError)
