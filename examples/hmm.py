"""NumPyro's HMM example (``hmm_enum.py``), models 1 and 2, with the hidden states
enumerated inside ``scan``, on synthetic data: NUTS on the transition and emission
probabilities, the hidden states summed out by tensor contraction, then the most likely
hidden path (``infer_discrete``, Viterbi).

    python examples/hmm.py [--model 1|2] [--sequences 4] [--length 20] [--tones 3]
                           [--hidden 3] [--warmup 300] [--samples 300] [--seed 0]
                           [--markov] [--contraction auto|parallel|sequential]

Model 1 is an HMM whose tones (binary) are emitted independently given the hidden
state; model 2 makes each tone depend on the same tone at the step before too. As in
NumPyro, sequences of different lengths are masked past their ends, and the hidden state
``x`` sits at dim -3 (left of the plates ``sequences`` at -2 and ``tones`` at -1). The
time loop is ``scan`` (``from effects import scan``, NumPyro's
``numpyro.contrib.control_flow.scan``): it compiles once whatever the length. With
``--markov`` the same models run as a Python loop over ``markov(range(T))``
(``model_1_markov``, ``model_2_markov``; their compile time grows with T).
``model_1_forward`` is model 1 with the forward algorithm written by hand.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import dists as dist
import effects as numpyro
from dists.util import vindex
from effects import scan
from handlers import config_enumerate, markov, mask, substitute, trace
from inference import MCMC, NUTS, infer_discrete


def _priors(hidden: int, tones: int, y_shape: tuple[int, ...]):
    probs_x = numpyro.sample("probs_x", dist.Dirichlet(0.9 * jnp.eye(hidden) + 0.1).to_event(1))
    probs_y = numpyro.sample(
        "probs_y", dist.Beta(0.1, 0.9).expand(list(y_shape)).to_event(len(y_shape))
    )
    return probs_x, probs_y


@config_enumerate
def model_1(sequences, lengths, hidden=3, contraction="auto"):
    num_sequences, max_length, data_dim = sequences.shape
    probs_x, probs_y = _priors(hidden, data_dim, (hidden, data_dim))

    def transition(carry, y):
        x_prev, t = carry
        with numpyro.plate("sequences", num_sequences, dim=-2):
            with mask(mask=(t < lengths)[..., None]):
                x = numpyro.sample("x", dist.Categorical(probs_x[x_prev]))
                with numpyro.plate("tones", data_dim, dim=-1):
                    numpyro.sample("y", dist.Bernoulli(probs_y[jnp.squeeze(x, -1)]), obs=y)
        return (x, t + 1), None

    # The default int (int64 with x64 on), the dtype of a Categorical draw.
    x_init = jnp.zeros((num_sequences, 1), dtype=int)
    # The time axis of `sequences` moves to the front, to scan over it.
    init = (x_init, jnp.asarray(0))
    scan(transition, init, jnp.swapaxes(sequences, 0, 1), contraction=contraction)


@config_enumerate
def model_2(sequences, lengths, hidden=3, contraction="auto"):
    num_sequences, max_length, data_dim = sequences.shape
    probs_x, probs_y = _priors(hidden, data_dim, (hidden, 2, data_dim))

    def transition(carry, y):
        x_prev, y_prev, t = carry
        with numpyro.plate("sequences", num_sequences, dim=-2):
            with mask(mask=(t < lengths)[..., None]):
                x = numpyro.sample("x", dist.Categorical(probs_x[x_prev]))
                # To index probs_y by x and the previous y, the tones plate gives the
                # last index (as in NumPyro's model 2).
                with numpyro.plate("tones", data_dim, dim=-1) as tones:
                    numpyro.sample("y", dist.Bernoulli(probs_y[x, y_prev, tones]), obs=y)
        return (x, y.astype(jnp.int32), t + 1), None

    x_init = jnp.zeros((num_sequences, 1), dtype=int)
    y_init = jnp.zeros((num_sequences, data_dim), dtype=jnp.int32)
    init = (x_init, y_init, jnp.asarray(0))
    scan(transition, init, jnp.swapaxes(sequences, 0, 1), contraction=contraction)


@config_enumerate
def model_1_markov(sequences, lengths, hidden=3):
    """Model 1 with the time loop in Python (``markov``): one set of sites per step."""
    num_sequences, max_length, data_dim = sequences.shape
    probs_x, probs_y = _priors(hidden, data_dim, (hidden, data_dim))
    x = jnp.zeros((num_sequences, 1), dtype=jnp.int32)
    with numpyro.plate("sequences", num_sequences, dim=-2):
        for t in markov(range(max_length)):
            with mask(mask=(t < lengths)[..., None]):
                x = numpyro.sample(f"x_{t}", dist.Categorical(vindex(probs_x, (x,))))
                with numpyro.plate("tones", data_dim, dim=-1):
                    p = probs_y[jnp.squeeze(x, -1)]
                    numpyro.sample(f"y_{t}", dist.Bernoulli(p), obs=sequences[:, t])


@config_enumerate
def model_2_markov(sequences, lengths, hidden=3):
    """Model 2 with the time loop in Python (``markov``)."""
    num_sequences, max_length, data_dim = sequences.shape
    probs_x, probs_y = _priors(hidden, data_dim, (hidden, 2, data_dim))
    x = jnp.zeros((num_sequences, 1), dtype=jnp.int32)
    y = jnp.zeros((num_sequences, data_dim), dtype=jnp.int32)
    with numpyro.plate("sequences", num_sequences, dim=-2):
        for t in markov(range(max_length)):
            with mask(mask=(t < lengths)[..., None]):
                x = numpyro.sample(f"x_{t}", dist.Categorical(vindex(probs_x, (x,))))
                # To index probs_y by x and the previous y, the tones plate gives the
                # last index (as in NumPyro's model 2).
                with numpyro.plate("tones", data_dim, dim=-1) as tones:
                    p = vindex(probs_y, (x, y, tones))
                    obs = sequences[:, t]
                    numpyro.sample(f"y_{t}", dist.Bernoulli(p), obs=obs)
                    y = obs.astype(jnp.int32)


def model_1_forward(sequences, lengths, hidden=3):
    """Model 1 with the hidden states summed out by a hand-written forward algorithm."""
    num_sequences, max_length, data_dim = sequences.shape
    probs_x, probs_y = _priors(hidden, data_dim, (hidden, data_dim))
    log_x, log_y1, log_y0 = jnp.log(probs_x), jnp.log(probs_y), jnp.log1p(-probs_y)

    def step(alpha, inputs):
        y, t = inputs  # y: (sequences, tones)
        emit = y @ log_y1.T + (1.0 - y) @ log_y0.T  # (sequences, hidden)
        new = jax.nn.logsumexp(alpha[:, :, None] + log_x[None], axis=1) + emit
        return jnp.where((t < lengths)[:, None], new, alpha), None

    alpha0 = jnp.broadcast_to(jnp.log(jax.nn.one_hot(0, hidden)), (num_sequences, hidden))
    ts = jnp.arange(max_length)
    alpha, _ = jax.lax.scan(step, alpha0, (jnp.swapaxes(sequences, 0, 1), ts))
    numpyro.factor("hmm", jnp.sum(jax.nn.logsumexp(alpha, axis=-1)))


def synthetic(sequences: int, length: int, tones: int, hidden: int, seed: int, model: int):
    """Sequences drawn from a sticky HMM, with lengths between half and all of ``length``."""
    rng = np.random.default_rng(seed)
    trans = 0.8 * np.eye(hidden) + 0.2 / hidden
    emit = rng.beta(0.5, 0.5, (hidden, 2, tones))
    data = np.zeros((sequences, length, tones))
    for s in range(sequences):
        x, y = 0, np.zeros(tones, dtype=int)
        for t in range(length):
            x = rng.choice(hidden, p=trans[x])
            p = emit[x, y if model == 2 else 0, np.arange(tones)]
            y = (rng.random(tones) < p).astype(int)
            data[s, t] = y
    lengths = rng.integers(length // 2, length + 1, sequences)
    lengths[0] = length
    return jnp.asarray(data), jnp.asarray(lengths)


def run(model, data, lengths, hidden: int, warmup: int, samples: int, seed: int, **kwargs) -> MCMC:
    mcmc = MCMC(NUTS(model), num_warmup=warmup, num_samples=samples, progress_bar=False)
    mcmc.run(jax.random.key(seed), data, lengths, hidden, **kwargs)
    return mcmc


def viterbi(model, mcmc: MCMC, data, lengths, hidden: int, **kwargs):
    """The most likely hidden states given the posterior mean of the probabilities
    (``infer_discrete`` at temperature 0), shaped ``(time, sequences, 1)``."""
    means = {k: jnp.mean(v, axis=0) for k, v in mcmc.get_samples().items()}

    @jax.jit
    def decode(means, data, lengths):
        fixed = substitute(model, data=means)
        decoded = infer_discrete(fixed, temperature=0, first_available_dim=-3)
        return trace(decoded).get_trace(data, lengths, hidden, **kwargs)["x"].value

    return decode(means, data, lengths)


def main(argv: list[str] | None = None) -> MCMC:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=int, choices=(1, 2), default=1)
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--tones", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markov", action="store_true", help="the Python-loop versions")
    parser.add_argument("--contraction", choices=("auto", "parallel", "sequential"), default="auto")
    args = parser.parse_args(argv)
    data, lengths = synthetic(
        args.sequences, args.length, args.tones, args.hidden, args.seed, args.model
    )
    if args.markov:
        model = model_1_markov if args.model == 1 else model_2_markov
        kwargs = {}
    else:
        model = model_1 if args.model == 1 else model_2
        kwargs = {"contraction": args.contraction}
    mcmc = run(model, data, lengths, args.hidden, args.warmup, args.samples, args.seed, **kwargs)
    mcmc.print_summary()
    if not args.markov:
        path = viterbi(model, mcmc, data, lengths, args.hidden, **kwargs)
        print("most likely hidden states of sequence 0:", np.asarray(path[:, 0, 0]).tolist())
    return mcmc


if __name__ == "__main__":
    main()
