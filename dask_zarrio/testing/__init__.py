"""Reusable test helpers: an instrumented store and hypothesis strategies."""

from __future__ import annotations

from .counting import CountingStore

__all__ = ["CountingStore"]
