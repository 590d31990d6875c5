"""numpy's classic `argsort` (kind="quicksort"), step for step, for GenEval's tie order.

GenEval ranks a class's detections with `np.argsort(scores)[::-1]`. Which of two equal scores comes
first is whatever numpy's default sort leaves, and that changed: the numpy of GenEval's environment
(1.2x) used an introsort (median-of-3 quicksort, insertion sort up to 16 elements, heapsort past a
depth limit), while numpy >= 1.25 on AVX-512 machines dispatches to SIMD sorts with another tie
order (and numpy 2 on this project's CI machines differs even for 5 elements). Calling np.argsort
would make verdicts depend on the machine; this reimplementation gives the official environment's
order everywhere. For 16 or fewer detections (the usual case) it is a stable ascending sort, so
after the reversal the later-listed of two tied detections comes first.
"""

from __future__ import annotations

from collections.abc import Sequence

_SMALL = 15  # numpy's SMALL_QUICKSORT: partitions of at most 16 elements go to insertion sort


def _heapsort(values: Sequence[float], idx: list[int], lo: int, n: int) -> None:
    """numpy's aheapsort over idx[lo:lo+n] (1-based heap arithmetic, as numpy writes it)."""

    def get(k: int) -> int:
        return idx[lo + k - 1]

    def put(k: int, v: int) -> None:
        idx[lo + k - 1] = v

    def sift(top: int, tmp: int, size: int) -> None:
        i, j = top, top * 2
        while j <= size:
            if j < size and values[get(j)] < values[get(j + 1)]:
                j += 1
            if values[tmp] < values[get(j)]:
                put(i, get(j))
                i, j = j, j * 2
            else:
                break
        put(i, tmp)

    for start in range(n >> 1, 0, -1):
        sift(start, get(start), n)
    size = n
    while size > 1:
        tmp = get(size)
        put(size, get(1))
        size -= 1
        sift(1, tmp, size)


def legacy_argsort(values: Sequence[float]) -> list[int]:
    """Indices that sort `values` ascending, ties broken exactly as numpy 1.2x's quicksort does.

    `values` must already be in the dtype the official code compares (float32 scores): equality
    and order are decided on them as given.
    """
    n = len(values)
    idx = list(range(n))
    if n < 2:
        return idx
    stack: list[tuple[int, int, int]] = []
    pl, pr = 0, n - 1
    depth = (n.bit_length() - 1) * 2  # npy_get_msb(n) * 2
    while True:
        if depth < 0:
            _heapsort(values, idx, pl, pr - pl + 1)
        else:
            while pr - pl > _SMALL:
                pm = pl + ((pr - pl) >> 1)
                if values[idx[pm]] < values[idx[pl]]:
                    idx[pm], idx[pl] = idx[pl], idx[pm]
                if values[idx[pr]] < values[idx[pm]]:
                    idx[pr], idx[pm] = idx[pm], idx[pr]
                if values[idx[pm]] < values[idx[pl]]:
                    idx[pm], idx[pl] = idx[pl], idx[pm]
                pivot = values[idx[pm]]
                pi, pj = pl, pr - 1
                idx[pm], idx[pj] = idx[pj], idx[pm]
                while True:
                    pi += 1
                    while values[idx[pi]] < pivot:
                        pi += 1
                    pj -= 1
                    while pivot < values[idx[pj]]:
                        pj -= 1
                    if pi >= pj:
                        break
                    idx[pi], idx[pj] = idx[pj], idx[pi]
                pk = pr - 1
                idx[pi], idx[pk] = idx[pk], idx[pi]
                depth -= 1
                if pi - pl < pr - pi:  # the larger side waits on the stack
                    stack.append((pi + 1, pr, depth))
                    pr = pi - 1
                else:
                    stack.append((pl, pi - 1, depth))
                    pl = pi + 1
            for i in range(pl + 1, pr + 1):  # insertion sort: stable
                vi = idx[i]
                v = values[vi]
                j = i
                while j > pl and v < values[idx[j - 1]]:
                    idx[j] = idx[j - 1]
                    j -= 1
                idx[j] = vi
        if not stack:
            return idx
        pl, pr, depth = stack.pop()
