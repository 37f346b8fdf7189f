"""Writing an xarray Dataset as a Zarr group: :func:`write_dataset`, as ``Dataset.to_zarr`` writes it.

Each variable is CF-encoded by xarray's own coders (:mod:`.encoding` says what is stored
per variable) and written by :func:`dask_zarrio.write`, all in one dask graph: into a new
group, or into a stored one (:mod:`.modes`; appended along a dimension or overwritten,
after the checks of :mod:`.appending`; into a region found as ``to_zarr`` finds it,
:mod:`.regions`); into Icechunk the whole Dataset is one commit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dask
import dask.array as da
import numpy as np

from .._compat import xarray_fill_value_coder
from ..api import prepare_write, write
from ..errors import ArgumentTypeError, ArrayNotFoundError, MissingVariableError, ZarrioError
from ..graph.builder import refuse_reading_from
from ..graph.progress import compute as compute_with_progress
from ..hierarchy import Group, consolidate, open_group
from ..metadata.arguments import check_attributes
from ..metadata.create import NO_FILL
from ..store import Store, open_store
from ..store.backends.icechunk_store import is_icechunk
from ..typing import StoreLike
from ..writing.transactions import Member, Transaction, begin, commit, commit_parts, merge_forks
from .appending import check_append_dim, check_dtype, check_no_encoding, matching_dims, stored_variables
from .backend import _xarray
from .encoding import encode_variable, json_attrs, layout_arguments, numpy_variable, zarr_encoding
from .modes import choose_mode, dataset_group, encoded_name, validate_names
from .regions import resolve_region

__all__ = ["write_dataset"]


@dataclass
class _Variable:
    """One variable's write, resolved before anything is stored."""

    name: str
    var: Any  # CF-encoded, dimensions in the stored order
    stored: bool
    fill: Any = None
    attrs: dict[str, Any] = field(default_factory=dict)
    layout: dict[str, Any] = field(default_factory=dict)
    write_empty: bool = False


