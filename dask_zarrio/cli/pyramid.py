"""``dz pyramid SRC DST``: :func:`dask_zarrio.write_pyramid` of a stored array, with a progress bar.

The options are the keyword arguments of ``dz.write_pyramid`` in the command line's spelling
(``--levels``, ``--method``, ``--factors``, ``--convention``, ``--chunks``, ``--shards``,
``--axes``, ``--units``, ``--scale``, ``--translation``, ``--compressors``, ``--mode``/
``--overwrite``, ``--resume``), as ``dz copy`` spells its own.
"""

from __future__ import annotations

from typing import Any

import click

from ..api import read
from ..errors import ZarrioError
from ..metadata.node import read_node
from ..pyramid.conventions import CONVENTIONS
from ..pyramid.read import pyramid_note
from ..pyramid.reduce import METHODS
from ..pyramid.write import write_pyramid
from ..store import open_store
from . import allow_pickle_option, main, progress_mode, scheduler_option, storage_options, target_options
from .moving import _running, parse_chunks, parse_codecs


def _names(text: str | None, option: str) -> list[str] | None:
    """``"c,y,x"`` -> ``["c", "y", "x"]``."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise ZarrioError(f"{option} {text!r} has an empty name; write names separated by commas, e.g. \"c,y,x\"")
    return names


def _numbers(text: str | None, option: str) -> Any:
    """``"1,0.5,0.5"`` -> floats per axis; ``"y=0.5,x=0.5"`` -> a dict by axis name."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if parts and all("=" in p for p in parts):
            return {k.strip(): float(v) for k, _, v in (p.partition("=") for p in parts)}
        return [float(p) for p in parts]
    except ValueError:
        raise ZarrioError(f"{option} {text!r}: write one number per axis (\"1,0.5,0.5\") or by axis name "
                          "(\"y=0.5,x=0.5\")") from None


def _units(text: str | None) -> Any:
    """``"y=micrometer,x=micrometer"`` -> a dict by axis name; ``",micrometer,micrometer"`` -> a list."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if all("=" in p for p in parts if p):
        return {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in parts if p)}
    return [p or None for p in parts]


def parse_factors(text: str) -> Any:
    """``"2"`` -> 2 (the y and x axes); ``"z=2,y=2,x=2"`` -> a dict by axis name.

    Examples
    --------
    >>> parse_factors("2"), parse_factors("z=2, y=3, x=3")
    (2, {'z': 2, 'y': 3, 'x': 3})
    """
    value = parse_chunks(text, "--factors")
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    if not isinstance(value, (int, dict)) or isinstance(value, bool) or value == -1:
        raise ZarrioError(f"--factors {text!r} must be one integer (the y and x axes) or integers by axis name, "
                          "e.g. \"z=2,y=2,x=2\"")
    return value


def _source_axes(src: str, options: dict[str, Any]) -> list[str] | None:
    """The source array's dimension names (v3 ``dimension_names`` or v2 ``_ARRAY_DIMENSIONS``), if it names all."""
    meta = read_node(open_store(src, options))
    names = getattr(meta, "dimension_names", None)
    if names is None:
        names = getattr(meta, "attributes", {}).get("_ARRAY_DIMENSIONS")
    return list(names) if names and all(isinstance(n, str) and n for n in names) else None


def _options(fn: Any) -> Any:
    options = [
        click.option("--levels", type=click.IntRange(min=1), default=None,
                     help="Levels, level 0 included (default: until the coarsest fits in one chunk)."),
        click.option("--method", type=click.Choice(sorted(METHODS)), default="mean", show_default=True,
                     help="How a level is made from the one before."),
        click.option("--factors", default="2", show_default=True,
                     help='Downsampling per level: one integer for the y and x axes, or "z=2,y=2,x=2".'),
        click.option("--convention", type=click.Choice(CONVENTIONS), default="ome-zarr-0.5", show_default=True),
        click.option("--chunks", default=None, help='Level 0\'s chunks, "1,512,512" (each level clips them).'),
        click.option("--shards", default=None, help='Level 0\'s shards (Zarr v3), as --chunks.'),
        click.option("--axes", default=None, help='Axis names, "c,y,x" (default: the source\'s dimension names).'),
        click.option("--units", default=None, help='Units by axis, "y=micrometer,x=micrometer".'),
        click.option("--scale", default=None, help='Level 0\'s pixel size per axis, "1,0.5,0.5" or "y=0.5,x=0.5".'),
        click.option("--translation", default=None, help="Level 0's origin per axis, as --scale."),
        click.option("--compressors", default=None, help="As dz copy takes them (default: zstd)."),
        click.option("--mode", type=click.Choice(["w-", "w"]), default=None,
                     help="w- refuses an existing DST (the default), w replaces it."),
        click.option("--overwrite", is_flag=True, help="Short for --mode w."),
        click.option("--resume", is_flag=True, help="Complete an interrupted pyramid, writing only what is missing."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def pyramid_arguments(src: str, options: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``dz.write_pyramid`` from the command's options."""
    if given["overwrite"] and given["mode"] not in (None, "w"):
        raise ZarrioError(f"--overwrite is --mode w: give one, not it and --mode {given['mode']}")
    compressors = parse_codecs(given["compressors"], "--compressors")
    return {
        "levels": given["levels"], "method": given["method"], "factors": parse_factors(given["factors"]),
        "convention": given["convention"],
        "chunks": None if given["chunks"] is None else parse_chunks(given["chunks"]),
        "shards": None if given["shards"] is None else parse_chunks(given["shards"], "--shards"),
        "axes": _names(given["axes"], "--axes") or _source_axes(src, options), "units": _units(given["units"]),
        "scale": _numbers(given["scale"], "--scale"), "translation": _numbers(given["translation"], "--translation"),
        "compressors": "auto" if compressors == "keep" else compressors,
        "mode": "w" if given["overwrite"] else (given["mode"] or "w-"), "resume": given["resume"],
    }


@main.command("pyramid")
@click.argument("src")
@click.argument("dst")
@_options
@allow_pickle_option
@scheduler_option
@storage_options
@target_options
def pyramid_command(src: str, dst: str, allow_pickle: bool, scheduler: str | None, quiet: bool,
                    storage_options: dict[str, Any], target_options: dict[str, Any], **given: Any) -> None:
    """Write a multiscale pyramid of the array SRC to the group DST in one pass (as dz.write_pyramid).

    Every stored chunk of SRC is read once and every chunk or shard of every level written once;
    OME-Zarr 0.5 (default) or 0.4, or the zarr-conventions multiscales layout.
    """
    args = pyramid_arguments(src, storage_options, given)
    source = read(src, storage_options=storage_options, allow_pickle=allow_pickle)
    with _running(scheduler):
        write_pyramid(source, dst, **args, progress=progress_mode(quiet), storage_options=target_options)
    if not quiet:
        from ..hierarchy import open_group

        click.echo(f"wrote {pyramid_note(open_group(dst, storage_options=target_options))} "
                   f"to {open_store(dst, target_options).describe()}")
