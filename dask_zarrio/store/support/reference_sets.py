"""Reference sets: which bytes of which file hold each key of a virtual Zarr store.

Two layouts, both as fsspec's ``ReferenceFileSystem`` reads them (kerchunk writes them):

- **JSON** (:class:`JsonReferences`), version 0 (``{key: value}``) or 1 (``{"version": 1,
  "templates": ..., "gen": ..., "refs": ...}``). A value is inline data (a string,
  ``"base64:..."`` for binary, or a JSON object for a metadata document), ``[url]`` (the
  whole file) or ``[url, offset, length]``. ``{{name}}`` in a URL is a template;
  generators expand ``key``/``url``/``offset``/``length`` over their dimensions.
- **Parquet** (:class:`ParquetReferences`), fsspec's ``LazyReferenceMapper`` folder:
  ``.zmetadata`` (``{"metadata": {...}, "record_size": N}``) and, per array, files
  ``<array>/refs.<record>.parq`` with columns ``path``, ``offset``, ``size``, ``raw``; chunk
  number ``i`` (C order over the chunk grid) is row ``i % N`` of record ``i // N``. Only the
  record files that the asked keys fall in are read, and a few are kept per process.

A resolved reference (:data:`Reference`) is ``bytes`` (inline) or ``(url, offset, length)``
with ``offset``/``length`` ``None`` for a whole file. Nothing here imports kerchunk; the
Parquet layout needs pandas with pyarrow or fastparquet.
"""

from __future__ import annotations

import ast
import base64
import io
import itertools
import json
import math
import operator
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from ...errors import MissingDependencyError, ZarrioError

__all__ = ["JsonReferences", "ParquetReferences", "Reference", "ReferenceSet", "render_template"]

#: Inline bytes, or ``(url, offset, length)`` (``None`` offset and length: the whole file).
Reference = bytes | tuple[str, int | None, int | None]

_TEMPLATE = re.compile(r"{{(.*?)}}")
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod, ast.Pow: operator.pow, ast.Div: operator.truediv,
}


