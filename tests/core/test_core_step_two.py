"""The core's second step: one frame module, control flow and plates as effects that a
user's handler can reinterpret, and batch dims as pipeline state."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D
from effects import (
    AllocateDim,
    Cond,
    Effect,
    Handler,
    Plate,
    Scan,
    ScanStep,
    cond,
    perform,
    plate,
    run,
    sample,
    scan,
)
from handlers import condition, dims, factors, mask, seed, sum_factors, trace

EFFECTS = Path(__file__).resolve().parents[2] / "effects"

# --------------------------------------------------------------------------------------
# One frame module, no import circle


def _runtime_nodes(node: ast.AST):
    """Every node under ``node`` except those in ``if TYPE_CHECKING:`` blocks (imports for
    the type checker only, never run)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
            continue
        yield child
        yield from _runtime_nodes(child)


def _relative_imports(path: Path) -> set[str]:
    out = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module)
            else:
                out.update(a.name for a in node.names)
    return out


def test_effects_has_no_import_circle():
    graph = {p.stem: _relative_imports(p) for p in EFFECTS.glob("*.py") if p.stem != "__init__"}

    def visit(node, path):
        if node in path:
            raise AssertionError(f"import circle in effects/: {' -> '.join(path + [node])}")
        for nxt in graph.get(node, ()):
            visit(nxt, path + [node])

    for module in graph:
        visit(module, [])
    # Imports inside functions count too (a lazy import is still a circle).
    assert "_runtime" not in graph["_handler"]


def test_only_the_frame_module_touches_the_context_variable():
    for path in EFFECTS.glob("*.py"):
        text = path.read_text()
        if path.stem == "_frame":
            assert "ContextVar" in text
            continue
        assert "_FRAME" not in text and "ContextVar" not in text, path.name


# --------------------------------------------------------------------------------------
# A user's handler that gives Scan another meaning (written as a user would, outside the
# library): run the body as a Python loop, and count the steps it ran in its own state.


class CountingUnroll(Handler):
    handles: ClassVar = (Scan,)

    def init_state(self):
        return 0

    def process(self, msg, steps_run):
        n = msg.length if msg.length is not None else jax.tree.leaves(msg.xs)[0].shape[0]
        carry, ys = msg.init, []
        for t in range(n):
            with ScanStep(jnp.asarray(t), n):  # tag the step, as the default scan does
                carry, y = msg.fn(carry, jax.tree.map(lambda a, t=t: a[t], msg.xs))
            ys.append(y)
        return msg.replace(value=(carry, jnp.stack(ys))), steps_run + n


def random_walk(T):
    def step(x, _):
        x = sample("x", D.Normal(x, 1.0))
        return x, x

    return scan(step, jnp.zeros(()), None, length=T)[1]


def test_a_users_handler_reinterprets_scan():
    key = jax.random.key(3)
    default = run(random_walk, seed(key))(5)[0]
    unrolled, (_, steps) = run(random_walk, seed(key) >> CountingUnroll())(5)
    assert steps == 5
    # The same keys per step (site name and step number), so the same path.
    np.testing.assert_allclose(unrolled, default)
    # And it is a Python loop: no lax.scan in the program.
    jaxpr = jax.make_jaxpr(lambda k: run(random_walk, seed(k) >> CountingUnroll())(5)[0])(key)
    assert "scan" not in str(jaxpr)
    jaxpr = jax.make_jaxpr(lambda k: run(random_walk, seed(k))(5)[0])(key)
    assert "scan" in str(jaxpr)


def test_scan_outside_any_handler_is_lax_scan():
    out = scan(lambda c, x: (c + x, c), 0.0, jnp.arange(4.0))
    np.testing.assert_allclose(out[0], 6.0)
    np.testing.assert_allclose(out[1], [0.0, 0.0, 1.0, 3.0])


class TakeTrueBranch(Handler):
    """Gives Cond the meaning 'always the true branch' (a user's handler)."""

    handles: ClassVar = (Cond,)

    def process(self, msg, state):
        return msg.replace(value=msg.true_fun(*msg.operands)), state


