"""The one zip guard: every archive a user brings (a CLEAR bundle to the CLI, any upload to the Space).

:func:`open_zip` refuses an archive by its directory before anything is inflated: more entries than
allowed, member names that could leave a folder (absolute, ``..``, drive letters, backslashes, NUL),
symbolic links, encrypted members, a declared total or a per-member compression ratio over the limits.
:meth:`SafeZip.read` then inflates one member in chunks and checks the limits *while streaming*: the
bytes actually inflated against the member's declared size, the archive's byte budget and the ratio, and
(for a CSV member) the rows, counted as the bytes arrive so that a table with too many rows is refused
after reading ``max_rows`` rows, not after parsing them all; a member is inflated once. Nothing is ever
written to disk under a member's name.

Example:
    >>> import io as _io, zipfile
    >>> buffer = _io.BytesIO()
    >>> with zipfile.ZipFile(buffer, "w") as archive:
    ...     archive.writestr("results.csv", "a,b\\n1,2\\n")
    >>> with open_zip(buffer.getvalue(), "demo.zip", ZipLimits(max_rows=10)) as safe:
    ...     safe.names, safe.read("results.csv", rows="csv")
    (['results.csv'], b'a,b\\n1,2\\n')
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from misattribution.io.tables import InputError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ZipLimits:
    """What an archive may hold before it is refused (zip bombs, huge tables).

    Attributes:
        max_members: entries in the archive.
        max_compressed_bytes: the archive's own size.
        max_total_bytes: uncompressed bytes of all members read together (declared and actually read).
        max_ratio: uncompressed / compressed size of a member larger than ``ratio_floor_bytes``
            (Parquet barely compresses; text rarely beats 20x; a bomb reaches 1000x).
        ratio_floor_bytes: members up to this size are exempt from the ratio check.
        max_rows: rows a table member may hold, counted while it inflates (``None``: no limit).
    """

    max_members: int = 64
    max_compressed_bytes: int = 1 << 30
    max_total_bytes: int = 1 << 30
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1 << 20
    max_rows: int | None = None


def unsafe_name(name: str) -> str | None:
    """Why a member name could escape an extraction folder, or ``None``.

    >>> unsafe_name("../x"), unsafe_name("/etc/passwd"), unsafe_name("a/b.csv")
    ("points outside the archive ('..')", 'has an absolute path', None)
    """
    if "\x00" in name:
        return "has a NUL character in its name"
    if "\\" in name:
        return "has a backslash in its name"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "points outside the archive ('..')"
    return None


def is_noise(name: str) -> bool:
    """macOS archive clutter (``__MACOSX/``, ``._name``), never a data file."""
    return name.startswith("__MACOSX/") or PurePosixPath(name).name.startswith("._")


class SafeZip:
    """An archive whose directory passed :func:`open_zip`; read members with :meth:`read`."""

    def __init__(self, archive: zipfile.ZipFile, label: str, limits: ZipLimits) -> None:
        self.archive, self.label, self.limits = archive, label, limits
        self.infos = [info for info in archive.infolist() if not info.is_dir()]
        self._budget = limits.max_total_bytes

    @property
    def names(self) -> list[str]:
        """The file members (folders and macOS clutter left out), in archive order."""
        return [info.filename for info in self.infos if not is_noise(info.filename)]

    def read(self, member: str | zipfile.ZipInfo, *, rows: str | None = None) -> bytes:
        """A member's bytes, inflated in chunks; refused as soon as it outgrows its declared size, the
        archive's byte budget or the ratio, or (``rows="csv"``) holds more than ``max_rows`` rows."""
        info = member if isinstance(member, zipfile.ZipInfo) else self.archive.getinfo(member)
        chunks: list[bytes] = []
        sink = chunks.append
        if rows == "csv" and self.limits.max_rows is not None:
            # One pass: each chunk is counted before it is kept, so a refusal holds at most the first
            # ``max_rows`` rows (within the byte budget), and a table is inflated once, not twice.
            counter = _CsvRows(self.limits.max_rows, f"{self.label}: the entry {info.filename!r}")

            def sink(chunk: bytes) -> None:
                counter(chunk)
                chunks.append(chunk)

        self._budget -= self._stream(info, sink)
        return b"".join(chunks)

    def _stream(self, info: zipfile.ZipInfo, sink: Any) -> int:
        """Inflate ``info`` chunk by chunk into ``sink``, checking the limits; return the bytes read."""
        where = f"{self.label}: the entry {info.filename!r}"
        cap = min(info.file_size, self._budget)
        size = 0
        try:
            with self.archive.open(info) as handle:
                while chunk := handle.read(min(_CHUNK, cap + 1 - size)):
                    size += len(chunk)
                    self._check_size(info, size, where)
                    sink(chunk)
        except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, RuntimeError) as err:
            raise InputError(f"{where} cannot be read ({err})") from None
        return size

    def _check_size(self, info: zipfile.ZipInfo, size: int, where: str) -> None:
        if size > self._budget:
            raise InputError(
                f"{self.label}: refused, the zip expands to more than the {_mb(self.limits.max_total_bytes)} "
                f"allowed (while inflating {info.filename!r})"
            )
        if size > info.file_size:
            raise InputError(f"{where}: refused, it inflates to more than it declares ({info.file_size:,} bytes)")
        if size > self.limits.ratio_floor_bytes and size / max(info.compress_size, 1) > self.limits.max_ratio:
            raise InputError(f"{where}: refused, it expands more than {self.limits.max_ratio:g}× (a zip bomb?)")

    def close(self) -> None:
        self.archive.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_zip(source: str | Path | bytes | Any, label: str, limits: ZipLimits | None = None) -> SafeZip:
    """Open an archive (path, bytes or binary stream) and check its directory; nothing is inflated.

    Raises:
        InputError: not a zip, too large, too many entries, an unsafe member name, a symbolic link, an
            encrypted member, a declared total or ratio over ``limits``; the message names ``label`` and
            the member.
    """
    limits = limits or ZipLimits()
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    size = Path(source).stat().st_size if isinstance(source, (str, Path)) else _stream_size(source)
    if size is not None and size > limits.max_compressed_bytes:
        raise InputError(f"{label}: the zip is {_mb(size)}, more than the {_mb(limits.max_compressed_bytes)} allowed")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise InputError(
            f"{label}: not a readable zip file ({err})\n  hint: upload the .zip as it was written"
        ) from None
    try:
        check_directory(archive.infolist(), label, limits)
    except InputError:
        archive.close()
        raise
    return SafeZip(archive, label, limits)