def write_dataset(
    ds: Any,
    url: StoreLike,
    *,
    mode: str | None = None,
    group: str | None = None,
    encoding: Mapping[Any, Mapping[str, Any]] | None = None,
    compute: bool = True,
    consolidated: bool | None = None,
    append_dim: Any = None,
    region: Mapping[str, slice | str] | str | None = None,
    safe_chunks: bool = True,
    align_chunks: bool | None = None,
    storage_options: dict[str, Any] | None = None,
    zarr_format: int | None = None,
    write_empty_chunks: bool | None = None,
    progress: bool | str = False,
    branch: str | None = None,
    commit: str | None = None,
    rebase: bool = False,
) -> Any:
    """Write an xarray Dataset as a Zarr group, as ``Dataset.to_zarr`` writes it, in one dask graph.

    Every variable goes through :func:`dask_zarrio.write` (the planner keeps the writes
    lock-free); CF encoding is xarray's own. The options are ``to_zarr``'s, with its
    semantics and its exception classes; docs/formats.md lists the few deliberate
    differences.

    Parameters
    ----------
    ds
        The Dataset; dask-backed variables are written in parallel.
    url
        Where the store is (any URL :func:`dask_zarrio.write` takes).
    mode
        ``"w-"`` create (refused if anything is there), ``"w"`` replace, ``"a"`` write into
        the group (created if missing): overwrite stored variables (or append along
        ``append_dim``), add new ones, replace the group's attributes; ``"a-"`` as ``"a"``
        but with ``append_dim`` variables without it are left alone; ``"r+"`` write into
        stored variables only, attributes unchanged. ``None`` infers it as ``to_zarr``:
        ``"a"`` with ``append_dim``, ``"r+"`` with ``region``, else ``"w-"``.
    group
        The group's path inside the store (parent groups are created).
    encoding
        Per variable, as ``to_zarr``: it replaces that variable's own ``.encoding``, which
        is used otherwise. Layout (``chunks``, ``shards``, ``compressors``, ``filters``,
        ``serializer``, ``chunk_key_encoding``, v3 ``fill_value``; codecs as zarr-python
        objects, numcodecs objects, dicts or names) and CF encodings (``dtype``,
        ``_FillValue``, ``scale_factor``, ``add_offset``, ``units``, ``calendar``). Keys a
        Zarr array does not take are refused here and dropped from ``.encoding``.
    compute
        ``False``: store the metadata now (as ``to_zarr``: readers see the fill value
        until the data is written) and return a ``dask.delayed.Delayed`` that writes the
        data (and consolidates, or commits into Icechunk).
    consolidated
        Consolidated metadata afterwards (``None``, the default, and ``True``); not for ``"r+"``.
    append_dim
        With ``"a"``/``"a-"``: the dimension to grow; it must be stored already.
    region
        ``{dim: slice}`` or ``"auto"`` (whole, or per dimension: where the data's index
        values are stored); with ``"r+"``, ``"a"`` or ``"a-"``. Indexes are not written.
    safe_chunks, align_chunks
        dask chunks that would split stored chunks are rechunked so that no two tasks
        write one chunk (the default). ``align_chunks=False`` with ``safe_chunks=True``
        refuses such writes instead (:class:`MisalignedWriteError`).
    storage_options, zarr_format
        As ``to_zarr``: fsspec options; 2 or 3 (``None``: the stored group's, or 3).
    write_empty_chunks
        ``True`` stores chunks that hold only the fill value too (default: left out).
    progress
        A progress bar while writing, as :func:`dask_zarrio.write`.
    branch, commit, rebase
        With an Icechunk ``url``, as in :func:`dask_zarrio.write`: the whole Dataset is
        **one commit** (a Session's changes are merged into it, committed only with
        ``commit=``); a failed write commits nothing. Icechunk needs no consolidated metadata.

    Returns
    -------
    None, or with ``compute=False`` a ``dask.delayed.Delayed``.

    Examples
    --------
    >>> import numpy as np, xarray as xr, dask_zarrio as dz
    >>> ds = xr.Dataset({"v": (("x",), np.arange(4.0))})
    >>> dz.write_dataset(ds, "memory://doc/wd.zarr", mode="w", zarr_format=2)
    >>> xr.open_dataset("memory://doc/wd.zarr", engine="dask_zarrio").v.values.tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    mode = choose_mode(mode, append_dim, region)
    validate_names(ds)
    align = "raise" if align_chunks is False and safe_chunks else "auto"
    tx = _begin_transaction(url, zarr_format, branch, commit, rebase, storage_options)
    if tx is not None:
        url, storage_options, consolidated = tx.store, None, False
    try:
        top = open_store(url, storage_options)
        node = top.child(group) if group else top
        root = _stored_group(node, mode, zarr_format)
        fmt = int(root.zarr_format) if root is not None else zarr_format or 3
        ds, regions = resolve_region(region, ds, root, mode, append_dim)
        plan, attrs = _plan(ds, root, mode, encoding, append_dim, regions, fmt, write_empty_chunks)
        targets = [_target(tx, node, group, v.name) for v in plan]  # names checked before anything changes
        for v in plan:
            if mode == "w":
                refuse_reading_from(v.var.data, node, "dz.write_dataset")
        dataset_group(node, root, mode, attrs, fmt)
        how: dict[str, Any] = {"align": align, "compute": False}
        now: list[Any] = []
        later: list[Any] = []  # compute=False: as to_zarr, numpy variables are written now, dask ones later
        for v, t in zip(plan, targets):
            eager = compute or (tx is None and not isinstance(v.var.data, da.Array))
            (now if eager else later).append(_write(v, t, mode, append_dim, regions, fmt, eager, how))
        if tx is None and now:
            compute_with_progress(*now, progress=progress)
    except BaseException:
        if tx is not None:
            tx.abandon()  # nothing of this Dataset reaches the caller's session
        raise
    done = _Done(tx, top if consolidated is not False and mode != "r+" else None, node)
    if not compute:
        done.consolidate()  # the metadata is written now: the consolidated view of it too
        return dask.delayed(done, pure=False)(later)
    if tx is not None:
        commit_parts(now, tx, progress=progress)
        return None
    done.consolidate()
    return None


@dataclass
class _Done:
    """What follows the data tasks: Icechunk's one commit, or consolidated metadata."""

    tx: Transaction | None
    consolidate_at: Store | None
    node: Store

    def __call__(self, forks: list[Any]) -> None:
        if self.tx is not None:
            commit(merge_forks(forks), self.tx)
            return
        self.consolidate()

    def consolidate(self) -> None:
        if self.consolidate_at is None:
            return
        try:  # the store's root when it is a group (as to_zarr), else the group written
            consolidate(self.consolidate_at)
        except ArrayNotFoundError:
            consolidate(self.node)


