"""Average-link hierarchical clustering in numpy: what clustering needs of
``scipy.cluster.hierarchy`` (``linkage(method="average")`` and ``fcluster(criterion="distance")``),
without importing it (``scipy.cluster.hierarchy`` and the ``scipy.spatial`` it loads cost
about 0.17 s of CPU at every run that clusters; issue 14).

Both functions follow scipy's own algorithms step by step, so their results are identical,
ties included, not merely equivalent:

- :func:`average_linkage` is the nearest-neighbour chain of ``scipy.cluster._hierarchy.nn_chain``
  (Müllner, "Modern hierarchical, agglomerative clustering algorithms", arXiv:1109.2378,
  NN-chain-linkage): the same scan order and tie rule (the previous element of the chain
  wins a tie, else the lowest index), the same update ``(nx·d_xi + ny·d_yi) / (nx + ny)`` in
  float64, then the merges sorted by distance (stable) and relabelled as scipy does. Each scan
  is one numpy gather over the clusters still active, so the cost is O(n²) like scipy's, with
  a Python step per chain link (about 3·n of them).
- :func:`flat_clusters` is ``fcluster(Z, t, criterion="distance")``: the same depth-first
  walk, so the cluster numbers (1, 2, ...) are the same too.

Memory: :func:`average_linkage` works on a copy of the condensed distances, as scipy does,
unless ``overwrite=True`` lets it work in the caller's array (half the peak for a large batch).
"""

from __future__ import annotations

import numpy as np

__all__ = ["average_linkage", "flat_clusters"]


def _size_of_condensed(m: int) -> int:
    """The ``n`` of a condensed matrix of ``m`` entries (``m = n(n-1)/2``); ValueError otherwise."""
    n = int(np.ceil(np.sqrt(m * 2)))
    if n * (n - 1) // 2 != m:
        raise ValueError(f"a condensed distance matrix cannot have {m} entries")
    return n


