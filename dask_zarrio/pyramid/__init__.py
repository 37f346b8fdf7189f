"""Multiscale pyramids: ``dz.write_pyramid`` in one pass, ``dz.read_pyramid``, and what tools say of them.

Small modules by noun: :mod:`.levels` (the plan: shapes, factors, stages; pure),
:mod:`.reduce` (the block reductions in numpy), :mod:`.conventions` (the metadata of
OME-Zarr 0.4/0.5 and zarr-conventions ``multiscales``), :mod:`.graph` (the stage layers),
:mod:`.write`, :mod:`.read`, :mod:`.region` (updates), :mod:`.dataset` (xarray inputs).
"""

from __future__ import annotations

from ..metadata.summary import GROUP_NOTES
from .read import check_pyramid, describe_pyramid, open_pyramid, pyramid_note, read_pyramid, tree_note
from .write import write_pyramid

if tree_note not in GROUP_NOTES:  # a tree names a pyramid's levels on its group's line
    GROUP_NOTES.append(tree_note)

__all__ = ["check_pyramid", "describe_pyramid", "open_pyramid", "pyramid_note", "read_pyramid", "write_pyramid"]