def _evaluate(node: ast.AST, names: dict[str, Any], text: str) -> Any:
    """An arithmetic expression over names and numbers (what generators hold), nothing else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left, names, text), _evaluate(node.right, names, text))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand, names, text)
        return -value if isinstance(node.op, ast.USub) else value
    raise ZarrioError(
        f"reference template {text!r}: {ast.unparse(node)!r} is not a known name nor arithmetic on "
        f"names and numbers (known names: {sorted(names)}); dask_zarrio renders '{{{{name}}}}' and "
        "'{{(i + 1) * 100}}' but no jinja filters or statements: expand such references with "
        "fsspec's ReferenceFileSystem and save them with .save_json"
    )


def render_template(text: str, names: dict[str, Any]) -> str:
    """``text`` with every ``{{expression}}`` replaced by its value (jinja's simple subset).

    Examples
    --------
    >>> render_template("s3://b/f_{{i}}.nc@{{ (i + 1) * 100 }}", {"i": 2})
    's3://b/f_2.nc@300'
    """

    def one(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        try:
            tree = ast.parse(expression, mode="eval")
        except SyntaxError as e:
            raise ZarrioError(f"reference template {text!r}: {expression!r} is not an expression") from e
        return str(_evaluate(tree.body, names, text))

    return _TEMPLATE.sub(one, text) if "{{" in text else text


def _inline(value: str | bytes, key: str) -> bytes:
    raw = value.encode() if isinstance(value, str) else bytes(value)
    if raw.startswith(b"base64:"):
        try:
            return base64.b64decode(raw[7:], validate=True)
        except ValueError as e:
            raise ZarrioError(
                f"reference {key!r} holds invalid base64 data after 'base64:'; regenerate the references"
            ) from e
    return raw


def _ranged(key: str, url: str, offset: object, length: object) -> Reference:
    """``(url, offset, length)``, refused unless both are integers >= 0 (a negative length reads a whole file)."""
    if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (offset, length)):
        return (url, offset, length)  # type: ignore[return-value]
    raise ZarrioError(
        f"reference {key!r} is {[url, offset, length]!r}: a reference is inline data (a string, 'base64:...'), "
        "[url] or [url, offset, length] with offset and length integers >= 0; fix the reference file"
    )


def parse_reference(key: str, value: object, templates: dict[str, Any] | None = None) -> Reference:
    """One JSON reference value as a :data:`Reference`, templates rendered.

    Examples
    --------
    >>> parse_reference("a/0", ["{{u}}", 10, 5], {"u": "s3://b/f.nc"}), parse_reference(".zattrs", {"x": 1})
    (('s3://b/f.nc', 10, 5), b'{"x": 1}')
    """
    if isinstance(value, (str, bytes)):
        return _inline(value, key)
    if isinstance(value, dict):
        return json.dumps(value).encode()
    if isinstance(value, list) and len(value) in (1, 3) and isinstance(value[0], str):
        url = render_template(value[0], templates or {})
        return (url, None, None) if len(value) == 1 else _ranged(key, url, value[1], value[2])
    raise ZarrioError(
        f"reference {key!r} is {value!r}: a reference is inline data (a string, 'base64:...'), "
        "[url] or [url, offset, length] with offset and length integers >= 0; fix the reference file"
    )


class ReferenceSet:
    """Keys of a virtual store and what each one resolves to (base class).

    Subclasses implement :meth:`lookup` and :meth:`keys`; instances are shared by every
    store on the same references in a process, so they must be safe across threads.
    """

    def lookup(self, key: str) -> Reference | None:
        """What ``key`` resolves to, ``None`` when there is no reference for it."""
        raise NotImplementedError

    def lookup_many(self, keys: list[str]) -> list[Reference | None]:
        """:meth:`lookup` of each key (subclasses batch what they read)."""
        return [self.lookup(k) for k in keys]

    def keys(self) -> Iterable[str]:
        """Every key that can be listed (Parquet sets list metadata documents only)."""
        raise NotImplementedError


class JsonReferences(ReferenceSet):
    """A parsed kerchunk JSON reference document (version 0 or 1).

    Examples
    --------
    >>> refs = JsonReferences({"version": 1, "templates": {"u": "s3://b/f.nc"},
    ...     "gen": [{"key": "a/{{i}}", "url": "{{u}}", "offset": "{{i * 10}}", "length": "10",
    ...              "dimensions": {"i": {"stop": 3}}}],
    ...     "refs": {".zgroup": "{\\"zarr_format\\": 2}", "a/.zattrs": "base64:e30="}})
    >>> refs.lookup("a/2"), refs.lookup("a/.zattrs"), refs.lookup("a/9")
    (('s3://b/f.nc', 20, 10), b'{}', None)
    """

    def __init__(self, document: object) -> None:
        if not isinstance(document, dict):
            raise ZarrioError(f"a JSON reference document must be an object, not {type(document).__name__}")
        version = document.get("version")
        if version is None:
            self._refs = {str(k): parse_reference(str(k), v) for k, v in document.items()}
            return
        if version != 1:
            raise ZarrioError(f"reference document version={version!r}: only versions 0 and 1 are known")
        templates = document.get("templates") or {}
        refs = document.get("refs") or {}
        if not isinstance(templates, dict) or not isinstance(refs, dict):
            raise ZarrioError("reference document: 'templates' and 'refs' must be JSON objects")
        self._refs = {}
        for gen in document.get("gen") or []:
            self._refs.update(_generate(gen, templates))
        self._refs.update((str(k), parse_reference(str(k), v, templates)) for k, v in refs.items())

    def lookup(self, key: str) -> Reference | None:
        return self._refs.get(key)

    def keys(self) -> Iterable[str]:
        return self._refs.keys()


def _generate(gen: object, templates: dict[str, Any]) -> dict[str, Reference]:
    """The references one ``gen`` entry expands to (every combination of its dimensions)."""
    if (not isinstance(gen, dict) or not {"key", "url", "dimensions"} <= gen.keys()
            or ("offset" in gen) != ("length" in gen)):
        raise ZarrioError(
            f"reference generator {gen!r} needs 'key', 'url' and 'dimensions', and 'offset' and "
            "'length' together or neither; fix the reference file"
        )
    axes: list[tuple[str, list[Any]]] = []
    for name, spec in gen["dimensions"].items():
        if isinstance(spec, dict) and "stop" in spec:
            axes.append((name, list(range(spec.get("start", 0), spec["stop"], spec.get("step", 1)))))
        elif isinstance(spec, list):
            axes.append((name, spec))
        else:
            raise ZarrioError(
                f"reference generator dimension {name!r}={spec!r} must be a list or {{'start', 'stop', 'step'}}"
            )
    out: dict[str, Reference] = {}
    for combination in itertools.product(*(values for _, values in axes)):
        names = {**templates, **dict(zip((n for n, _ in axes), combination))}
        key = render_template(str(gen["key"]), names)
        url = render_template(str(gen["url"]), names)
        if "offset" in gen:
            offset, length = (render_template(str(gen[name]), names) for name in ("offset", "length"))
            out[key] = _ranged(key, url, *(int(v) if v.lstrip("-").isdigit() else v for v in (offset, length)))
        else:
            out[key] = (url, None, None)
    return out


class ParquetReferences(ReferenceSet):
    """fsspec's ``LazyReferenceMapper`` layout, read lazily: only the record files asked for.

    ``read(path)`` returns a file's bytes (``None`` when missing); ``cached_records``
    record files are kept per instance (least recently used go first).
    """

    def __init__(self, read: Callable[[str], bytes | None], location: str, cached_records: int = 32) -> None:
        self._read = read
        self._location = location
        document = read(".zmetadata")
        if document is None:
            raise ZarrioError(f"no .zmetadata in the Parquet references at {location!r}: is it a reference folder?")
        meta = json.loads(document)
        if (not isinstance(meta, dict) or not isinstance(meta.get("metadata"), dict)
                or not isinstance(meta.get("record_size"), int)):
            raise ZarrioError(
                f"{location}/.zmetadata must hold {{'metadata': {{...}}, 'record_size': int}} as fsspec's "
                "LazyReferenceMapper writes it; regenerate the references"
            )
        self._metadata: dict[str, Any] = meta["metadata"]
        self._record_size: int = meta["record_size"]
        self._records: OrderedDict[tuple[str, int], dict[str, Any] | None] = OrderedDict()
        self._cached = cached_records
        self._lock = threading.Lock()
        self.record_reads = 0  # record files read so far (tests count them)

    def keys(self) -> Iterable[str]:
        return self._metadata.keys()

    def _grid(self, field: str) -> list[int] | None:
        meta = self._metadata.get(f"{field}/.zarray")
        if isinstance(meta, str):
            meta = json.loads(meta)
        if not isinstance(meta, dict):
            return None
        return [math.ceil(s / c) for s, c in zip(meta["shape"], meta["chunks"])] or [1]

    def _position(self, key: str) -> tuple[str, int, int] | None:
        field, _, chunk = key.rpartition("/")
        grid = self._grid(field)
        if grid is None:
            return None
        try:
            index = [int(c) for c in re.split(r"[./]", chunk)] if chunk else [0]
        except ValueError:
            return None
        if len(index) != len(grid) or any(not 0 <= i < n for i, n in zip(index, grid)):
            return None
        number = 0
        for i, n in zip(index, grid):
            number = number * n + i
        return field, number // self._record_size, number % self._record_size

    def _record(self, field: str, record: int) -> dict[str, Any] | None:
        with self._lock:
            if (field, record) in self._records:
                self._records.move_to_end((field, record))
                return self._records[(field, record)]
        data = self._read(f"{field}/refs.{record}.parq")
        columns = None if data is None else _read_parquet(data, f"{self._location}/{field}/refs.{record}.parq")
        with self._lock:
            self.record_reads += 1
            self._records[(field, record)] = columns
            while len(self._records) > self._cached:
                self._records.popitem(last=False)
        return columns

    def lookup(self, key: str) -> Reference | None:
        if key in self._metadata:
            value = self._metadata[key]
            return value.encode() if isinstance(value, str) else json.dumps(value).encode()
        position = self._position(key)
        if position is None:
            return None
        field, record, row = position
        columns = self._record(field, record)
        if columns is None or row >= len(columns["path"]):
            return None
        raw = columns.get("raw")
        if raw is not None and _present(raw[row]):
            return bytes(raw[row])
        path = columns["path"][row]
        if not _present(path):
            return None
        offset, size = int(columns["offset"][row]), int(columns["size"][row])
        return (str(path), None, None) if offset == 0 and size == 0 else _ranged(key, str(path), offset, size)


def _present(value: Any) -> bool:
    """Whether a Parquet cell holds a value (not None, NaN or pandas' NA)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value is not _na()


def _na() -> Any:
    try:
        import pandas as pd

        return pd.NA
    except ImportError:  # pragma: no cover (read_parquet needs pandas first)
        return None


def _read_parquet(data: bytes, where: str) -> dict[str, Any]:
    """A record file's columns as lists (pandas with pyarrow or fastparquet reads it)."""
    try:
        import pandas as pd
    except ImportError as e:
        raise MissingDependencyError(
            f"reading the Parquet references {where} needs pandas and pyarrow: pip install 'dask_zarrio[references]'"
        ) from e
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except ImportError as e:
        raise MissingDependencyError(
            f"reading the Parquet references {where} needs pyarrow or fastparquet: "
            "pip install 'dask_zarrio[references]'"
        ) from e
    return {name: frame[name].tolist() for name in frame.columns}
