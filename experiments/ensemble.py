"""Train an ensemble of LSTMs with different seeds in one compiled program.

The task: read a variable-length sequence of numbers (right-padded, with `lengths`) and
say whether its sum is positive. `jlstm.train.init_ensemble` stacks N models,
`make_ensemble_step` `jax.vmap`s one training step over them, and `fit` runs it; every
member ends where a separate run with its seed would. With several devices the members are
split over them (a mesh with a "member" axis). `train.evaluate` measures every member's
held-out accuracy, with the held-out batches split over the devices, and equals the
evaluation on one device. Prints the accuracies, checks that member 0 trained alone follows
the same losses, and compares the ensemble's speed with that of one model.

Run: python experiments/ensemble.py [--models N] [--steps S] [--hidden H] [--seed S]
On 4 forced CPU devices: XLA_FLAGS=--xla_force_host_platform_device_count=4 python ...
"""

from __future__ import annotations

import argparse
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jlstm
from jlstm import train

BATCH, MAX_TIME = 32, 12


@partial(jax.jit, static_argnums=1)
def make_batch(key: jax.Array, batch_size: int = BATCH) -> tuple[jax.Array, ...]:
    """`(xs, labels, lengths)`: `(batch, MAX_TIME, 1)` padded numbers, sign of their sum."""
    key_xs, key_lengths = jax.random.split(key)
    xs = jax.random.uniform(key_xs, (batch_size, MAX_TIME, 1), jnp.float32, -1.0, 1.0)
    lengths = jax.random.randint(key_lengths, (batch_size,), 1, MAX_TIME + 1)
    xs = jnp.where(train.sequence_mask(lengths, MAX_TIME)[..., None], xs, jnp.zeros_like(xs))
    labels = (jnp.sum(xs, axis=(1, 2)) > 0).astype(jnp.int32)
    return xs, labels, lengths


def init_params(key: jax.Array, hidden_size: int) -> dict:
    """An LSTM and a linear read-out to two classes."""
    key_lstm, key_out = jax.random.split(key)
    readout = jax.nn.initializers.glorot_uniform()(key_out, (hidden_size, 2), jnp.float32)
    return {"lstm": jlstm.init_lstm(key_lstm, 1, hidden_size), "readout": readout}


def logits(params: dict, xs: jax.Array, lengths: jax.Array) -> jax.Array:
    """`(batch, time, 2)` per-step class logits."""
    _, hs = jlstm.lstm(params["lstm"], xs, lengths=lengths)
    return hs @ params["readout"]


def loss_fn(params: dict, batch: tuple[jax.Array, ...], key: jax.Array) -> tuple[jax.Array, None]:
    """Cross-entropy of each sequence's last valid step."""
    xs, labels, lengths = batch
    return train.last_valid_cross_entropy(logits(params, xs, lengths), labels, lengths), None


def accuracy(params: dict, batch: tuple[jax.Array, ...]) -> dict:
    xs, labels, lengths = batch
    last = train.last_valid(logits(params, xs, lengths), lengths)
    return {"accuracy": jnp.mean(jnp.argmax(last, axis=-1) == labels)}


def batches(seed: int):
    """An endless stream of fresh training batches."""
    key = jax.random.key(seed)
    while True:
        key, batch_key = jax.random.split(key)
        yield make_batch(batch_key)


def main(num_models: int = 8, steps: int = 300, hidden_size: int = 16, seed: int = 0) -> dict:
    """Train the ensemble, then its first member alone; print and return what they reached."""
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
    keys = jax.random.split(jax.random.key(seed), num_models)
    held_out = [make_batch(key) for key in jax.random.split(jax.random.key(seed + 1), 16)]
    devices = jax.device_count()
    # Split the members over the devices when they divide evenly; else all on one device.
    mesh = train.data_mesh(axis_name="member") if num_models % devices == 0 else None
    batch_mesh = train.data_mesh() if mesh else None  # held-out batches over the devices

    def evaluate(state: train.TrainState) -> dict:
        return train.evaluate(accuracy, state.params, held_out, mesh=batch_mesh)

    init = partial(init_params, hidden_size=hidden_size)
    state = train.init_ensemble(init, optimizer, keys, mesh=mesh)
    first = jax.device_get(train.ensemble_member(state, 0))
    state, history = train.fit(
        train.make_ensemble_step(loss_fn, optimizer, mesh=mesh),
        state,
        batches(seed),
        num_steps=steps,
        eval_fn=evaluate,
    )
    member_accuracy = history.metrics[-1][1]["accuracy"]
    on_one_device = train.evaluate(accuracy, jax.device_get(state.params), held_out)
    evaluation_deviation = float(np.max(np.abs(on_one_device["accuracy"] - member_accuracy)))
    _, alone = train.fit(
        train.make_train_step(loss_fn, optimizer), first, batches(seed), num_steps=steps
    )
    deviation = float(np.max(np.abs(alone.losses - history.losses[:, 0])))

    where = f"split over {devices} devices" if mesh else "on one device"
    print(f"{num_models} LSTMs (hidden {hidden_size}) {where}, {steps} steps of batch {BATCH}")
    for i, (loss, acc) in enumerate(zip(history.losses[-1], member_accuracy, strict=True)):
        print(f"  model {i}: final loss {loss:.4f}  held-out accuracy {acc:.3f}")
    print(f"  mean accuracy {np.mean(member_accuracy):.3f} +- {np.std(member_accuracy):.3f}")
    print(f"model 0 trained alone: max loss difference to its ensemble run {deviation:.1e}")
    print(f"evaluation on one device: max accuracy difference {evaluation_deviation:.1e}")
    print(
        f"ensemble: {history.steps_per_second:.1f} steps/s "
        f"({history.steps_per_second * num_models:.1f} model-steps/s); "
        f"one model alone: {alone.steps_per_second:.1f} steps/s"
    )
    return {
        "losses": history.losses,
        "accuracy": np.asarray(member_accuracy),
        "alone_deviation": deviation,
        "evaluation_deviation": evaluation_deviation,
        "steps_per_second": history.steps_per_second,
        "single_steps_per_second": alone.steps_per_second,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8, help="ensemble size")
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--hidden", type=int, default=16, help="hidden size of each LSTM")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    args = parser.parse_args()
    main(num_models=args.models, steps=args.steps, hidden_size=args.hidden, seed=args.seed)
