"""Planning a rechunk under a memory contract: pure functions on tuples, no I/O.

A *pass* reads an array stored in ``source`` chunks and writes it in ``unit``
objects (the target's chunks, or its shards). Each task of a pass writes one
*block*: a union of whole target units, so no two tasks write the same object.
The task holds its block decoded, decodes the source chunks that overlap it one
at a time (fetching at most ``fetch`` of them at once) and encodes one target unit
at a time, so its memory is bounded by :func:`task_memory`::

    block + source chunk + 2 x unit + fetch x source chunk   (bytes, decoded size)

Source chunks that straddle a block's edge are decoded by every task that needs
them: *read amplification*. :func:`choose_block` grows the block, a target unit
at a time, along the axis that saves the most decoding per byte of memory, while
the task fits ``max_mem``. When even the best block decodes the source more than
:data:`MAX_AMPLIFICATION` times over (a time series from maps: source
``(1, 192, 384)`` to target ``(2920, 24, 24)``), :func:`plan_rechunk` tries two
passes through an intermediate array whose chunks are the source chunks merged
towards the target (reads consolidated, as rechunker does) and cut to the second
pass's blocks (writes consolidated), and keeps them when they decode and encode
fewer bytes in total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import lcm, prod
from typing import cast

import numpy as np

from ..errors import ZarrioError
from .requests import overlaps, owning_blocks, regular_lengths, size_text

__all__ = [
    "FIRST_PASS_SHARE", "MAX_AMPLIFICATION", "MIN_TASK_BYTES", "Pass", "RechunkPlan", "choose_block",
    "decoded_elements", "plan_copy", "plan_pass", "plan_rechunk", "task_memory",
]

Shape = tuple[int, ...]
#: A pass's blocks: one length per axis, or (aligned to a rectilinear grid) each axis's block lengths.
Blocks = Shape | tuple[tuple[int, ...], ...]

#: A single pass that decodes the source more than this many times over is compared
#: with two passes through an intermediate array (each reads and writes it once).
MAX_AMPLIFICATION = 2.0
#: Blocks grow (without decoding more) until they hold this many bytes: fewer, larger
#: tasks cost less scheduling, and the memory is there to use.
MIN_TASK_BYTES = 16 * 2**20
#: ``max_mem`` is a cap, not a size to fill: a pass is planned with at most
#: max(array / MIN_TASKS, SPREAD_FLOOR) per task where ``max_mem`` is larger, so that a
#: large ``max_mem`` still leaves tasks for every thread (one 839 MiB task of the issue's
#: case ran 6.6 s on one thread, against 4.2-4.9 s for 64 MiB tasks).
MIN_TASKS = 16
SPREAD_FLOOR = 64 * 2**20
#: Most source chunks one task fetches at once (their encoded bytes are held together).
MAX_FETCH = 16
#: A first pass's blocks (source chunks merged towards the target) may take this share of
#: ``max_mem``; the intermediate's chunks are as long as they are. Each intermediate object
#: costs a file created, written back and deleted on a disk (a PUT and a DELETE on an object
#: store): on 11680 maps with 256 MiB, 1024 objects of 3.4 MB in blocks of 102 MiB took
#: 14.8-17.5 s where 4128 objects of 0.84 MB in blocks of 26 MiB took 17.7-19.5 s (both
#: with the second pass deleting the chunks it has read).
FIRST_PASS_SHARE = 0.5


def task_memory(block: Shape, source: Shape, unit: Shape, itemsize: int, fetch: int = 1) -> int:
    """Peak decoded bytes of one task: its block, one decoded source chunk, one unit being
    encoded (its contiguous copy and its encoded bytes), and the fetched source chunks.

    Examples
    --------
    >>> task_memory((100, 10), (10, 100), (10, 10), 4)
    12800
    """
    return itemsize * (prod(block) + prod(source) + 2 * prod(unit) + fetch * prod(source))


def _axis_decoded(n: int, block: int, source: int) -> int:
    """Elements along one axis decoded by all blocks: each reads its overlapping chunks whole.

    The pattern repeats every lcm(block, source) elements: count one period, then the rest.
    """
    period = lcm(block, source)
    if period < n:
        return (n // period) * _axis_decoded(period, block, source) + _axis_decoded(n % period, block, source)
    if n == 0:
        return 0
    lo = np.arange(0, n, block, dtype=np.int64)
    hi = np.minimum(lo + block, n)
    return int(((hi - 1) // source - lo // source + 1).sum()) * source


def decoded_elements(shape: Shape, block: Shape, source: Shape) -> int:
    """Elements decoded by a pass (edge chunks count whole: they are stored whole).

    Separable: tasks are the product of per-axis blocks, so the total is the product
    of per-axis totals.

    Examples
    --------
    >>> decoded_elements((10,), (5,), (10,))  # two blocks each decode the one chunk
    20
    >>> decoded_elements((10, 10), (10, 10), (5, 5))
    100
    """
    return prod(_axis_decoded(n, b, s) for n, b, s in zip(shape, block, source))


def _grown(block: Shape, axis: int, size: int) -> Shape:
    return tuple(size if a == axis else b for a, b in enumerate(block))


def _candidates(n: int, size: int, unit: int, source: int) -> list[int]:
    """Larger block lengths along an axis: one unit more, twice, aligned to the source, whole."""
    k = size // unit
    step = lcm(unit, source)
    aligned = -(-(size + 1) // step) * step
    return sorted({min(n, v) for v in ((k + 1) * unit, 2 * k * unit, aligned, n) if min(n, v) > size})


def choose_block(shape: Shape, source: Shape, unit: Shape, itemsize: int, max_mem: int, fetch: int = 1) -> Shape:
    """The block (whole target units) each task writes: least decoding within ``max_mem``.

    Greedy: grow along the axis and to the length that saves the most decoded
    elements per extra byte of task memory; then, decoding no more, grow along the
    first axes until the block holds :data:`MIN_TASK_BYTES`.

    Examples
    --------
    >>> choose_block((100, 100), (1, 100), (100, 1), 4, 2**20)  # whole rows decode once
    (100, 100)
    >>> choose_block((100, 100), (1, 100), (100, 1), 4, 4000)
    (100, 6)
    """
    block = tuple(min(u, n) for u, n in zip(unit, shape))
    need = task_memory(block, source, unit, itemsize, fetch)
    if need > max_mem:
        raise ZarrioError(
            f"max_mem={max_mem!r} bytes is too small: one task must hold a target chunk (or shard) "
            f"{unit} and a source chunk {source} of {itemsize}-byte elements, {need} bytes with the "
            f"encoding buffers; raise max_mem to at least {need} or choose smaller chunks"
        )
    reads = decoded_elements(shape, block, source)
    for _ in range(10_000):
        best: tuple[float, Shape, int] | None = None
        for axis, (n, b, u, s) in enumerate(zip(shape, block, unit, source)):
            for size in _candidates(n, b, u, s):
                cand = _grown(block, axis, size)
                mem = task_memory(cand, source, unit, itemsize, fetch)
                if mem > max_mem:
                    break
                cand_reads = decoded_elements(shape, cand, source)
                gain = (reads - cand_reads) / max(1, mem - need)
                if cand_reads < reads and (best is None or gain > best[0]):
                    best = (gain, cand, cand_reads)
        if best is None:
            break
        _, block, reads = best
        need = task_memory(block, source, unit, itemsize, fetch)
    for axis in range(len(shape)):
        # Whole units more along ``axis`` up to MIN_TASK_BYTES, halving the step until one fits.
        # Steps of lcm(unit, source) keep a block aligned to the source aligned.
        stride = lcm(unit[axis], source[axis]) if block[axis] % source[axis] == 0 else unit[axis]
        want = -(-MIN_TASK_BYTES // max(1, itemsize * prod(block) // max(1, block[axis])))
        step = max(0, -(-(min(shape[axis], want) - block[axis]) // stride))
        while step > 0:
            cand = _grown(block, axis, min(shape[axis], block[axis] + step * stride))
            fits = task_memory(cand, source, unit, itemsize, fetch) <= max_mem
            if fits and decoded_elements(shape, cand, source) <= reads:
                block = cand
                break
            step //= 2
    return block


@dataclass(frozen=True)
class Pass:
    """One pass: read ``source`` chunks, write ``unit`` objects, a ``block`` per task.

    ``kind`` is ``"decode"`` (decode, copy into the block, encode), ``"copy"`` (stored
    bytes copied as they are: same grid, codecs that read the same bytes) or
    ``"shards"`` (stored chunks assembled into shards with their index, undecoded).
    ``bytes_read`` counts decoded bytes (stored bytes for the undecoded kinds).
    """

    kind: str
    source: Shape
    unit: Shape
    block: Blocks
    tasks: int
    bytes_read: int
    bytes_written: int
    task_memory: int
    fetch: int
    into: str = "target"

    def describe(self) -> str:
        """One line of the printed plan (blocks aligned to a rectilinear grid: their largest).

        Examples
        --------
        >>> Pass("decode", (2,), (5,), ((3, 5, 2),), 3, 10, 10, 40, 1).describe()
        'decode: (2,) -> (5,) into target, 3 tasks of up to (5,), read 10 B, write 10 B, peak 40 B per task'
        """
        block = self.block
        if not all(isinstance(b, int) for b in block):  # one line, however many chunks an axis has
            block = tuple(b if isinstance(b, int) else max(b) for b in block)
        return (
            f"{self.kind:>6}: {self.source} -> {self.unit} into {self.into}, "
            f"{self.tasks} task{'' if self.tasks == 1 else 's'} of "
            f"{'' if block is self.block else 'up to '}{block}, read {size_text(self.bytes_read)}, "
            f"write {size_text(self.bytes_written)}, peak {size_text(self.task_memory)} per task"
        )

    def requests(self, shape: Shape, ranged: Shape | None = None) -> tuple[int, int]:
        """GETs and PUTs of this pass's tasks on an array of ``shape``: each task fetches the
        ``source`` objects its block overlaps (an undecoded pass: each once) and stores its units
        (an upper bound: units equal to the fill value are not stored). ``ranged``: the stored
        objects (shards) whose inner chunks are read by byte ranges; each task reads their index too.

        Examples
        --------
        >>> Pass("decode", (4,), (5,), (5,), 2, 0, 0, 0, 1).requests((10,))  # [0, 5), [5, 10): chunks 0-1, 1-2
        (4, 2)
        """
        puts = _tasks(shape, self.unit)
        if self.kind != "decode":
            return _tasks(shape, self.source), puts
        blocks = regular_lengths(shape, self.block)
        gets = overlaps(blocks, regular_lengths(shape, self.source))
        return gets + (0 if ranged is None else overlaps(blocks, regular_lengths(shape, ranged))), puts

    def owners(self, shape: Shape) -> int:
        """Tasks whose block holds a source chunk whole: out of an intermediate array, each checks
        for and stores its :func:`~dask_zarrio.rechunking.tasks.consumed_key`.

        Examples
        --------
        >>> Pass("decode", (2, 3), (4, 1), (4, 3), 2, 0, 0, 0, 1).owners((4, 6))
        2
        """
        return owning_blocks(regular_lengths(shape, self.block), regular_lengths(shape, self.source))


@dataclass(frozen=True)
class RechunkPlan:
    """The passes of a rechunk, the memory each task may hold, and what they cost.

    Examples
    --------
    >>> p = plan_rechunk((100, 100), 4, (1, 100), (100, 1), 2**20)
    >>> len(p.passes), p.peak_memory <= 2**20
    (1, True)
    """

    shape: Shape
    itemsize: int
    max_mem: int
    passes: tuple[Pass, ...]

    @property
    def peak_memory(self) -> int:
        """The most decoded bytes any task holds."""
        return max((p.task_memory for p in self.passes), default=0)

    @property
    def intermediate(self) -> Shape | None:
        """The intermediate array's chunks, when there are two passes."""
        return self.passes[0].unit if len(self.passes) > 1 else None

    def __str__(self) -> str:
        nbytes = self.itemsize * prod(self.shape)
        lines = [f"rechunk plan: shape {self.shape}, {size_text(nbytes)}, max_mem {size_text(self.max_mem)}"]
        lines += [f"  pass {i + 1} {p.describe()}" for i, p in enumerate(self.passes)]
        return "\n".join(lines)


