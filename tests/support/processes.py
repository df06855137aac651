"""Worker processes of tests/train/test_train_multiprocess.py: every scenario in one launch.

    PYTHONPATH=tests python tests/support/processes.py MODE OUT PROCESS_ID NUM_PROCESSES PORT

MODE "scenarios" runs data-parallel `fit`, truncated BPTT, a sharded ensemble, `evaluate`,
the errors and an uninterrupted 20-step run, writes OUT/scenarios_<id>.npz and .json, then
starts the same run with a checkpoint at step 10, writes OUT/ready_<id> after it and waits
to be killed. MODE "restart" resumes that run from the checkpoint. NUM_PROCESSES 1 (with
4 forced host devices) is the one-process reference: no `jax.distributed`, no kill.
"""

import functools
import json
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh

import jlstm
from jlstm import LSTMError, train
from support import train as model

GLOBAL_BATCH, TIME, HIDDEN, MEMBERS = 8, 6, 8, 4
OPTIMIZER = model.OPTIMIZER
init_params = functools.partial(model.init_params, hidden_size=HIDDEN)
fresh_state = functools.partial(model.fresh_state, hidden_size=HIDDEN)
global_batches = functools.partial(model.make_batches, batch=GLOBAL_BATCH, time=TIME)


def local_part(batches, rows=None):
    """This process's rows of each global batch: the global batch is the parts in order."""
    rows = rows or GLOBAL_BATCH // jax.process_count()
    start = jax.process_index() * rows
    return [jax.tree.map(lambda x: x[start : start + rows], batch) for batch in batches]


def host(tree):
    """Every leaf on the host (typed keys as their data), gathered over the processes."""

    def get(leaf):
        if not isinstance(leaf, jax.Array):
            return np.asarray(leaf)
        if leaf.is_fully_addressable or leaf.sharding.is_fully_replicated:
            return np.asarray(leaf)
        return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))

    return jax.tree.map(get, model.raw_keys(tree))


def flat(prefix, tree):
    paths = jax.tree_util.tree_flatten_with_path(host(tree))[0]
    return {prefix + jax.tree_util.keystr(path): leaf for path, leaf in paths}


def tbptt_run(mesh):
    streams = model.make_streams(3, batch=GLOBAL_BATCH, seed=1)
    step = train.make_tbptt_step(model.chunk_loss, OPTIMIZER, 4, init_carry=model.init_carry)
    return train.fit(step, fresh_state(), local_part(streams), mesh=mesh)


def accuracy(params, batch):
    xs, labels, lengths = batch
    _, hs = jlstm.lstm(params["lstm"], xs, lengths=lengths)
    logits = hs @ params["out"]
    hits = (jnp.argmax(logits, axis=-1) == labels) & train.sequence_mask(lengths, TIME)
    loss = train.sequence_cross_entropy(logits, labels, lengths)
    return {"hits": jnp.sum(hits).astype(jnp.float32), "loss": loss}


def ensemble_run(results):
    members = train.data_mesh(axis_name="member")
    keys = jax.random.split(jax.random.key(2), MEMBERS)
    state = train.init_ensemble(init_params, OPTIMIZER, keys, mesh=members)
    step = train.make_ensemble_step(model.loss_fn, OPTIMIZER, mesh=members)
    state, history = train.fit(step, state, global_batches(6, seed=3))  # replicated batches
    results.update(flat("ensemble", state.params), ensemble_losses=history.losses)
    held_out = global_batches(2, seed=4)
    grid = Mesh(np.asarray(jax.devices()).reshape(2, 2), ("member", "batch"))
    # On the (member, batch) grid each process holds whole batches; on data_mesh() halves.
    on_grid = train.evaluate(accuracy, state.params, held_out, mesh=grid)
    on_data = train.evaluate(accuracy, state.params, local_part(held_out), mesh=train.data_mesh())
    results.update(flat("evaluate_grid", on_grid), **flat("evaluate_data", on_data))
    if jax.process_count() == 1:
        unsharded = jax.device_put(host(state.params), jax.devices()[0])
        results.update(flat("evaluate_unsharded", train.evaluate(accuracy, unsharded, held_out)))


def error_of(run):
    try:
        run()
    except LSTMError as error:
        return f"{type(error).__name__}: {error}"
    return None


