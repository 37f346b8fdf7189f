"""``dz.verify``: decode every stored chunk in parallel and report what is wrong, key by key.

Problems are values (:class:`Problem`) collected into a :class:`VerifyReport`, never
raised: a corrupt store is what the caller asked about. What is checked:

- every stored chunk (or shard) decodes (``corrupt_chunk``); a shard's index points
  inside the shard and its inner chunks do not overlap (``shard_index``);
- chunk keys lie inside the chunk grid (``outside_grid``);
- a chunk whose codec would unpickle it is named, never decoded, unless the caller
  passed ``allow_pickle=True`` (``unsafe_codec``): checking untrusted data must not run it;
- member metadata parses (``metadata``), and consolidated metadata matches the
  members' own documents (``stale_consolidated``);
- with ``checksum``, the decoded data against a digest manifest (``checksum``):
  digests of canonical blocks that depend only on the shape, so two copies with
  different chunking, codecs or format compare equal.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import dask
import numpy as np

from ..display import verify_html
from ..errors import ArrayNotFoundError, ChunkDecodeError, UnsafeCodecError, ZarrioError
from ..graph.builder import array_from_metadata
from ..graph.progress import compute
from ..graph.tasks import decode_chunk_at
from ..hierarchy import Group
from ..metadata import ArraySpec
from ..metadata.group import GroupMetadata
from ..metadata.node import consolidated_member, read_node
from ..metadata.spec import ArrayMetadata
from ..pyramid.read import check_pyramid
from ..store import Store
from ..typing import StoreLike
from .info import classify_keys, open_node

__all__ = ["Problem", "VerifyReport", "verify"]

#: Elements in one canonical checksum block (the block shape depends on the array's shape only).
CANONICAL_ELEMENTS = 2**21
#: Chunks fetched by one verifying task: at most this many, or this many bytes.
BATCH_KEYS, BATCH_BYTES = 32, 64 * 2**20
MANIFEST_FORMAT = "dz-checksum/1"


@dataclass(frozen=True)
class Problem:
    """One thing wrong: its kind, the array's path in the hierarchy ("/" at the root), the key."""

    kind: str
    path: str
    key: str | None
    message: str


