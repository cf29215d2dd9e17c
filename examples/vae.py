"""A variational autoencoder on scikit-learn's 8x8 digits, with Equinox networks.

    python examples/vae.py [--steps 4000] [--out DIR] [--short]

The decoder is part of the model and the encoder part of the guide; ``eqx_module`` makes
each network's weights one ``param`` site, held by SVI like any other parameter. The
data set ships with scikit-learn (nothing is downloaded); pixels are binarised (above 8 of
16) for a Bernoulli likelihood. Each SVI step takes a minibatch through a subsampled
``plate``; the guide sees the same indices (``replay``), and the plate's scale makes the
ELBO an unbiased estimate for the whole data set. Training runs as compiled chunks of
``svi.run`` (one program, reused), printing the ELBO per digit after each; at the end a
PNG shows test digits (top row) and their reconstructions (bottom row).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import dists as D
from effects import plate, sample
from inference import SVI, Trace_ELBO, eqx_module, optim

Z_DIM = 4
HIDDEN = 64
BATCH = 128


def load_data(seed: int = 0) -> tuple[jax.Array, jax.Array]:
    from sklearn.datasets import load_digits

    images = load_digits().data  # (1797, 64), values 0..16
    binary = images > 8
    order = np.random.default_rng(seed).permutation(len(binary))
    train, test = binary[order[:1500]], binary[order[1500:]]
    dtype = jnp.result_type(float)  # the networks' dtype (float64 when x64 is on)
    return jnp.asarray(train, dtype), jnp.asarray(test, dtype)


def make_networks(key: jax.Array) -> tuple[eqx.Module, eqx.Module]:
    k1, k2 = jax.random.split(key)
    encoder = eqx.nn.MLP(64, 2 * Z_DIM, HIDDEN, depth=2, activation=jax.nn.softplus, key=k1)
    decoder = eqx.nn.MLP(Z_DIM, 64, HIDDEN, depth=2, activation=jax.nn.softplus, key=k2)
    return encoder, decoder


ENCODER, DECODER = make_networks(jax.random.key(0))


def model(x):
    decoder = eqx_module("decoder", DECODER)
    with plate("N", x.shape[0], subsample_size=min(BATCH, x.shape[0])) as idx:
        z = sample("z", D.Normal(jnp.zeros(Z_DIM), 1.0).to_event(1))
        logits = jax.vmap(decoder)(z)
        sample("x", D.Bernoulli(logits=logits).to_event(1), obs=x[idx])


def guide(x):
    encoder = eqx_module("encoder", ENCODER)
    with plate("N", x.shape[0], subsample_size=min(BATCH, x.shape[0])) as idx:
        out = jax.vmap(encoder)(x[idx])
        loc, log_scale = out[:, :Z_DIM], out[:, Z_DIM:]
        sample("z", D.Normal(loc, jnp.exp(log_scale)).to_event(1))


def reconstruct(params: dict, x: jax.Array) -> jax.Array:
    """Pixel probabilities of ``x``'s reconstructions through the encoder's mean."""
    encoder = eqx.combine(
        params["encoder"], eqx.filter(ENCODER, eqx.is_inexact_array, inverse=True)
    )
    decoder = eqx.combine(
        params["decoder"], eqx.filter(DECODER, eqx.is_inexact_array, inverse=True)
    )
    loc = jax.vmap(encoder)(x)[:, :Z_DIM]
    return jax.nn.sigmoid(jax.vmap(decoder)(loc))


def save_reconstructions(params: dict, test: jax.Array, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = 10
    probs = np.asarray(reconstruct(params, test[:n]))
    fig, axes = plt.subplots(2, n, figsize=(n, 2.2))
    for i in range(n):
        for row, img in ((0, np.asarray(test[i])), (1, probs[i])):
            axes[row, i].imshow(img.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            axes[row, i].axis("off")
    fig.suptitle("test digits (top) and their reconstructions (bottom)")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def test_elbo(svi: SVI, state, test: jax.Array) -> float:
    """The ELBO per digit on held-out digits (one batch, the state's key)."""
    return -float(svi.evaluate(state, test)) / test.shape[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--chunks", type=int, default=10, help="ELBO printed after each")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--short", action="store_true", help="a quick run (200 steps)")
    args = parser.parse_args(argv)
    steps = 200 if args.short else args.steps
    chunk = max(steps // args.chunks, 1)

    train, test = load_data()
    svi = SVI(model, guide, optim.Adam(args.lr), Trace_ELBO())
    state = svi.init(jax.random.key(1), train)
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        result = svi.run(None, n, train, init_state=state, progress_bar=False)
        state, done = result.state, done + n
        elbo = -float(jnp.mean(result.losses)) / train.shape[0]
        held_out = test_elbo(svi, state, test)
        print(f"step {done:5d}  ELBO per digit: train {elbo:8.3f}  test {held_out:8.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = save_reconstructions(svi.get_params(state), test, args.out / "vae_reconstructions.png")
    print(f"reconstructions saved to {path.resolve()}")


if __name__ == "__main__":
    main()
