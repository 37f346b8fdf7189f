"""Byte ranges of a shard's inner chunks: checked against each other, merged into few requests.

The sharding codec reads part of a shard by ranges (its index, then runs of inner chunks); an
index read from a store is checked before any range it names is requested.
"""

from __future__ import annotations

__all__ = ["MAX_GAP", "check_disjoint", "coalesce_ranges"]


def check_disjoint(ranges: list[tuple[int, int]]) -> None:
    """Refuse inner chunks whose byte ranges overlap in part (a corrupt index).

    The same range twice is allowed: a writer may store identical chunks once.

    Examples
    --------
    >>> check_disjoint([(0, 4), (4, 4), (0, 4)])
    >>> check_disjoint([(0, 4), (2, 4)])
    Traceback (most recent call last):
    ...
    ValueError: shard index: the inner chunks at bytes [0, 4) and [2, 6) overlap; the index is corrupt
    """
    prev: tuple[int, int] | None = None
    for start, length in sorted(set(ranges)):
        if prev is not None and start < prev[0] + prev[1]:
            raise ValueError(
                f"shard index: the inner chunks at bytes [{prev[0]}, {prev[0] + prev[1]}) and "
                f"[{start}, {start + length}) overlap; the index is corrupt"
            )
        prev = (start, length)


#: Ranges this close are fetched in one request: on object stores a request costs
#: far more than 64 KiB of transfer. Writers may order inner chunks in any way
#: (zarr-python uses Morton order), so "adjacent" rarely means touching.
MAX_GAP = 64 * 1024


def coalesce_ranges(ranges: list[tuple[int, int]], max_gap: int = MAX_GAP) -> list[tuple[int, int, list[int]]]:
    """Merge byte ranges that touch, or lie within ``max_gap`` bytes, into single requests.

    Returns ``(start, length, members)``, where ``members`` are the positions in
    ``ranges`` that each request serves.

    Examples
    --------
    >>> coalesce_ranges([(100, 10), (0, 50), (50, 50), (200, 1)], max_gap=0)
    [(0, 110, [1, 2, 0]), (200, 1, [3])]
    >>> coalesce_ranges([(0, 10), (20, 10)], max_gap=16)
    [(0, 30, [0, 1])]
    """
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    out: list[tuple[int, int, list[int]]] = []
    for i in order:
        start, length = ranges[i]
        if out and start - (out[-1][0] + out[-1][1]) <= max_gap:
            s, n, members = out[-1]
            out[-1] = (s, max(n, start + length - s), [*members, i])
        else:
            out.append((start, length, [i]))
    return out