def test_a_users_handler_reinterprets_cond():
    def model(flag):
        return cond(flag, lambda x: sample("a", D.Normal(x, 1.0)), lambda x: x - 100.0, 0.0)

    key = jax.random.key(0)
    assert float(run(model, seed(key))(False)[0]) == -100.0
    out = run(model, seed(key) >> TakeTrueBranch())(False)[0]
    assert abs(float(out)) < 10.0


def test_scan_and_cond_are_anonymous_effects_that_trace_does_not_record():
    def model():
        scan(lambda c, _: (c, sample("x", D.Normal(0.0, 1.0))), 0.0, None, length=2)
        cond(True, lambda: sample("y", D.Normal(0.0, 1.0)), lambda: sample("y", D.Normal(0.0, 1.0)))

    tr = trace(seed(model, rng_seed=0)).get_trace()
    assert list(tr) == ["x", "y"]
    assert tr["x"].value.shape == (2,)


# --------------------------------------------------------------------------------------
# Plates as effects


class MovePlate(Handler):
    """A user's handler that moves plate 'b' to dim -3."""

    handles: ClassVar = (Plate,)

    def process(self, msg, state):
        if msg.name == "b":
            return msg.replace(dim=-3), state
        return msg, state


def test_a_handler_can_give_a_plate_another_dim():
    def model():
        with plate("a", 2):
            with plate("b", 3):
                return sample("x", D.Normal(0.0, 1.0))

    assert seed(model, rng_seed=0)().shape == (3, 2)
    x = run(model, seed(jax.random.key(0)) >> MovePlate())()[0]
    assert x.shape == (3, 1, 2)


# --------------------------------------------------------------------------------------
# Dims as pipeline state


def nested(order=("a", "b", "c")):
    def model():
        with plate(order[0], 2):
            with plate(order[1], 3):
                x = sample("x", D.Normal(0.0, 1.0))
            with plate(order[2], 4):
                y = sample("y", D.Normal(0.0, 1.0))
        return x, y

    return model


@pytest.mark.parametrize("bounded", [None, 2, 5])
def test_plates_take_dims_from_the_right_and_free_them_on_exit(bounded):
    pipe = seed(jax.random.key(0)) >> dims(max_plate_nesting=bounded) >> trace()
    (x, y), (_, _, tr) = run(nested(), pipe)()
    assert x.shape == (3, 2) and y.shape == (4, 2)
    assert [(f.name, f.dim) for f in tr["x"].cond_indep_stack] == [("b", -2), ("a", -1)]
    # 'b' exited before 'c' entered: 'c' gets -2 again.
    assert [(f.name, f.dim) for f in tr["y"].cond_indep_stack] == [("c", -2), ("a", -1)]


def test_enumeration_dims_are_reserved_left_of_max_plate_nesting():
    def model():
        z0 = perform(AllocateDim("z0", "enum")).value
        with plate("a", 2):
            with plate("b", 3):
                z1 = perform(AllocateDim("z1", "enum")).value
        return z0, z1

    out = run(model, dims(max_plate_nesting=2))()[0]
    assert out == (-3, -4)


def test_a_plate_past_max_plate_nesting_names_itself_and_the_dims_in_use():
    with pytest.raises(
        ValueError, match=r"plate 'b' needs dim -2.*max_plate_nesting=1.*-1 \(plate 'a'\)"
    ):
        run(nested(), seed(jax.random.key(0)) >> dims(max_plate_nesting=1))()


def test_a_dim_clash_names_both_owners():
    def model():
        perform(AllocateDim("z", "enum"))
        with plate("a", 2, dim=-2):
            pass

    with pytest.raises(ValueError, match="dim -2.*enumerated site 'z'"):
        run(model, dims(max_plate_nesting=1))()

    def model2():
        perform(AllocateDim("z", "enum", dim=-1))

    with pytest.raises(ValueError, match=r"enumeration dim -1.*plates' region -2\.\.-1"):
        run(model2, dims(max_plate_nesting=2))()