def average_linkage(dist: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """Average-link (UPGMA) hierarchical clustering of condensed distances ``dist``.

    ``dist``: 1-D, the upper triangle of an n×n distance matrix row by row (the layout of
    ``scipy.spatial.distance.pdist``), finite, n ≥ 2. Returns the ``(n - 1, 4)`` float64
    linkage matrix of ``scipy.cluster.hierarchy.linkage(dist, method="average")``, equal to
    it bit for bit: row k merges clusters ``Z[k, 0] < Z[k, 1]`` (leaves ``0..n-1``, the
    cluster of row k is ``n + k``) at distance ``Z[k, 2]`` into ``Z[k, 3]`` entries, rows in
    increasing distance. With ``overwrite=True`` the contents of ``dist`` (float64,
    contiguous) are destroyed instead of copied.

    Raises ValueError when ``dist`` is not a condensed matrix of at least two points or
    holds a non-finite value (as scipy does).
    """
    given = np.asarray(dist)
    if given.ndim != 1:
        raise ValueError("average_linkage takes a condensed (1-D) distance matrix")
    n = _size_of_condensed(given.size)
    if n < 2:
        raise ValueError("average_linkage needs at least two points")
    if overwrite and given.dtype == np.float64 and given.flags.c_contiguous:
        d = given
    else:
        d = np.array(given, dtype=np.float64, order="C")
    if not np.isfinite(d).all():
        raise ValueError("The condensed distance matrix must contain only finite values.")

    # condensed index of (i, j), i < j: n·i − i(i+1)/2 + j − i − 1 = start[i] + j
    rows = np.arange(n, dtype=np.int64)
    start = n * rows - rows * (rows + 1) // 2 - rows - 1
    active = rows.copy()  # the clusters still there, ascending (scipy scans i = 0..n-1)
    active_start = start.copy()
    size = np.ones(n, dtype=np.int64)

    merges = np.empty((n - 1, 4), dtype=np.float64)
    chain: list[int] = []
    for k in range(n - 1):
        if not chain:
            chain.append(int(active[0]))
        while True:
            x = chain[-1]
            pos = int(np.searchsorted(active, x))
            # d(x, i) for every active i but x, in the order of i
            row = np.concatenate((d[active_start[:pos] + x], d[start[x] + active[pos + 1 :]]))
            best = int(np.argmin(row))
            current = row[best]
            y = int(active[best if best < pos else best + 1])
            if len(chain) > 1:  # the previous link wins a tie (scipy starts from it, takes <)
                prev = chain[-2]
                prev_d = d[start[min(x, prev)] + max(x, prev)]
                if not current < prev_d:
                    y, current = prev, prev_d
                if y == prev:
                    break
            chain.append(y)
        chain.pop()
        chain.pop()
        x, y = (x, y) if x < y else (y, x)
        nx, ny = int(size[x]), int(size[y])
        merges[k] = (x, y, current, nx + ny)
        size[x] = 0
        size[y] = nx + ny
        pos_x = int(np.searchsorted(active, x))
        active = np.delete(active, pos_x)
        active_start = np.delete(active_start, pos_x)
        pos_y = int(np.searchsorted(active, y))
        if active.size > 1:
            others = np.concatenate((active[:pos_y], active[pos_y + 1 :]))
            others_start = np.concatenate((active_start[:pos_y], active_start[pos_y + 1 :]))
            to_y = np.concatenate((others_start[:pos_y] + y, start[y] + others[pos_y:]))
            to_x = np.where(others < x, others_start + x, start[x] + others)
            d[to_y] = (nx * d[to_x] + ny * d[to_y]) / (nx + ny)
    order = np.argsort(merges[:, 2], kind="mergesort")
    merges = merges[order]
    _relabel(merges, n)
    return merges


def _relabel(merges: np.ndarray, n: int) -> None:
    """Number the clusters of ``merges`` (rows sorted by distance, columns 0-1 naming the
    surviving slot of each side) as scipy's ``label`` does: each side becomes the id of the
    cluster holding it (union-find), the smaller first; column 3 the merged size."""
    parent = list(range(2 * n - 1))
    sizes = [1] * (2 * n - 1)

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return root

    for k in range(n - 1):
        a, b = find(int(merges[k, 0])), find(int(merges[k, 1]))
        merges[k, 0], merges[k, 1] = (a, b) if a < b else (b, a)
        node = n + k
        parent[a] = parent[b] = node
        sizes[node] = sizes[a] + sizes[b]
        merges[k, 3] = sizes[node]


def flat_clusters(merges: np.ndarray, t: float) -> np.ndarray:
    """Flat clusters of the linkage matrix ``merges`` (as :func:`average_linkage` returns)
    in which no two entries are merged above distance ``t`` (``Z[k, 2] <= t`` joins):
    ``scipy.cluster.hierarchy.fcluster(merges, t, criterion="distance")``, the same numbers
    (1-based int32, one per entry, numbered by scipy's depth-first walk from the root)."""
    merges = np.asarray(merges, dtype=np.float64)
    n = merges.shape[0] + 1
    out = np.zeros(n, dtype=np.int32)
    if n == 1:
        out[0] = 1
        return out
    children = merges[:, :2].astype(np.int64).tolist()
    heights = merges[:, 2].tolist()
    # highest merge distance in each subtree (children come before parents)
    top = [0.0] * (n - 1)
    for k in range(n - 1):
        h = heights[k]
        for c in children[k]:
            if c >= n and top[c - n] > h:
                h = top[c - n]
        top[k] = h
    visited = [False] * (2 * n - 1)
    stack = [2 * n - 2]
    clusters = 0
    leader = -1
    while stack:
        root = stack[-1] - n
        left, right = children[root]
        if leader == -1 and top[root] <= t:
            leader = root
            clusters += 1
        if left >= n and not visited[left]:
            visited[left] = True
            stack.append(left)
            continue
        if right >= n and not visited[right]:
            visited[right] = True
            stack.append(right)
            continue
        for leaf in (left, right):
            if leaf < n:
                if leader == -1:
                    clusters += 1
                out[leaf] = clusters
        if leader == root:
            leader = -1
        stack.pop()
    return out