@dataclass
class VerifyReport:
    """What :func:`verify` checked and found; ``ok`` when nothing is wrong."""

    url: str
    arrays: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    checksum: str | None = None  # "written", "matched", "mismatched" or None (not asked)

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (the ``dz verify --json`` schema)."""
        return {
            "url": self.url, "ok": self.ok, "arrays": self.arrays, "checksum": self.checksum,
            "problems": [asdict(p) for p in self.problems],
        }

    def _repr_html_(self) -> str:
        return verify_html(self)


def _classify_failure(exc: BaseException) -> str:
    return "shard_index" if "shard index" in str(exc) or "shorter than its" in str(exc) else "corrupt_chunk"


def check_chunks(store: Store, spec: ArraySpec, path: str, chunks: dict[str, tuple[int, ...]]) -> list[Problem]:
    """Fetch and decode ``chunks`` (key -> grid index) of one array (a task); every failure becomes a :class:`Problem`.

    Each chunk is decoded as a read decodes it (:func:`~dask_zarrio.graph.tasks.decode_chunk_at`:
    at its own shape, whatever the grid), so what reads is never reported.
    """
    problems = []
    keys = list(chunks)
    for key, data in zip(keys, store.get_many(keys)):
        if data is None:
            continue  # deleted since the listing
        try:
            decode_chunk_at(spec, store, chunks[key], data)
        except ChunkDecodeError as e:  # any failure to decode is what is reported, as the codec put it
            cause = e.__cause__ if isinstance(e.__cause__, Exception) else e
            message = f"{store.describe(key)}: {type(cause).__name__}: {cause}"
            problems.append(Problem(_classify_failure(cause), path, key, message))
    return problems


def _batches(keys: list[str], sizes: dict[str, int | None]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    used = 0
    for key in keys:
        size = sizes.get(key) or 0
        if out[-1] and (len(out[-1]) >= BATCH_KEYS or used + size > BATCH_BYTES):
            out.append([])
            used = 0
        out[-1].append(key)
        used += size
    return [b for b in out if b]


def canonical_block(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The checksum block shape for ``shape``: C-order slabs of about 2**21 elements.

    Examples
    --------
    >>> canonical_block((10, 3_000_000)), canonical_block((5000, 1000))
    ((1, 2097152), (2097, 1000))
    """
    block: list[int] = []
    inner = 1
    for n in reversed(shape):
        b = min(n, max(1, CANONICAL_ELEMENTS // inner))
        block.insert(0, max(b, 1))
        inner *= max(b, 1)
    return tuple(block)


def digest_block(block: np.ndarray) -> str:
    """sha256 of a block's elements in C order, little-endian (objects: typed, length-prefixed)."""
    h = hashlib.sha256()
    if block.dtype.kind == "O":
        for item in block.ravel():
            raw = item if isinstance(item, bytes) else str(item).encode()
            h.update(b"b" if isinstance(item, bytes) else b"s")
            h.update(len(raw).to_bytes(8, "little") + raw)
    else:
        h.update(np.ascontiguousarray(block, dtype=block.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def _digests(store: Store, meta: ArrayMetadata, allow_pickle: bool) -> Any:
    arr = array_from_metadata(store, meta, allow_pickle=allow_pickle)
    block = canonical_block(arr.shape)
    blocks = arr.rechunk(block).to_delayed().ravel() if arr.size else []
    return [dask.delayed(digest_block)(b) for b in blocks]


def _manifest_entry(meta: ArrayMetadata, digests: list[str]) -> dict[str, Any]:
    dtype = meta.dtype if meta.dtype.kind == "O" else meta.dtype.newbyteorder("<")
    whole = hashlib.sha256("".join(digests).encode()).hexdigest()
    return {
        "shape": list(meta.shape), "dtype": dtype.str, "block_shape": list(canonical_block(meta.shape)),
        "digest": whole, "blocks": digests,
    }


def compare_manifests(expected: dict[str, Any], actual: dict[str, Any]) -> list[Problem]:
    """Problems where ``actual`` (this store's manifest) differs from ``expected`` (the file).

    Examples
    --------
    >>> a = {"x": {"shape": [2], "dtype": "<i8", "block_shape": [2], "digest": "d1", "blocks": ["d1"]}}
    >>> compare_manifests(a, a)
    []
    >>> [p.message for p in compare_manifests(a, {})]
    ['x: in the checksum manifest but not in this store']
    """
    problems = []
    for path in sorted(set(expected) | set(actual)):
        if path not in actual:
            problems.append(Problem("checksum", path, None, f"{path}: in the checksum manifest but not in this store"))
            continue
        if path not in expected:
            problems.append(Problem("checksum", path, None, f"{path}: in this store but not in the checksum manifest"))
            continue
        want, got = expected[path], actual[path]
        for key in ("shape", "dtype"):
            if want.get(key) != got[key]:
                message = f"{path}: {key} is {got[key]!r}, the manifest says {want.get(key)!r}"
                problems.append(Problem("checksum", path, None, message))
        if problems and problems[-1].path == path or want.get("digest") == got["digest"]:
            continue
        block = got["block_shape"]
        differ = [i for i, (a, b) in enumerate(zip(want.get("blocks", []), got["blocks"])) if a != b]
        where = ""
        if differ:
            grid = [-(-s // b) for s, b in zip(got["shape"], block)]
            index = np.unravel_index(differ[0], grid) if grid else ()
            spans = [f'{i * b}:{min((i + 1) * b, s)}' for i, b, s in zip(index, block, got['shape'])]
            where = f"; first difference in elements {spans}"
        counted = f"({len(differ)} of {len(got['blocks'])} blocks)"
        message = f"{path}: the decoded data differ from the manifest {counted}{where}"
        problems.append(Problem("checksum", path, None, message))
    return problems


def _stale_consolidated(
    store: Store, group: GroupMetadata, nodes: dict[str, ArrayMetadata | GroupMetadata]
) -> list[Problem]:
    """Where the group's consolidated metadata disagrees with the members' own documents."""
    cons = group.consolidated or {}
    problems = []
    for path in sorted(set(cons) | set(nodes)):
        if path not in cons:
            message = f"{path}: a member not in the consolidated metadata"
        elif path not in nodes:
            message = f"{path}: in the consolidated metadata but no longer in the store"
        else:
            listed = consolidated_member(store.child(path), cons[path], group.zarr_format)
            real = nodes[path]
            same = isinstance(real, GroupMetadata) or listed == real  # groups: attributes only
            if type(listed) is type(real) and same and listed.attributes == real.attributes:
                continue
            message = f"{path}: the consolidated metadata differ from the member's own documents"
        fix = f"run `dz consolidate {store.describe()}`"
        problems.append(Problem("stale_consolidated", path, None, f"{message}; {fix}"))
    return problems


def _members(group: Group, prefix: str, nodes: dict[str, Any], problems: list[Problem]) -> None:
    """Every node below ``group`` read from its own documents (not consolidated metadata)."""
    # Listed, not read through Group.members(): a member whose documents do not parse is a
    # problem to report here, not an error that stops the whole verification.
    for name in group.listed_names():
        path = f"{prefix}{name}"
        child = group.store.child(name)
        try:
            meta = read_node(child)
        except ArrayNotFoundError:
            continue  # a folder that is no Zarr node
        except ZarrioError as e:
            problems.append(Problem("metadata", path, None, str(e)))
            continue
        nodes[path] = meta
        if isinstance(meta, GroupMetadata):
            _members(Group(child, GroupMetadata(meta.zarr_format, meta.attributes)), f"{path}/", nodes, problems)


def _pyramid_problems(store: Store, nodes: dict[str, ArrayMetadata | GroupMetadata]) -> list[Problem]:
    """What is wrong with the metadata of each pyramid group (axes, level paths, scales, dimension names)."""
    problems = []
    for path, meta in nodes.items():
        if isinstance(meta, GroupMetadata):
            group = Group(store.child(path) if path else store, GroupMetadata(meta.zarr_format, meta.attributes))
            problems += [Problem("pyramid", path or "/", None, f"{path}: {message}" if path else message)
                         for message in check_pyramid(group)]
    return problems


def _load_manifest(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise ZarrioError(
            f"checksum={os.fspath(path)!r} cannot be read as a manifest ({e}); give a new file name to write one"
        ) from e
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT or not isinstance(doc.get("arrays"), dict):
        raise ZarrioError(
            f"checksum={os.fspath(path)!r} is no {MANIFEST_FORMAT} manifest; give a new file name to write one"
        )
    return doc["arrays"]


def verify(
    url: StoreLike,
    *,
    checksum: str | os.PathLike[str] | None = None,
    scheduler: str | None = None,
    storage_options: dict[str, Any] | None = None,
    progress: bool | str = False,
    allow_pickle: bool = False,
) -> VerifyReport:
    """Decode every stored chunk of an array or of every array in a group, in parallel.

    Parameters
    ----------
    url
        An array or a group (any URL :func:`dask_zarrio.read` takes).
    checksum
        A manifest file: written when it does not exist, else compared with the
        decoded data (digests of canonical blocks, so copies with other chunking,
        codecs or format compare equal).
    scheduler
        Passed to ``dask.compute``; ``None`` uses the active distributed client if any.
    storage_options
        Options for the fsspec filesystem.
    progress
        ``True`` or ``"rich"`` for a progress bar (see :func:`dask_zarrio.graph.progress.compute`).
    allow_pickle
        Decode chunks whose codec unpickles them, as :func:`dask_zarrio.read` does. Unpickling
        runs code stored in the data: only for stores you trust. Without it such chunks are
        reported (``unsafe_codec``), not decoded.

    Returns
    -------
    VerifyReport
        ``report.ok``, ``report.problems`` (kind, path, key, message) and per-array counts.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> dz.write(da.arange(10, chunks=5), "memory://doc/verify.zarr", mode="w")
    >>> report = dz.verify("memory://doc/verify.zarr")
    >>> report.ok, report.arrays["/"]["chunks_checked"]
    (True, 2)
    """
    store, root = open_node(url, storage_options)
    report = VerifyReport(store.describe())
    arrays: dict[str, tuple[Store, ArrayMetadata]] = {}
    if isinstance(root, GroupMetadata):
        nodes: dict[str, ArrayMetadata | GroupMetadata] = {}
        plain = Group(store, GroupMetadata(root.zarr_format, root.attributes), allow_pickle=allow_pickle)
        _members(plain, "", nodes, report.problems)
        if root.consolidated is not None:
            report.problems.extend(_stale_consolidated(store, root, nodes))
        report.problems.extend(_pyramid_problems(store, {"": root, **nodes}))
        arrays = {p: (store.child(p), m) for p, m in nodes.items() if not isinstance(m, GroupMetadata)}
    else:
        arrays = {"/": (store, root)}
    tasks: list[Any] = []
    for path, (child, meta) in arrays.items():
        sizes = child.list_sizes()
        classes = classify_keys(meta, list(sizes))
        report.problems.extend(
            Problem("outside_grid", path, key,
                    f"{child.describe(key)}: a chunk key outside the chunk grid of shape {list(meta.shape)}")
            for key in classes.outside
        )
        try:
            spec = ArraySpec.from_metadata(meta, allow_pickle=allow_pickle)
        except UnsafeCodecError as e:
            report.arrays[path] = {"chunks_checked": 0, "chunks_expected": None}
            report.problems.extend(_unsafe(child, path, list(classes.chunks), e))
            continue
        report.arrays[path] = {"chunks_checked": len(classes.chunks), "chunks_expected": spec.grid.nchunks}
        tasks.extend(
            dask.delayed(check_chunks)(child, spec, path, {k: classes.chunks[k] for k in batch})
            for batch in _batches(list(classes.chunks), sizes)
        )
    (found,) = compute(tasks, progress=progress, scheduler=scheduler)
    report.problems.extend(p for batch in found for p in batch)
    if checksum is not None:
        _checksum(report, arrays, checksum, scheduler, progress, allow_pickle)
    return report


def _unsafe(store: Store, path: str, keys: list[str], error: UnsafeCodecError) -> list[Problem]:
    """The problem of an array whose chunks only unpickling would decode: named, not run."""
    if not keys:
        return []  # nothing stored, nothing to decode
    more = f" (and {len(keys) - 1} more stored chunks)" if len(keys) > 1 else ""
    message = f"{store.describe(keys[0])}{more}: not decoded: {error}"
    return [Problem("unsafe_codec", path, keys[0], message)]


def _checksum(
    report: VerifyReport, arrays: dict[str, tuple[Store, ArrayMetadata]], path: str | os.PathLike[str],
    scheduler: str | None, progress: bool | str, allow_pickle: bool,
) -> None:
    expected = _load_manifest(path)
    broken = {p.path for p in report.problems if p.kind in ("corrupt_chunk", "shard_index", "metadata", "unsafe_codec")}
    if broken:
        message = f"checksums not computed: {len(broken)} arrays have undecodable chunks"
        report.problems.append(Problem("checksum", "/", None, message))
        return
    blocks = {p: _digests(s, m, allow_pickle) for p, (s, m) in arrays.items()}
    (digests,) = compute(blocks, progress=progress, scheduler=scheduler)
    actual = {p: _manifest_entry(arrays[p][1], list(d)) for p, d in digests.items()}
    if expected is None:
        with open(path, "w") as f:
            json.dump({"format": MANIFEST_FORMAT, "arrays": actual}, f, indent=1)
        report.checksum = "written"
        return
    found = compare_manifests(expected, actual)
    report.problems.extend(found)
    report.checksum = "mismatched" if found else "matched"