def test_enumeration_dims_need_a_dims_handler_or_max_plate_nesting():
    def model():
        return perform(AllocateDim("z", "enum")).value

    with pytest.raises(ValueError, match="no dims handler"):
        run(model, seed(jax.random.key(0)))()
    with pytest.raises(ValueError, match="max_plate_nesting is not known"):
        run(model, dims())()


def test_dims_pass_through_jit_vmap_and_scan():
    def model(y):
        def step(c, yt):
            with plate("n", 3):
                x = sample("x", D.Normal(c, 1.0), obs=yt)
            return c + 1.0, x

        return scan(step, 0.0, y)[1]

    y = jnp.ones((4, 3))
    pipe = dims(max_plate_nesting=1) >> condition({}) >> trace()
    out = jax.jit(lambda p, y: run(model, p)(y))(pipe, y)
    assert out[1][-1]["x"].value.shape == (4, 3)
    keys = jax.random.split(jax.random.key(0), 2)
    draws = jax.vmap(lambda k: run(model, seed(k) >> dims(max_plate_nesting=1))(y)[0])(keys)
    assert draws.shape == (2, 4, 3)


def test_effects_must_declare_their_fields():
    with pytest.raises(TypeError, match=r"does not declare the field\(s\) \['stop'\]"):

        class Incomplete(Effect):
            name: str
            value: object = None

    class Abstract(Effect, abstract=True):  # an abstract base may leave them out
        pass

    assert Abstract.indexed is False


# --------------------------------------------------------------------------------------
# Log-density factors


def hmm_like():
    def step(c, _):
        with plate("n", 2):
            x = sample("x", D.Normal(c, 1.0), obs=jnp.zeros(2))
        return c + 1.0, x

    with plate("m", 3):
        sample("z", D.Normal(0.0, 1.0).expand([3, 4]).to_event(1))
    scan(step, 0.0, None, length=5)


def test_factors_label_plates_and_time_and_sum_to_the_log_joint():
    from scipy import stats

    from inference import LogJoint

    key = jax.random.key(1)
    _, (_, fs, tr, lj) = run(hmm_like, seed(key) >> factors() >> trace() >> LogJoint())()
    z, x = fs
    assert z.dims == (("plate", "m"),) and z.log_density.shape == (3,)
    assert x.dims == (("time", None), ("plate", "n")) and x.log_density.shape == (5, 2)
    c = np.arange(5.0)[:, None]
    expected = (
        stats.norm.logpdf(np.asarray(tr["z"].value)).sum() + 2 * stats.norm.logpdf(0.0, c).sum()
    )
    np.testing.assert_allclose(sum_factors(fs), expected, rtol=1e-10)
    np.testing.assert_allclose(lj, expected, rtol=1e-10)
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-10)


def test_factors_keep_mask_and_scale_beside_the_log_density():
    def model():
        with plate("n", 3, subsample_size=1):
            with mask(mask=jnp.array([True])):
                sample("x", D.Normal(0.0, 1.0), obs=jnp.array([0.5]))

    _, (_, (f,)) = run(model, seed(jax.random.key(0)) >> factors())()
    assert f.scale == 3.0 and bool(f.mask[0])
    np.testing.assert_allclose(f.log_density, [-0.5 * 0.25 - 0.5 * np.log(2 * np.pi)])
    np.testing.assert_allclose(f.total(), 3 * f.log_density[0])


def test_a_sum_refuses_an_enumerated_dim_and_names_the_site():
    from inference import LogJoint, log_density

    def model():
        sample(
            "c",
            D.Categorical(probs=jnp.array([0.3, 0.7])),
            obs=jnp.array([0, 1]).reshape(2),
            infer={"dim_labels": {-1: "c"}},
        )

    with pytest.raises(ValueError, match="Site 'c'.*labelled 'enum'.*contract"):
        run(model, LogJoint())()
    with pytest.raises(ValueError, match="Site 'c'"):
        log_density(model, (), {}, {})
    _, (fs,) = run(model, factors())()  # recording them is fine
    assert fs[0].dims == (("enum", "c"),)
