"""Kept for the modules not yet moved to :mod:`misattribution.io.tables` (``cli``, ``runner``): the same
objects, re-exported. New code imports from :mod:`misattribution.io`."""

from misattribution.io.tables import (
    READABLE_SUFFIXES,
    ColumnMap,
    InputError,
    check_columns,
    optional_text,
    read_jsonl,
    read_table,
)

__all__ = ["READABLE_SUFFIXES", "ColumnMap", "InputError", "check_columns", "optional_text", "read_jsonl", "read_table"]
