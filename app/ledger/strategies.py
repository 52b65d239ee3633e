"""Picking strategies: the one list of their names and the default, for shipments (ledger)
and allocation alike (allocation may import the ledger, not the other way round)."""

from __future__ import annotations

from enum import StrEnum


class Strategy(StrEnum):
    FIFO = "fifo"  # oldest batch received first
    FEFO = "fefo"  # earliest expiry first (no expiry last)
    PICK_FACE_FIRST = "pick_face_first"  # pick faces before bulk


FIFO = Strategy.FIFO.value
FEFO = Strategy.FEFO.value
PICK_FACE_FIRST = Strategy.PICK_FACE_FIRST.value
STRATEGIES: tuple[str, ...] = tuple(s.value for s in Strategy)
DEFAULT_STRATEGY: str = Strategy.FIFO.value  # a product without a strategy, and settings
