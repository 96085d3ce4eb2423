"""The input layer: every table and archive a user brings enters the core here, whichever surface brings it.

* :mod:`misattribution.io.tables` -- reading tables (encodings, empty files, row limits), column roles
  and the one alias list, missing values, the score scale, label cells, and :class:`InputError`;
* :mod:`misattribution.io.archives` -- the one zip guard (limits checked while streaming, traversal,
  absolute names, symbolic links, encrypted members).

Every problem is one :class:`InputError` that names the file, the line or row, and the field, with a
one-line hint.
"""

from misattribution.io.archives import SafeZip, ZipLimits, open_zip
from misattribution.io.tables import (
    ALIASES,
    ColumnMap,
    InputError,
    check_columns,
    check_unique,
    infer_scale,
    is_missing,
    optional_text,
    parse_label_cell,
    parse_number,
    parse_scores,
    read_jsonl,
    read_table,
    resolve_columns,
)

__all__ = [
    "ALIASES",
    "ColumnMap",
    "InputError",
    "SafeZip",
    "ZipLimits",
    "check_columns",
    "check_unique",
    "infer_scale",
    "is_missing",
    "open_zip",
    "optional_text",
    "parse_label_cell",
    "parse_number",
    "parse_scores",
    "read_jsonl",
    "read_table",
    "resolve_columns",
]