def _tasks(shape: Shape, block: Shape) -> int:
    return prod(-(-n // b) for n, b in zip(shape, block)) if 0 not in shape else 0


def plan_pass(shape: Shape, source: Shape, unit: Shape, itemsize: int, max_mem: int, into: str = "target") -> Pass:
    """The decode pass from ``source`` chunks to ``unit`` objects.

    Examples
    --------
    >>> plan_pass((10, 10), (5, 5), (10, 10), 1, 1000).tasks
    1
    """
    block = choose_block(shape, source, unit, itemsize, max_mem)
    base = task_memory(block, source, unit, itemsize, 0)
    fetch = int(max(1, min(MAX_FETCH, (max_mem - base) // max(1, itemsize * prod(source)))))
    written = itemsize * prod(-(-n // u) * u for n, u in zip(shape, unit))
    return Pass(
        "decode", source, unit, block, _tasks(shape, block), itemsize * decoded_elements(shape, block, source),
        written, task_memory(block, source, unit, itemsize, fetch), fetch, into,
    )


def plan_copy(shape: Shape, source: Shape, unit: Shape, itemsize: int, max_mem: int, kind: str) -> Pass:
    """An undecoded pass (``kind`` ``"copy"`` or ``"shards"``): tasks of whole units, about
    ``max_mem`` of stored bytes at a time at most (their decoded size bounds them).

    Examples
    --------
    >>> plan_copy((100,), (10,), (10,), 1, 50, "copy").block
    (50,)
    """
    block = list(min(u, n) for u, n in zip(unit, shape))
    cap = min(max_mem, 4 * MIN_TASK_BYTES)
    for axis in range(len(shape)):
        while block[axis] < shape[axis] and itemsize * prod(block) * (block[axis] + unit[axis]) // block[axis] <= cap:
            block[axis] = min(shape[axis], block[axis] + unit[axis])
    nbytes = itemsize * prod(-(-n // s) * s for n, s in zip(shape, source))
    held = itemsize * max(prod(block), prod(unit))
    return Pass(kind, source, unit, tuple(block), _tasks(shape, tuple(block)), nbytes, nbytes, held, MAX_FETCH)


def _consolidated(
    source: Shape, target: Shape, shape: Shape, itemsize: int, budget: int, cut: Shape, room: int
) -> Shape:
    """Source chunks merged towards the target's extent, by whole chunks, within ``budget``,
    while the intermediate chunks they make (cut to the second pass's blocks ``cut``) fit ``room``."""
    merged = source
    grew = True
    while grew:
        grew = False
        for a, (s, t, n) in enumerate(zip(source, target, shape)):
            grown = _grown(merged, a, min(n, merged[a] + s))
            fits = itemsize * prod(grown) <= budget and itemsize * prod(map(min, grown, cut)) <= room
            if merged[a] < min(t, n) and fits:
                merged, grew = grown, True
    return merged


def plan_rechunk(
    shape: Sequence[int], itemsize: int, source: Sequence[int], target: Sequence[int], max_mem: int,
    *, intermediate: bool = True,
) -> RechunkPlan:
    """One pass, or two through an intermediate array where that decodes and encodes less.

    ``source`` is what a task decodes at a time (a chunk, or a shard's inner chunk);
    ``target`` is what it writes whole (a chunk, or a shard). Tasks are planned within
    max(array / :data:`MIN_TASKS`, :data:`SPREAD_FLOOR`) where ``max_mem`` is larger
    (and within ``max_mem`` where a target unit needs more).

    Examples
    --------
    >>> p = plan_rechunk((2920, 192, 384), 4, (1, 192, 384), (2920, 24, 24), 64 * 2**20)
    >>> len(p.passes), p.peak_memory <= 64 * 2**20
    (2, True)
    >>> plan_rechunk((2920, 192, 384), 4, (1, 192, 384), (2920, 24, 24), 2**30).passes[-1].tasks >= 16
    True
    """
    shape = tuple(shape)
    spread = min(max_mem, max(itemsize * prod(shape) // MIN_TASKS, SPREAD_FLOOR))
    if spread < max_mem:
        try:
            return RechunkPlan(shape, itemsize, max_mem, _passes(shape, itemsize, source, target, spread, intermediate))
        except ZarrioError:
            pass  # a target unit needs more than the spread: plan within max_mem
    return RechunkPlan(shape, itemsize, max_mem, _passes(shape, itemsize, source, target, max_mem, intermediate))


def _passes(
    shape: Shape, itemsize: int, source: Sequence[int], target: Sequence[int], max_mem: int, intermediate: bool,
) -> tuple[Pass, ...]:
    """The passes of :func:`plan_rechunk`, every task within ``max_mem``."""
    shape, source, target = tuple(shape), tuple(source), tuple(target)
    if itemsize * prod(shape) == 0:
        return (plan_pass(shape, source, target, itemsize, max_mem),)
    single = plan_pass(shape, source, target, itemsize, max_mem)
    nbytes = itemsize * prod(shape)
    if not intermediate or single.bytes_read <= MAX_AMPLIFICATION * nbytes:
        return (single,)
    # The second pass's blocks, leaving room for intermediate chunks of up to max_mem/8
    # (a task holds one decoded and one fetched).
    room = max_mem // 8
    try:
        second = choose_block(shape, source, target, itemsize, max_mem - 2 * room)
    except ZarrioError:
        return (single,)
    # The first pass's blocks (and so the intermediate's chunks) as long as FIRST_PASS_SHARE
    # of max_mem allows: fewer, larger intermediate objects.
    reads = _consolidated(source, target, shape, itemsize, int(FIRST_PASS_SHARE * max_mem), second, room)
    middle = tuple(map(min, reads, second))
    held = 2 * itemsize * prod(middle)
    if held < 2 * room:
        # The room kept was a bound; the intermediate chunks now known take less, and the second
        # pass's blocks may grow into the rest. On 11680 maps with 205 MiB they could not hold
        # 96 of 192 rows, and the 72-row chunks left a ragged third row padded to full size:
        # 12.5 % more of the intermediate written, read and decoded. (More memory than ``second``
        # was chosen in: cannot be refused.)
        wider = choose_block(shape, source, target, itemsize, max_mem - held)
        if itemsize * prod(map(min, reads, wider)) <= room:  # the chunks it cuts still fit their room
            second, middle = wider, tuple(map(min, reads, wider))
    try:
        first = plan_pass(shape, source, middle, itemsize, max_mem, into="temp")
        last = plan_pass(shape, middle, target, itemsize, max_mem)
    except ZarrioError:
        return (single,)
    # A first-pass task writes its whole block anyway: intermediate chunks as long as the block
    # (within the second pass's blocks) mean fewer, larger objects, decoded whole by the second.
    longer = tuple(max(m, min(b, w)) for m, b, w in zip(middle, cast(Shape, first.block), second))  # plan_pass: a shape
    if longer != middle and itemsize * prod(longer) <= room:
        try:
            first, last = (plan_pass(shape, source, longer, itemsize, max_mem, into="temp"),
                           plan_pass(shape, longer, target, itemsize, max_mem))
        except ZarrioError:
            pass
    two = first.bytes_read + first.bytes_written + last.bytes_read + last.bytes_written
    if two < single.bytes_read + single.bytes_written:
        return (first, last)
    return (single,)