def _stored_group(node: Store, mode: str, zarr_format: int | None) -> Group | None:
    """The group written into ("a", "a-", "r+"; ``None`` where "a" creates it); ``None`` for "w", "w-"."""
    if mode in ("w", "w-"):
        return None
    try:
        root = open_group(node)
    except ArrayNotFoundError:
        if mode == "r+":
            raise
        return None
    if zarr_format is not None and zarr_format != int(root.zarr_format):
        raise ZarrioError(
            f"zarr_format={zarr_format!r}, but the group at {node.describe()} is Zarr v{root.zarr_format}: a "
            f"write into it keeps its format; pass zarr_format={root.zarr_format} or None"
        )
    return root


def _plan(
    ds: Any, root: Group | None, mode: str, encoding: Mapping[Any, Any] | None, append_dim: Any,
    regions: dict[str, slice] | None, fmt: int, write_empty_chunks: bool | None,
) -> tuple[list[_Variable], dict[str, Any]]:
    """Every variable's write, encoded and checked as ``to_zarr`` does, before anything is stored."""
    xr = _xarray()
    variables, attrs = xr.conventions.encode_dataset_coordinates(ds)
    encoding = dict(encoding or {})
    for name, enc in encoding.items():
        if name not in variables:
            raise MissingVariableError(
                f"encoding names variable {name!r}, which the dataset does not have; drop it "
                f"(the variables are {sorted(map(str, variables))!r})"
            )
        if not isinstance(enc, Mapping):
            raise ArgumentTypeError(
                f"encoding[{name!r}]={enc!r} must be a dict of encoding keys (it must be castable to a dictionary)"
            )
        variables[name] = variables[name].copy(deep=False)
        variables[name].encoding = dict(enc)  # replaces the variable's own, as to_zarr
    keys = set(root.array_keys()) if root is not None else set()
    stored = [n for n in variables if encoded_name(n) in keys]
    if root is not None:
        check_no_encoding(encoding, stored)
        check_append_dim(append_dim, root, (encoded_name(n) for n in stored))
    elif append_dim is not None:
        raise ZarrioError(
            f"append_dim={append_dim!r} does not match any existing dataset dimensions {{}}: nothing is stored "
            "yet to append to; write the first part without append_dim"
        )
    new = [n for n in variables if n not in stored]
    if mode == "r+" and new:
        raise ZarrioError(
            f"dataset contains non-pre-existing variables {new!r}, which is not allowed in "
            "``xarray.Dataset.to_zarr()`` or write_dataset with ``mode='r+'``. To allow writing new variables, "
            "set ``mode='a'``."
        )
    attrs = _checked_attrs(attrs, "the Dataset's attrs")
    before = stored_variables(root, [encoded_name(n) for n in stored]) if root is not None else {}
    plan = []
    for name, var in variables.items():
        var = numpy_variable(var, name)
        _check_chunk_sizes(var, name)
        if name in stored:
            if mode == "a-" and append_dim is not None and append_dim not in var.dims:
                continue
            plan.append(_into_stored(name, var, before[encoded_name(name)], regions, append_dim, fmt,
                                     write_empty_chunks))
        else:
            plan.append(_new(name, var, name in encoding, fmt, write_empty_chunks))
    return plan, attrs


def _check_chunk_sizes(var: Any, name: Any) -> None:
    """dask arrays of unknown block sizes (``x[x > 0]``) cannot be placed; say how to size them."""
    chunks = getattr(var.data, "chunks", None)
    if chunks is not None and any(math.isnan(c) for axis in chunks for c in axis):
        raise ZarrioError(
            f"variable {name!r} is a dask array of unknown chunk sizes (from boolean indexing or the like), "
            "so where each block goes is not known; call .compute_chunk_sizes() on its dask array first: "
            f"ds[{name!r}].data.compute_chunk_sizes()"
        )


def _write_empty(enc: Mapping[str, Any], given: bool | None, name: Any) -> bool:
    """``write_empty_chunks`` of a variable: the argument's, or its encoding's; both must agree."""
    mine = enc.get("write_empty_chunks")
    if given is not None and mine is not None and bool(mine) != bool(given):
        raise ZarrioError(
            f'Differing "write_empty_chunks" values in encoding and parameters: encoding[{name!r}] has '
            f"write_empty_chunks={mine!r} and write_empty_chunks={given!r}; drop one"
        )
    return bool(given if given is not None else mine)


