"""Training jlstm models with Optax: steps, `fit`, truncated BPTT, checkpoints, scaling out.

Import it explicitly (`from jlstm import train`); it needs Optax, Orbax and rich, the
`jlstm[train]` extra (`pip install 'jlstm[train]'`), which `import jlstm` does not load.

- State and steps: `TrainState`, `init_train_state`, `make_train_step` (a jitted update
  from `loss_fn(params, batch, key) -> (loss, aux)` and an Optax optimizer), `fit`.
- Sequence losses that ignore padding: `sequence_cross_entropy`, `masked_mean`,
  `last_valid`, `last_valid_mse`, `last_valid_cross_entropy`, `sequence_mask`.
- Long streams: `make_tbptt_step` (truncated backpropagation through time).
- Checkpoints (Orbax): `save_checkpoint`, `restore_checkpoint`, `latest_step`.
- Ensembles (`jax.vmap` over seeds): `init_ensemble`, `make_ensemble_step`,
  `ensemble_member`, `evaluate`; with `mesh=`, the members are split over devices.
- Data parallelism (`jax.sharding`): `data_mesh`, `replicate`, `shard_batch`, or simply
  `fit(..., mesh=data_mesh())`, also over several processes (`jax.distributed`).

Example:
  >>> import jax, jax.numpy as jnp, optax, jlstm
  >>> from jlstm import train
  >>> def loss_fn(params, batch, key):
  ...     xs, labels, lengths = batch  # (batch, time, 3), (batch, time), (batch,)
  ...     _, hs = jlstm.lstm(params, xs, lengths=lengths)  # hs: (batch, time, 4) logits
  ...     return train.sequence_cross_entropy(hs, labels, lengths), None
  >>> optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
  >>> params = jlstm.init_lstm(jax.random.key(0), input_size=3, hidden_size=4)
  >>> state = train.init_train_state(params, optimizer, key=jax.random.key(1))
  >>> batch = (jnp.ones((2, 6, 3)), jnp.zeros((2, 6), jnp.int32), jnp.array([6, 4]))
  >>> state, history = train.fit(train.make_train_step(loss_fn, optimizer), state, [batch] * 30)
  >>> bool(history.losses[-1] < history.losses[0])
  True
"""

try:
    from jlstm.train._checkpoint import latest_step, restore_checkpoint, save_checkpoint
    from jlstm.train._ensemble import ensemble_member, init_ensemble, make_ensemble_step
    from jlstm.train._evaluate import evaluate
    from jlstm.train._fit import History, fit
    from jlstm.train._losses import (
        last_valid,
        last_valid_cross_entropy,
        last_valid_mse,
        masked_mean,
        sequence_cross_entropy,
        sequence_mask,
    )
    from jlstm.train._parallel import data_mesh, replicate, shard_batch
    from jlstm.train._state import TrainState, init_train_state
    from jlstm.train._step import make_train_step
    from jlstm.train._tbptt import make_tbptt_step
except ModuleNotFoundError as error:
    if error.name is None or error.name.split(".")[0] not in ("optax", "orbax", "rich"):
        raise
    raise ModuleNotFoundError(
        f"jlstm.train needs {error.name.split('.')[0]}, which is not installed: "
        "pip install 'jlstm[train]'",
        name=error.name,
    ) from error

__all__ = [
    "History",
    "TrainState",
    "data_mesh",
    "ensemble_member",
    "evaluate",
    "fit",
    "init_ensemble",
    "init_train_state",
    "last_valid",
    "last_valid_cross_entropy",
    "last_valid_mse",
    "latest_step",
    "make_ensemble_step",
    "make_tbptt_step",
    "make_train_step",
    "masked_mean",
    "replicate",
    "restore_checkpoint",
    "save_checkpoint",
    "sequence_cross_entropy",
    "sequence_mask",
    "shard_batch",
]