def check_directory(infos: list[zipfile.ZipInfo], label: str, limits: ZipLimits) -> None:
    """Refuse an archive by its directory (see :func:`open_zip`)."""
    if len(infos) > limits.max_members:
        raise InputError(f"{label}: the zip has {len(infos)} entries, more than the {limits.max_members} allowed")
    for info in infos:
        problem = unsafe_name(info.filename)
        if problem:
            raise InputError(f"{label}: refused, the entry {info.filename!r} {problem} (path traversal)")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InputError(f"{label}: refused, the entry {info.filename!r} is a symbolic link")
        if info.flag_bits & 0x1:
            raise InputError(f"{label}: the entry {info.filename!r} is encrypted\n  hint: zip it without a password")
    total = 0
    for info in infos:
        if info.is_dir():
            continue
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
            raise InputError(
                f"{label}: refused, the entry {info.filename!r} expands {ratio:,.0f}× "
                f"(more than {limits.max_ratio:g}×: a zip bomb?)"
            )
    if total > limits.max_total_bytes:
        raise InputError(
            f"{label}: refused, the zip expands to {_mb(total)}, more than the {_mb(limits.max_total_bytes)} allowed"
        )


class _CsvRows:
    """Counts CSV data rows as bytes arrive (line ends outside double quotes, minus the header) and
    refuses the member as soon as they pass ``max_rows``."""

    def __init__(self, max_rows: int, where: str) -> None:
        self.max_rows, self.where = max_rows, where
        self.line_ends = 0
        self.in_quotes = 0

    def __call__(self, chunk: bytes) -> None:
        if b'"' not in chunk and not self.in_quotes:
            self.line_ends += chunk.count(b"\n")
        else:
            # A line end is outside quotes when an even number of quotes precede it (with those of the
            # earlier chunks): the quotes before each line end are found by a binary search over the
            # quotes' positions, not by a running sum over every byte.
            data = np.frombuffer(chunk, dtype=np.uint8)
            quotes = np.flatnonzero(data == 34)
            ends = np.flatnonzero(data == 10)
            before = np.searchsorted(quotes, ends) + self.in_quotes
            self.line_ends += int(np.count_nonzero((before & 1) == 0))
            self.in_quotes = (self.in_quotes + len(quotes)) & 1
        if self.line_ends - 1 > self.max_rows:  # complete data rows seen so far
            raise InputError(
                f"{self.where}: row {self.max_rows + 1:,}: more than the {self.max_rows:,} rows allowed "
                "(counted while inflating)\n  hint: split the table"
            )


def _stream_size(stream: Any) -> int | None:
    try:
        position = stream.tell()
        size = stream.seek(0, io.SEEK_END)
        stream.seek(position)
        return int(size)
    except (AttributeError, OSError, ValueError):
        return None


def _mb(size: float) -> str:
    return f"{size / 1024**2:,.1f} MB"