def _new(name: Any, var: Any, check: bool, fmt: int, write_empty_chunks: bool | None) -> _Variable:
    """A new array's write: its CF encoding, fill value, attributes and layout, as ``to_zarr`` stores them.

    Zarr v2 keeps ``_FillValue`` as the array's fill value (``null`` where there is none,
    so that 0 stays a value); v3 keeps it as an attribute, the array's ``fill_value``
    coming from ``encoding["fill_value"]`` (NaN for floats, as xarray).
    """
    var = encode_variable(var, encoded_name(name), fmt)
    enc = zarr_encoding(var, name, check=check, zarr_format=fmt)
    attrs = dict(var.attrs)
    if fmt == 2:
        fill = attrs.pop("_FillValue", None)
        fill = NO_FILL if fill is None else fill
    else:
        if attrs.get("_FillValue") is not None:
            attrs["_FillValue"] = xarray_fill_value_coder().encode(attrs["_FillValue"], var.dtype)
        fill = enc.get("fill_value", np.nan if var.dtype.kind == "f" else None)
    attrs = _checked_attrs(attrs, f"the attrs of variable {name!r}")
    return _Variable(encoded_name(name), var, False, fill, attrs, layout_arguments(enc, var.data, fmt),
                     _write_empty(enc, write_empty_chunks, name))


def _checked_attrs(attrs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Attributes as JSON stores them, checked before anything is written (a ``TypeError`` as ``to_zarr``'s)."""
    try:
        return check_attributes(json_attrs(attrs))
    except ArgumentTypeError as e:
        raise ArgumentTypeError(f"Invalid attribute in Dataset.attrs. ({where}): {e}") from None


def _into_stored(
    name: Any, var: Any, before: Any, regions: dict[str, slice] | None, append_dim: Any, fmt: int,
    write_empty_chunks: bool | None,
) -> _Variable:
    """A stored variable's write: the new data encoded as the stored data was, in the stored dimension order."""
    check_dtype(name, before, var)
    var = var.copy(deep=False)
    var.encoding = {k: v for k, v in before.encoding.items() if k in ("dtype", "units", "calendar", "_FillValue",
                                                                          "missing_value", "scale_factor",
                                                                          "add_offset")}
    var = matching_dims(name, encode_variable(var, encoded_name(name), fmt), before, regions, append_dim)
    return _Variable(encoded_name(name), var, True, write_empty=bool(write_empty_chunks))


def _target(tx: Transaction | None, node: Store, group: str | None, name: str) -> Any:
    """Where a variable goes; its name is checked (``..`` must not leave the group) either way."""
    child = node.child(name)
    if tx is not None:
        return Member(tx, f"{group.strip('/')}/{name}" if group else name)
    return child


def _write(
    v: _Variable, target: Any, mode: str, append_dim: Any, regions: dict[str, slice] | None, fmt: int,
    compute: bool, how: dict[str, Any],
) -> Any:
    """One variable's data write (a ``Delayed``, or an Icechunk member's fork); its metadata is begun now.

    A new array's metadata is committed after its data (a journal until then), but with
    ``compute=False`` it is committed now and the data written into it, as ``to_zarr``
    stores the metadata first.
    """
    how = {**how, "write_empty_chunks": v.write_empty}
    data = v.var.data
    if v.stored:
        if append_dim is not None and append_dim in v.var.dims:
            return write(data, target, mode="a", append_dim=v.var.dims.index(append_dim), **how)
        sel = tuple((regions or {}).get(d, slice(None)) for d in v.var.dims)
        return write(data, target, mode="r+", region=sel, **how)
    new = dict(mode="w-", zarr_format=fmt, fill_value=v.fill, attributes=v.attrs, dimension_names=list(v.var.dims),
               **v.layout)
    if compute or isinstance(target, Member):
        return write(data, target, **new, **how)
    planned = prepare_write(data, target, **new, align=how["align"])
    planned.target.begin(planned.w)
    planned.target.finish(planned.w, None)  # the metadata now: readers see the fill value until the data
    return write(data, target, mode="r+", **how)


def _begin_transaction(
    url: StoreLike, zarr_format: int | None, branch: str | None, commit: str | None, rebase: bool,
    storage_options: dict[str, Any] | None,
) -> Transaction | None:
    """The Icechunk transaction the whole Dataset is written in; ``None`` (and no Icechunk options) elsewhere."""
    if is_icechunk(url):
        if zarr_format not in (None, 3):
            raise ZarrioError(f"icechunk stores Zarr v3 only, not zarr_format={zarr_format!r}; pass zarr_format=3")
        return begin(url, branch=branch, message=commit, rebase=rebase, storage_options=storage_options)
    if branch is not None or commit is not None or rebase:
        raise ZarrioError("branch=, commit= and rebase= apply to Icechunk targets only; drop them")
    return None
