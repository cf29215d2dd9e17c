"""The model spec: one abstract run says what a model has."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dists as D
import proofs
from effects import deterministic, factor, param, plate, run, sample
from inference import model_spec


def model(x, y=None):
    scale = param("scale", jnp.ones(()), constraint=D.constraints.positive)
    w = sample("w", D.Normal(0.0, scale).expand([x.shape[1]]).to_event(1))
    simplex = sample("p", D.Dirichlet(jnp.ones(3)))
    with plate("groups", 2, dim=-2):
        with plate("N", x.shape[0]):
            z = sample("z", D.Bernoulli(0.5))
            sample("y", D.Normal(x @ w, 1.0), obs=y)
    deterministic("wsum", jnp.sum(w))
    factor("penalty", -jnp.sum(simplex**2))
    return z


def test_roles_shapes_plates_and_discreteness():
    x = np.zeros((4, 3))
    spec = model_spec(model, x, y=np.zeros((2, 4)))
    assert list(spec.latent) == ["w", "p", "z"]
    assert list(spec.observed) == ["y"] and list(spec.params) == ["scale"]
    assert list(spec.deterministic) == ["wsum"]
    assert [s.name for s in spec.sites if s.role == "factor"] == ["penalty"]
    w, p, z = spec.latent.values()
    assert (w.shape, w.event_dim, w.unconstrained_shape, w.family) == ((3,), 1, (3,), "Normal")
    assert (p.shape, p.unconstrained_shape, p.support) == ((3,), (2,), "Simplex")
    assert z.is_discrete and z.family == "Bernoulli" and z.unconstrained_shape is None
    assert list(spec.discrete_latent) == ["z"]
    assert [(q.name, q.dim, q.size) for q in z.plates] == [("N", -1, 4), ("groups", -2, 2)]
    assert spec.max_plate_nesting == 2
    assert spec.size == 5  # w (3) and p (2): the continuous latent sites
    assert "z: latent Bernoulli (2, 4) [N@-1, groups@-2]" in spec.summary()


def test_ravel_matches_what_mcmc_holds_and_refuses_bad_input():
    x = np.zeros((4, 3))
    spec = model_spec(model, x, y=np.zeros((2, 4)))
    u = {"w": jnp.arange(3.0), "p": jnp.array([0.5, -0.5])}
    flat = spec.ravel(u)
    np.testing.assert_array_equal(flat, jax.flatten_util.ravel_pytree(u)[0])
    np.testing.assert_array_equal(spec.unravel(flat)["w"], u["w"])
    with pytest.raises(ValueError, match=r"no value for the latent site\(s\) \['p'\]"):
        spec.ravel({"w": jnp.zeros(3)})
    with pytest.raises(ValueError, match="site 'w' has unconstrained shape \\(3,\\)"):
        spec.ravel({"w": jnp.zeros(2), "p": jnp.zeros(2)})
    with pytest.raises(ValueError, match=r"expected a vector of shape \(5,\)"):
        spec.unravel(jnp.zeros(4))


def test_the_init_path_reads_its_shapes_from_the_spec():
    def continuous(x):
        sample("w", D.Normal(0.0, 1.0).expand([x.shape[1]]).to_event(1))
        sample("s", D.LogNormal(0.0, 1.0))
        sample("L", D.LKJCholesky(3, 1.0))

    shapes = model_spec(continuous, np.zeros((4, 2))).unconstrained_shapes
    assert shapes == {"w": (2,), "s": (), "L": (3,)}


def test_the_spec_is_static_and_hashable():
    x = np.zeros((4, 3))
    a, b = model_spec(model, x), model_spec(model, x)
    assert hash(a) == hash(b) and a == b
    assert jax.tree.leaves(a) == []


# --------------------------------------------------------------------------------------
# every consumer reads one spec


class _Counted:
    """A model that counts its runs (Python side, so abstract runs count too)."""

    def __init__(self):
        self.runs = 0

    def __call__(self, sigma, y=None):
        self.runs += 1
        mu = sample("mu", D.Normal(0.0, 5.0))
        tau = sample("tau", D.HalfCauchy(5.0))
        with plate("J", sigma.shape[0]):
            theta = sample("theta", D.Normal(mu, tau))
            deterministic("theta2", 2.0 * theta)
            sample("obs", D.Normal(theta, sigma), obs=y)


SIGMA, Y = jnp.array([1.0, 2.0, 3.0]), jnp.array([0.5, -0.5, 1.0])


@pytest.fixture
def specs_built(monkeypatch):
    """How many specs were built (each is one abstract run of the model)."""
    from inference._model_spec import ModelSpec

    built = []
    real = ModelSpec.of_trace

    def counting(tr):
        spec = real(tr)
        built.append(spec)
        return spec

    monkeypatch.setattr(ModelSpec, "of_trace", staticmethod(counting))
    return built


def test_initialize_model_builds_one_spec_and_its_functions_run_the_model_once(specs_built):
    from inference import initialize_model

    m = _Counted()
    info = initialize_model(jax.random.key(0), m, model_args=(SIGMA, Y))
    assert len(specs_built) == 1
    spec = specs_built[0]
    assert info.model_spec == spec and set(info.param_info.z) == set(spec.continuous_latent)
    # The potential and the constrain function hold that spec: calling them builds no
    # other spec and runs the model exactly once (no prototype run of their own).
    for fn in (info.potential_fn, info.postprocess_fn):
        assert fn.spec == spec
        before = m.runs
        fn(info.param_info.z)
        assert m.runs == before + 1 and len(specs_built) == 1
    out = info.postprocess_fn(info.param_info.z)
    assert list(out) == ["mu", "tau", "theta", "theta2"]  # the spec's latent + deterministic


def test_unconstrain_reads_roles_from_the_spec_and_supports_from_a_run(specs_built):
    from inference import constrain_fn, unconstrain_fn

    params = {"tau": jnp.array(2.0), "theta": jnp.zeros(3)}
    u = unconstrain_fn(m := _Counted(), (SIGMA, Y), {}, {"mu": jnp.array(0.3), **params})
    assert len(specs_built) == 1
    np.testing.assert_allclose(u["tau"], np.log(2.0))
    back = constrain_fn(m, (SIGMA, Y), {}, u)
    np.testing.assert_allclose(back["tau"], 2.0)
    with pytest.raises(ValueError, match="unconstrain_fn: site 'obs' is an observed site.*Fix"):
        unconstrain_fn(m, (SIGMA, Y), {}, {"obs": Y})
    with pytest.raises(ValueError, match="site 'nope' is not a site of the model"):
        unconstrain_fn(m, (SIGMA, Y), {}, {"nope": Y})


def test_predictive_and_log_likelihood_build_one_spec_each(specs_built):
    from inference import Predictive, log_likelihood

    m = _Counted()
    draws = {"mu": jnp.zeros(4), "tau": jnp.ones(4), "theta": jnp.zeros((4, 3))}
    out = Predictive(m, draws)(jax.random.key(0), SIGMA)
    # One abstract run for the spec, one traced run under vmap.
    assert len(specs_built) == 1 and m.runs == 2
    assert set(out) == {"theta2", "obs"}  # unsampled sample sites + deterministic ones
    m.runs = 0
    ll = log_likelihood(m, draws, SIGMA, Y)
    assert len(specs_built) == 2 and m.runs == 2
    assert list(ll) == list(specs_built[-1].observed) == ["obs"]


def test_mcmc_run_reads_one_spec_and_summary_and_arviz_reuse_it(specs_built, capsys):
    pytest.importorskip("arviz")
    from inference import MCMC, NUTS, to_arviz

    m = _Counted()
    mcmc = MCMC(NUTS(m), num_warmup=20, num_samples=20, progress_bar=False)
    mcmc.run(jax.random.key(0), SIGMA, y=Y)
    assert len(specs_built) == 1 and mcmc.model_spec() == specs_built[0]
    mcmc.print_summary()  # deterministic sites left out, as the spec says
    printed = capsys.readouterr().out
    assert "theta[0]" in printed and "theta2" not in printed
    idata = to_arviz(mcmc, prior={"obs": np.zeros((5, 3)), "mu": np.zeros(5)})
    assert set(idata.prior_predictive.data_vars) == {"obs"}  # the spec's observed site
    assert set(idata.prior.data_vars) == {"mu"}
    assert set(idata.log_likelihood.data_vars) == {"obs"}
    # The summary, the export, the observed data and the likelihood built no spec.
    assert len(specs_built) == 1
    # A second run with new data of the same shapes reuses it; new shapes build another.
    mcmc.run(jax.random.key(1), SIGMA + 1.0, y=Y)
    assert len(specs_built) == 1
    mcmc.run(jax.random.key(1), jnp.ones(2), y=jnp.zeros(2))
    assert len(specs_built) == 2 and specs_built[1].latent["theta"].shape == (2,)
    assert mcmc.model_spec() == specs_built[1]


def test_every_consumer_agrees_with_the_spec_on_roles():
    # A model with every role: what each consumer returns is what the spec names.
    from inference import Predictive, initialize_model, log_likelihood

    def model(x, y=None):
        scale = param("scale", jnp.ones(()), constraint=D.constraints.positive)
        w = sample("w", D.Normal(0.0, scale).expand([x.shape[1]]).to_event(1))
        with plate("N", x.shape[0]):
            sample("y", D.Normal(x @ w, 1.0), obs=y)
        deterministic("wsum", jnp.sum(w))
        factor("penalty", -jnp.sum(w**2))

    x, y = jnp.ones((4, 2)), jnp.zeros(4)
    spec = model_spec(model, x, y)
    info = initialize_model(jax.random.key(0), model, model_args=(x, y))
    assert list(info.param_info.z) == list(spec.continuous_latent) == ["w"]
    assert list(info.postprocess_fn(info.param_info.z)) == ["w", "wsum"]
    prior = Predictive(model, num_samples=2)(jax.random.key(1), x)
    assert set(prior) == {*spec.latent, *spec.observed, *spec.deterministic} == {"w", "y", "wsum"}
    everything = Predictive(model, num_samples=2, return_sites="")(jax.random.key(1), x)
    assert set(everything) == {s.name for s in spec.sites}
    assert set(log_likelihood(model, {"w": jnp.zeros((2, 2))}, x, y)) == set(spec.observed)


def test_the_spec_gives_supports_transforms_and_init_values_from_a_trace():
    # What autoguides need: supports and bijections (from a concrete run: a support may
    # depend on another site), and unconstrained initial values.
    from handlers import seed, substitute, trace
    from inference import init_to_median

    def bounded():
        b = sample("b", D.Uniform(1.0, 2.0))
        sample("x", D.Uniform(0.0, b))
        with plate("N", 2):
            sample("k", D.Bernoulli(0.5), infer={"enumerate": "parallel"})

    spec = model_spec(bounded)
    assert list(spec.continuous_latent) == ["b", "x"] and list(spec.enumerated) == ["k"]
    _, (_, _, tr) = run(
        bounded, seed(jax.random.key(0)) >> substitute(substitute_fn=init_to_median()) >> trace()
    )()
    supports, transforms = spec.supports(tr), spec.transforms(tr)
    assert float(supports["x"].upper_bound) == float(tr["b"].value)
    u = spec.unconstrain(tr)
    np.testing.assert_allclose(transforms["x"](u["x"]), tr["x"].value, rtol=1e-12)
    assert spec.ravel(u).shape == (spec.size,) == (2,)
    with pytest.raises(ValueError, match="latent sample site 'x', but the trace has no site"):
        other = lambda: sample("b", D.Uniform(1.0, 2.0))  # noqa: E731
        spec.transforms(run(other, seed(jax.random.key(0)) >> trace())()[1][1])


def test_check_sampleable_names_what_a_sampler_lacks():
    def only_enumerated():
        k = sample("k", D.Bernoulli(0.5), infer={"enumerate": "parallel"})
        sample("y", D.Normal(k.astype(float), 1.0), obs=0.0)

    def unmarked():
        sample("k", D.Bernoulli(0.5))
        sample("x", D.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match=r"latent sites \['k'\] are all marked for enum.*Fix"):
        model_spec(only_enumerated).check_sampleable()
    with pytest.raises(ValueError, match="Site 'k' is a discrete latent variable \\(Bernoulli\\)"):
        model_spec(unmarked).check_sampleable()


def test_a_deterministic_pytree_has_no_one_shape():
    def tree():
        x = sample("x", D.Normal(0.0, 1.0))
        deterministic("pair", {"a": x, "b": (x, x)})

    info = model_spec(tree).deterministic["pair"]
    assert (info.shape, info.dtype) == ((), None)


def test_the_spec_sees_the_model_alone_whatever_handlers_are_in_force():
    from handlers import condition

    def m():
        sample("mu", D.Normal(0.0, 1.0))

    with condition(data={"mu": jnp.array(0.5)}, on_unknown="ignore"):
        spec = model_spec(m)  # asked for while a caller's handler is in force
    assert list(spec.latent) == ["mu"] and not spec.observed


@settings(deadline=None, max_examples=10)
@given(gen=proofs.model_specs(), seed=st.integers(0, 2**16))
def test_the_spec_and_a_run_and_predictive_agree_on_generated_models(gen, seed):
    # Roles, shapes and plates from the abstract run are those of a concrete run, and
    # Predictive, reading the spec, returns exactly the spec's sites.
    from handlers import seed as seed_handler, trace
    from inference import Predictive

    m = proofs.build_model(gen)
    spec = model_spec(m)
    key = jax.random.key(seed)
    _, (_, tr) = run(m, seed_handler(key) >> trace())()
    roles = {
        "sample": lambda s: "observed" if s.is_observed else "latent",
        "param": lambda s: "param",
        "deterministic": lambda s: "deterministic",
        "factor": lambda s: "factor",
    }
    seen = {n: roles[s.type_name](s) for n, s in tr.items() if s.type_name in roles}
    assert seen == {s.name: s.role for s in spec.sites}
    for s in spec.sites:
        if s.role in ("latent", "observed"):
            assert s.shape == tuple(jnp.shape(tr[s.name].value)), s.name
            assert [p.name for p in s.plates] == [f.name for f in tr[s.name].cond_indep_stack]
    out = Predictive(m, num_samples=1, return_sites="")(key)
    assert set(out) == {s.name for s in spec.sites}
