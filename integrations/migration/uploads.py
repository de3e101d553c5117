"""Uploaded files to disk, safely: size limits, and zip archives unpacked only
inside their folder (no ``../`` or absolute member names) and only up to a
total unpacked size (a small zip can expand enormously)."""

import zipfile
from pathlib import Path

from annotation.errors import Invalid

MAX_UPLOAD_BYTES = 64 * 2**20
MAX_UNPACKED_BYTES = 4 * MAX_UPLOAD_BYTES


def too_large() -> Invalid:
    return Invalid(f"is larger than {MAX_UPLOAD_BYTES // 2**20} MiB; use the management command for "
                   "large files", field="file")


def upload_save(upload, folder: Path, suffixes: tuple[str, ...]) -> Path:
    if upload.size > MAX_UPLOAD_BYTES:
        raise too_large()
    suffix = Path(upload.name or "").suffix.lower()
    if suffix not in suffixes:
        raise Invalid(f"must be named *{' or *'.join(suffixes)}, not '{upload.name}'", field="file")
    path = folder / f"upload{suffix}"
    with path.open("wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    return path


def zip_unpack(path: Path, folder: Path) -> Path:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise Invalid("is not a zip archive", field="file") from None
    root = folder.resolve()
    with archive:
        members = archive.infolist()
        if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
            raise Invalid(f"unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB", field="file")
        for member in members:
            target = (folder / member.filename).resolve()
            if not target.is_relative_to(root):
                raise Invalid(f"member '{member.filename}' points outside the archive", field="file")
        archive.extractall(folder)
    # A zip of the folder itself holds one top-level directory: read that one.
    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder
