"""Reference side of `npm run crosscheck`: clusters the matrix bench/crosscheck.ts wrote with scikit-learn.

usage: python3 bench/crosscheck.py <matrix.npy> <params.json>

params.json: {"k", "restarts", "max_iter", "tol", "random_state", "other_random_states", "dbscan": null | {"eps", "min_samples",
"algorithm", "our_labels": [...]}, "pca": bool}. Prints one JSON object on stdout. Used for the check only: never a
runtime dependency of the product.
"""

import json
import math
import os
import sys
import time

import numpy as np
import sklearn
from sklearn.cluster import DBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score


def noise_as_singletons(labels):
    """Each noise point (-1) its own label, after every cluster label."""
    out = np.asarray(labels, dtype=np.int64).copy()
    top = int(out.max()) + 1 if out.size else 0
    noise = np.flatnonzero(out < 0)
    out[noise] = top + np.arange(noise.size)
    return out


def main():
    matrix = np.load(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        params = json.load(f)
    out = {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "rows": int(matrix.shape[0]),
        "cols": int(matrix.shape[1]),
    }

    k = params["k"]

    def kmeans(seed):
        return KMeans(
            n_clusters=k,
            n_init=params["restarts"],
            init="k-means++",
            algorithm="lloyd",
            max_iter=params["max_iter"],
            tol=params["tol"],
            random_state=seed,
        ).fit(matrix)

    # Every seed's fit is timed (the machine may be shared; the minimum is the figure) and its inertia
    # kept: how much scikit-learn's own best of n_init moves with its seed is the ratio's noise floor.
    inertias = []
    times = []
    cpu_times = []
    km = None
    for seed in [params["random_state"], *params.get("other_random_states", [])]:
        start = time.perf_counter()
        cpu_start = time.process_time()
        fitted = kmeans(seed)
        times.append((time.perf_counter() - start) * 1000)
        cpu_times.append((time.process_time() - cpu_start) * 1000)
        inertias.append(float(fitted.inertia_))
        km = km or fitted
    others = inertias[1:]
    ms = min(times)
    out["kmeans"] = {
        "k": k,
        "inertia": float(km.inertia_),
        "iterations": int(km.n_iter_),
        "ms": ms,
        "ms_median": float(np.median(times)),
        "cpu_ms": min(cpu_times),
        "inertia_other_random_states": others,
    }

    warm = params.get("warm")
    if warm is not None:
        # A periodic run on an unchanged fleet: one Lloyd fit from the given centres (ours: the previous
        # run's clusters), n_init=1. Timed over several repeats; the least is the figure.
        init = np.asarray(warm["init"], dtype=np.float64)
        times, cpu_times = [], []
        for _ in range(warm.get("repeats", 5)):
            start = time.perf_counter()
            cpu_start = time.process_time()
            fitted = KMeans(n_clusters=init.shape[0], init=init, n_init=1, algorithm="lloyd", max_iter=params["max_iter"], tol=params["tol"]).fit(matrix)
            times.append((time.perf_counter() - start) * 1000)
            cpu_times.append((time.process_time() - cpu_start) * 1000)
        out["warm"] = {"k": int(init.shape[0]), "inertia": float(fitted.inertia_), "iterations": int(fitted.n_iter_), "ms": min(times), "cpu_ms": min(cpu_times)}

    search = params.get("search")
    if search is not None:
        # A searching run as ours does it: on the same search rows, KMeans for every k in the range with
        # the same restarts, each scored by silhouette_score on a sample of the same size; then the chosen
        # k (ours) fitted on all rows from the search's centres.
        rows = np.asarray(search["rows"], dtype=np.int64)
        sub = matrix[rows] if rows.size else matrix
        start = time.perf_counter()
        cpu_start = time.process_time()
        scores = {}
        fits = {}
        for k in range(search["k_min"], search["k_max"] + 1):
            fitted = KMeans(n_clusters=k, n_init=search["restarts"], init="k-means++", algorithm="lloyd", max_iter=params["max_iter"], tol=params["tol"], random_state=params["random_state"]).fit(sub)
            fits[k] = fitted
            sample = min(search["sample_size"], sub.shape[0])
            scores[k] = float(silhouette_score(sub, fitted.labels_, sample_size=sample, random_state=params["random_state"]))
        chosen = search["our_k"] if search["our_k"] in fits else max(scores, key=scores.get)
        if rows.size:
            KMeans(n_clusters=chosen, init=fits[chosen].cluster_centers_, n_init=1, algorithm="lloyd", max_iter=params["max_iter"], tol=params["tol"]).fit(matrix)
        out["search"] = {
            "ms": (time.perf_counter() - start) * 1000,
            "cpu_ms": (time.process_time() - cpu_start) * 1000,
            "k_range": [search["k_min"], search["k_max"]],
            "best_silhouette_k": max(scores, key=scores.get),
            "silhouettes": {str(k): round(v, 4) for k, v in scores.items()},
        }

    db = params.get("dbscan")
    if db is not None:
        # Ours (density-clustering) counts neighbours at distance < eps, the point itself included;
        # scikit-learn counts <= eps, itself included. The largest double below eps makes the two the same
        # test. kd_tree computes exact distances (brute force would use the |x|^2 + |y|^2 - 2xy expansion,
        # whose rounding could move points across eps).
        # At 100k rows in 45 dimensions the kd-tree spent minutes (over 2 min of CPU without finishing);
        # brute force goes through BLAS in chunks, at the cost of the expansion's rounding for pairs within
        # about 1e-15 of eps, which noise_disagreements and the ARI would show.
        eps = math.nextafter(db["eps"], 0.0)
        algorithm = db.get("algorithm", "kd_tree")
        start = time.perf_counter()
        cpu_start = time.process_time()
        labels = DBSCAN(eps=eps, min_samples=db["min_samples"], algorithm=algorithm).fit(matrix).labels_
        ms = (time.perf_counter() - start) * 1000
        cpu_ms = (time.process_time() - cpu_start) * 1000
        ours = np.asarray(db["our_labels"], dtype=np.int64)
        out["dbscan"] = {
            "algorithm": algorithm,
            "eps_given": db["eps"],
            "eps_used": eps,
            "min_samples": db["min_samples"],
            "clusters": int(labels.max()) + 1 if labels.size else 0,
            "noise": int((labels < 0).sum()),
            "ari_noise_as_one_label": float(adjusted_rand_score(ours, labels)),
            "ari_noise_as_singletons": float(adjusted_rand_score(noise_as_singletons(ours), noise_as_singletons(labels))),
            "noise_disagreements": int(((ours < 0) != (labels < 0)).sum()),
            "ms": ms,
            "cpu_ms": cpu_ms,
        }

    if params.get("pca", True):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            pca = PCA(svd_solver="full").fit(matrix)
            times.append((time.perf_counter() - start) * 1000)
        out["pca"] = {
            "explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio_],
            "ms": min(times),
        }

    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
