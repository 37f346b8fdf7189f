"""Importing this module registers every built-in codec (one module each)."""

from __future__ import annotations

from . import blosc, bytes, crc32c, gzip, sharding, transpose, zstd  # noqa: F401