def errors(mesh, step):
    batches = global_batches(4, seed=5)
    here = jax.process_index()
    members = train.data_mesh(axis_name="member")
    keys = jax.random.split(jax.random.key(2), 3)
    found = {
        "indivisible": error_of(lambda: train.shard_batch(np.zeros((3, 2)), mesh)),
        "members": error_of(
            lambda: train.init_ensemble(init_params, OPTIMIZER, keys, mesh=members)
        ),
    }
    if jax.process_count() == 1:
        return found

    def stream(count):
        yield from local_part(batches[:count])

    found["count_list"] = error_of(
        lambda: train.fit(step, fresh_state(), local_part(batches)[: 3 + here], mesh=mesh)
    )
    found["count_generator"] = error_of(
        lambda: train.fit(step, fresh_state(), stream(2 + here), mesh=mesh)
    )
    found["shapes"] = error_of(
        lambda: train.fit(step, fresh_state(), local_part(batches, rows=4 - 2 * here), mesh=mesh)
    )
    found["local_mesh"] = error_of(
        lambda: train.fit(
            step, fresh_state(), local_part(batches), mesh=train.data_mesh(jax.local_devices())
        )
    )
    return found


def scenarios(out):
    mesh = train.data_mesh()
    step = train.make_train_step(model.loss_fn, OPTIMIZER)
    results = {}
    state = fresh_state()
    before = host(state)
    final, history = train.fit(
        step, state, local_part(global_batches(12)), mesh=mesh, checkpoint_dir=out / "fit"
    )
    kept = jax.tree.all(jax.tree.map(np.array_equal, host(state), before))
    replicated = all(leaf.sharding.is_fully_replicated for leaf in jax.tree.leaves(final))
    results.update(flat("fit", final), fit_losses=history.losses, kept=kept, replicated=replicated)
    if jax.process_count() == 1:  # the same run on one device, without a mesh
        alone, history = train.fit(step, fresh_state(), global_batches(12))
        results.update(flat("alone", alone), alone_losses=history.losses)
    final, history = tbptt_run(mesh)
    results.update(flat("tbptt", final.params), tbptt_losses=history.losses)
    ensemble_run(results)
    found = errors(mesh, step)
    batches = local_part(global_batches(20, seed=6))
    final, history = train.fit(step, fresh_state(), batches, mesh=mesh)
    results.update(flat("full", final.params), full_losses=history.losses)
    name = f"scenarios_{jax.process_index()}"
    np.savez(out / f"{name}.npz", **results)
    (out / f"{name}.json").write_text(json.dumps(found))
    if jax.process_count() == 1:
        # 200 steps dispatched on 4 CPU devices: without fit's limit on queued steps, XLA's
        # CPU collectives deadlocked ("Termination timeout for all gather").
        _, history = train.fit(step, fresh_state(), batches * 10, mesh=mesh)
        np.save(out / "long_losses.npy", history.losses)
        return

    def until_killed():
        for index, batch in enumerate(batches):
            if index == 10:  # the checkpoint after step 10 is complete
                (out / f"ready_{jax.process_index()}").touch()
                time.sleep(600)
            yield batch

    train.fit(
        step,
        fresh_state(),
        until_killed(),
        mesh=mesh,
        checkpoint_dir=out / "restart",
        checkpoint_every=10,
    )


def restart(out):
    mesh = train.data_mesh()
    step = train.make_train_step(model.loss_fn, OPTIMIZER)
    state = train.restore_checkpoint(out / "restart", train.replicate(fresh_state(), mesh))
    resumed_from = int(np.asarray(state.step))
    batches = local_part(global_batches(20, seed=6))[resumed_from:]
    final, history = train.fit(step, state, batches, mesh=mesh)
    np.savez(
        out / f"restart_{jax.process_index()}.npz",
        **flat("restart", final.params),
        restart_losses=history.losses,
        resumed_from=resumed_from,
    )


def main(mode, out, process_id, num_processes, port):
    jax.config.update("jax_numpy_rank_promotion", "raise")
    if num_processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{port}",
            num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=60,
        )
    {"scenarios": scenarios, "restart": restart}[mode](pathlib.Path(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6]))
