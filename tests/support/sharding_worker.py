"""Run jlstm on 4 forced host devices: shard_map, sharded meshes and jax.export.

Started by tests/test_sharding.py in its own process (the device count is fixed when JAX
starts); prints one JSON object: case name -> max relative error against one device.
"""

import json
import os


def cases():
    import jax
    import jax.numpy as jnp
    from jax import export
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    import jlstm

    key = jax.random.key(0)
    params = jlstm.init_lstm(key, 3, 5, proj_size=4)
    two = jlstm.Bidirectional(jlstm.init_lstm(key, 3, 4), jlstm.init_lstm(jax.random.key(1), 3, 4))
    xs = jax.random.normal(jax.random.key(2), (8, 6, 3))
    lengths = jnp.array([6, 3, 0, 1, 6, 5, 4, 2])
    mask = jax.random.bernoulli(jax.random.key(3), 0.7, (8, 6))
    state = jlstm.LSTMState(jnp.full((8, 4), 0.1), jnp.full((8, 5), 0.2))
    layers = {
        "lstm": lambda x, s, **o: jlstm.lstm(params, x, s, **o),
        "bidirectional": lambda x, s, **o: jlstm.bidirectional(two, x, **o),
        "stack": lambda x, s, **o: jlstm.stack(
            (params, params._replace(weight_ih=params.weight_ih[:, :3] @ jnp.ones((3, 4)))), x, **o
        ),
    }
    options = {
        "plain": {},
        "lengths": {"lengths": lengths},
        "mask": {"mask": mask},
        "bf16": {"dtype": jnp.bfloat16},
        "remat": {"lengths": lengths, "remat": True},  # chunks of 3 steps
        "reverse": {"lengths": lengths, "reverse": True},
        "reverse remat": {"lengths": lengths, "reverse": True, "remat": True},
    }

    def loss(layer, x, s, n, m, name):
        opts = options[name]
        o = dict(opts, **({"lengths": n} if "lengths" in opts else {}))
        o.update({"mask": m} if "mask" in opts else {})
        _, ys = layers[layer](x, s, **o)
        return jnp.sum(jnp.sin(ys.astype(jnp.float32)))

    def value_and_grad(layer, name, x, s, n, m):
        return jax.value_and_grad(loss, argnums=(1, 2))(layer, x, s, n, m, name)

    mesh = jax.make_mesh((4,), ("b",), axis_types=(AxisType.Auto,))
    out = {}
    shard_map_cases = [("lstm", name) for name in ("lengths", "bf16", "reverse")]
    shard_map_cases += [("bidirectional", "lengths"), ("bidirectional", "remat"), ("stack", "mask")]
    for layer, name in shard_map_cases:
        with_state = layer == "lstm"
        s = state if with_state else None
        reference = value_and_grad(layer, name, xs, s, lengths, mask)

        def local(x, s, n, m, layer=layer, name=name):
            value, grads = value_and_grad(layer, name, x, s, n, m)
            return jax.lax.psum(value, "b"), grads

        spec = (P("b"), P("b") if with_state else None, P("b"), P("b"))
        sharded = jax.jit(
            jax.shard_map(local, mesh=mesh, in_specs=spec, out_specs=(P(), (P("b"), spec[1])))
        )
        out[f"shard_map {layer} {name}"] = (sharded(xs, s, lengths, mask), reference, name)
    # An Explicit mesh with and without lengths and with a replicated state; an Auto one once.
    for axis_type, names in (
        (AxisType.Explicit, ("plain", "lengths", "remat", "reverse remat")),
        (AxisType.Auto, ("lengths",)),
    ):
        m = jax.make_mesh((4,), ("b",), axis_types=(axis_type,))
        put = lambda a, m=m: jax.device_put(a, NamedSharding(m, P("b")))  # noqa: E731
        for name in names:
            with jax.set_mesh(m):
                got = jax.jit(value_and_grad, static_argnums=(0, 1))(
                    "lstm", name, put(xs), None, put(lengths), put(mask)
                )
            reference = value_and_grad("lstm", name, xs, None, lengths, mask)
            out[f"{axis_type.name} mesh lstm {name}"] = (got, reference, name)
        if axis_type == AxisType.Auto:
            continue
        with jax.set_mesh(m):
            got = jax.jit(value_and_grad, static_argnums=(0, 1))(
                "lstm", "plain", put(xs), state, lengths, mask
            )
        out[f"{axis_type.name} mesh lstm replicated state"] = (
            got,
            value_and_grad("lstm", "plain", xs, state, lengths, mask),
            "plain",
        )
    b, t = export.symbolic_shape("b, t")
    symbolic = (
        jax.ShapeDtypeStruct((b, t, 3), jnp.float32),
        None,
        jax.ShapeDtypeStruct((b,), jnp.int32),
        jax.ShapeDtypeStruct((b, t), bool),
    )
    for name in ("plain", "mask"):
        fn = jax.jit(lambda x, s, n, m, name=name: value_and_grad("lstm", name, x, s, n, m))
        exported = export.export(fn)(*symbolic)
        got = exported.call(xs[:5, :4], None, lengths[:5].clip(0, 4), mask[:5, :4])
        out[f"export lstm {name}"] = (
            got,
            fn(xs[:5, :4], None, lengths[:5].clip(0, 4), mask[:5, :4]),
            name,
        )
    return out


def relative(got, reference):
    import jax
    import jax.numpy as jnp

    errors = [
        float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))))
        / max(float(jnp.max(jnp.abs(b.astype(jnp.float32)))), 1e-30)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(reference), strict=True)
    ]
    return max(errors)


if __name__ == "__main__":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    results = {name: relative(got, ref) for name, (got, ref, _) in cases().items()}
    print(json.dumps(results))
