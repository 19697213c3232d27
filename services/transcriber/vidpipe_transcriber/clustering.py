"""Speaker clustering: NME-SC (spectral clustering auto-tuned by the normalised maximum eigengap).

Pure numpy + scikit-learn's KMeans, so it is unit-testable without any model. The recipe and its guard rails
are the ones measured on the reference recordings (DER on AMI and pyannote's sample):

* NME-SC (Park et al., 2019): binarise the cosine affinity to each row's p nearest neighbours, pick the p whose
  Laplacian has the largest eigengap relative to p, and read the speaker count off that eigengap;
* fewer than `min_windows_for_clustering` embeddings (≈5 s of speech) is one speaker, because an eigengap on a
  handful of points is noise (without this rule JFK's 11 s came out as four speakers);
* clusters smaller than `min_cluster_size` are folded into the nearest large one, and clusters whose centroids
  are closer than `merge_cosine` are merged: both keep one voice from being split by a cough or a change of tone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ClusteringConfig:
    max_speakers: int = 8
    min_windows_for_clustering: int = 10
    min_cluster_size: int = 4
    merge_cosine: float = 0.875
    # p is searched up to this share of the rows; larger p blurs small speakers into big ones.
    max_neighbour_ratio: float = 0.25
    # Candidate p values tried (evenly spaced); each costs one symmetric eigendecomposition.
    p_search_steps: int = 30
    # Past this many embeddings, cluster an evenly spaced subset and assign the rest to the nearest centroid:
    # the p search runs ~30 O(n³) eigendecompositions and a 2-hour file has ~14,000 windows. At 600 the
    # search takes ~2 s; the price is that in a 2-hour file a speaker needs ~1 min of speech to be found.
    max_points: int = 600


def cluster_speakers(
    embeddings: npt.ArrayLike,
    *,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    config: ClusteringConfig | None = None,
) -> IntArray:
    """Label each embedding row with a speaker index 0..k-1 (k estimated unless the hints pin it)."""
    config = config or ClusteringConfig()
    x = _l2_normalise(np.asarray(embeddings, dtype=np.float64))
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lower = max(1, min_speakers or 1)
    upper = max(lower, min(max_speakers or config.max_speakers, n))
    lower = min(lower, n)
    if n < config.min_windows_for_clustering and lower <= 1:
        return np.zeros(n, dtype=np.int64)
    if n < 2:
        return np.zeros(n, dtype=np.int64)

    # One BLAS thread: these matrices are small, and on a shared CPU two threads ran 5-10x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        labels = _cluster(x, lower, upper, config)
    labels = _fold_small_clusters(x, labels, config.min_cluster_size, keep_at_least=lower)
    labels = _merge_close_clusters(x, labels, config.merge_cosine, keep_at_least=lower)
    return _renumber_by_first_appearance(labels)


def speaker_voices(
    embeddings: npt.ArrayLike,
    labels: IntArray,
    preferred: npt.NDArray[np.bool_] | None = None,
    *,
    min_windows: int,
) -> dict[int, list[float]]:
    """Each speaker's voice: the unit mean of its windows' unit embeddings.

    With `preferred`, only those windows count when a speaker has enough of them (bench/voices.py compares
    such recipes); windows never embedded (all zeros) never count. Speakers with fewer than `min_windows`
    usable windows get no voice.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    usable = np.linalg.norm(x, axis=1) > 1e-9
    if preferred is None:
        preferred = np.ones(x.shape[0], dtype=bool)
    x = _l2_normalise(np.where(usable[:, None], x, 1.0))
    voices: dict[int, list[float]] = {}
    for label in np.unique(labels).tolist():
        mine = (labels == label) & usable
        chosen = mine & preferred if int((mine & preferred).sum()) >= min_windows else mine
        if int(chosen.sum()) < min_windows:
            continue
        voices[int(label)] = [round(float(v), 6) for v in _unit(x[chosen].mean(axis=0))]
    return voices


def _cluster(x: FloatArray, lower: int, upper: int, config: ClusteringConfig) -> IntArray:
    n = x.shape[0]
    if n > config.max_points:
        subset = np.linspace(0, n - 1, config.max_points).round().astype(np.int64)
        sub_labels = _nme_sc(x[subset], lower, upper, config)
        centroids = _centroids(x[subset], sub_labels)
        return np.asarray(np.argmax(x @ centroids.T, axis=1), dtype=np.int64)
    return _nme_sc(x, lower, upper, config)


