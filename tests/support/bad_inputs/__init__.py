"""The one registry of bad-input cases: every public function rejects wrong arguments by name.

Each case is a call with one wrong argument. It must raise a jlstm error
(`jlstm.LSTMValueError` for a wrong shape, size or value, `jlstm.LSTMTypeError` for a wrong
type, dtype or structure) whose message reads
``jlstm.<function>: `<argument>` must be <expected>, got <actual>.`` (inside a stack or a
direction, with notes that say where), while tracing:
`jax.eval_shape` of the same call raises the same error, so nothing is ever compiled.
The cases live with the part of the package they test (`core`, `layers`, `convert`, `train`,
`flax`); `tests/test_bad_inputs.py` runs them all.
"""

from support.bad_inputs import convert, core, flax, layers, train
from support.bad_inputs.common import Case

CASES: list[Case] = core.CASES + layers.CASES + convert.CASES + train.CASES + flax.CASES

__all__ = ["CASES", "Case"]