def _nme_sc(x: FloatArray, lower: int, upper: int, config: ClusteringConfig) -> IntArray:
    from sklearn.cluster import KMeans

    n = x.shape[0]
    affinity = x @ x.T
    # Min-max scaling keeps the neighbour ranking and makes the binarised graph independent of the
    # embedding's absolute cosine range.
    affinity = (affinity - affinity.min()) / max(affinity.max() - affinity.min(), 1e-12)

    max_p = max(2, int(n * config.max_neighbour_ratio))
    candidates = np.unique(np.linspace(2, max_p, min(config.p_search_steps, max_p - 1)).round().astype(int))
    best_ratio, best_p = np.inf, int(candidates[0])
    for p in candidates:
        laplacian = _laplacian(_binarised_graph(affinity, int(p)))
        eigenvalues = np.linalg.eigvalsh(laplacian)
        gaps = np.diff(eigenvalues[: upper + 1])
        if gaps.size == 0:
            continue
        normalised_gap = gaps[lower - 1 : upper].max() / (eigenvalues[-1] + 1e-10)
        ratio = (p / n) / (normalised_gap + 1e-10)
        if ratio < best_ratio:
            best_ratio, best_p = ratio, int(p)

    laplacian = _laplacian(_binarised_graph(affinity, best_p))
    eigenvalues, eigenvectors = np.linalg.eigh(laplacian)
    gaps = np.diff(eigenvalues[: upper + 1])
    k = lower if gaps.size == 0 else int(np.argmax(gaps[lower - 1 : upper])) + lower
    if k <= 1:
        return np.zeros(n, dtype=np.int64)
    spectral = eigenvectors[:, :k]
    return np.asarray(KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(spectral), dtype=np.int64)


def _binarised_graph(affinity: FloatArray, p: int) -> FloatArray:
    n = affinity.shape[0]
    graph = np.zeros_like(affinity)
    nearest = np.argpartition(-affinity, kth=min(p, n - 1) - 1, axis=1)[:, :p]
    np.put_along_axis(graph, nearest, 1.0, axis=1)
    return 0.5 * (graph + graph.T)


def _laplacian(graph: FloatArray) -> FloatArray:
    graph = graph.copy()
    np.fill_diagonal(graph, 0.0)
    degree = np.abs(graph).sum(axis=1)
    return np.diag(degree) - graph


def _fold_small_clusters(x: FloatArray, labels: IntArray, min_size: int, *, keep_at_least: int) -> IntArray:
    labels = labels.copy()
    ids, sizes = np.unique(labels, return_counts=True)
    large = ids[sizes >= min_size]
    small = ids[sizes < min_size]
    if small.size == 0:
        return labels
    if large.size == 0:
        return np.zeros_like(labels)
    if large.size < keep_at_least:
        return labels
    centroids = np.stack([_unit(x[labels == i].mean(axis=0)) for i in large])
    for i in np.flatnonzero(np.isin(labels, small)):
        labels[i] = large[int(np.argmax(centroids @ x[i]))]
    return labels


def _merge_close_clusters(x: FloatArray, labels: IntArray, threshold: float, *, keep_at_least: int) -> IntArray:
    labels = labels.copy()
    while True:
        ids = np.unique(labels)
        if ids.size <= max(1, keep_at_least):
            return labels
        centroids = np.stack([_unit(x[labels == i].mean(axis=0)) for i in ids])
        similarity = np.triu(centroids @ centroids.T, k=1)
        a, b = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        if similarity[a, b] < threshold:
            return labels
        labels[labels == ids[b]] = ids[a]


def _centroids(x: FloatArray, labels: IntArray) -> FloatArray:
    return np.stack([_unit(x[labels == i].mean(axis=0)) for i in np.unique(labels)])


def _renumber_by_first_appearance(labels: IntArray) -> IntArray:
    mapping: dict[int, int] = {}
    for label in labels.tolist():
        mapping.setdefault(label, len(mapping))
    return np.asarray([mapping[label] for label in labels.tolist()], dtype=np.int64)


def _l2_normalise(x: FloatArray) -> FloatArray:
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-12), dtype=np.float64)


def _unit(v: FloatArray) -> FloatArray:
    return np.asarray(v / max(float(np.linalg.norm(v)), 1e-12), dtype=np.float64)
