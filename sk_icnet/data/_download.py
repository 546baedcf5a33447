"""Downloads of public datasets: a cache folder, checksums from the source's own manifest,
resumable and atomic transfers, and safe unpacking.

Nothing here runs at import, and no test of the default run reaches the network: the
tests serve synthetic files from a local HTTP server on 127.0.0.1.

- The cache folder is ``data_home``, else ``$SK_ICNET_DATA``, else ``~/sk_icnet_data``
  (:func:`get_data_home`); each dataset has a sub-folder.
- Checksums are never written into this package: they come from the source's manifest at
  download time. For OSF, the API's file entity (``https://api.osf.io/v2/files/<guid>/``,
  else ``/v2/guids/<guid>/``, which resolves to it) gives the file's name, size,
  ``extra.hashes.md5``/``sha256`` and its download link (:func:`osf_file_info`); a file
  whose manifest has no hash is not downloaded.
- A transfer writes ``<name>.part`` beside the destination. A broken-off transfer resumes
  from the bytes already there with an HTTP ``Range`` request (a server that ignores it is
  read again from the start). The finished file is checked against the manifest's size and
  hash; a mismatch removes the partial file and raises, leaving nothing. A verified file is
  published under its name with :func:`~sk_icnet._core.files.rename_noreplace`, so the
  destination is never half-written.
- Zip archives are unpacked into a temporary folder beside the destination and renamed
  into place: regular files only, no absolute paths or ``..``, at most
  :data:`MAX_ZIP_MEMBERS` entries and :data:`MAX_ZIP_BYTES` bytes unpacked (declared
  sizes are checked before anything is written, and the bytes written are counted).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile

from .._core.files import loads_json, rename_noreplace
from .._core.validation import _describe

__all__ = ["get_data_home", "osf_file_info", "download_file", "extract_zip", "DATA_HOME_ENV",
           "OSF_API"]

#: environment variable naming the cache folder
DATA_HOME_ENV = "SK_ICNET_DATA"
#: the OSF API's root (a test points it at a local server)
OSF_API = "https://api.osf.io/v2"
#: largest manifest (JSON) read from a server
MAX_MANIFEST_BYTES = 1 << 20
#: most entries and bytes a zip archive may unpack to
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_BYTES = 8 << 30
_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


def get_data_home(data_home=None):
    """The cache folder of downloaded datasets, created if missing.

    Parameters
    ----------
    data_home : str or path-like, optional
        Default: ``$SK_ICNET_DATA`` if set, else ``~/sk_icnet_data``.

    Returns
    -------
    str
        The folder's absolute path.
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or os.path.join("~", "sk_icnet_data")
    if not isinstance(data_home, (str, os.PathLike)):
        raise TypeError(f"data_home must be a folder path or None; received {_describe(data_home)}.")
    path = os.path.abspath(os.path.expanduser(os.fspath(data_home)))
    os.makedirs(path, exist_ok=True)
    return path


class _HTTPStatusError(OSError):
    """A server's error status (``code``), as an OSError."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _open_url(url, headers=None, timeout=_TIMEOUT_S):
    if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
        raise ValueError(f"only http(s) addresses are downloaded; received {url!r}.")
    request = urllib.request.Request(url, headers={"User-Agent": "sk_icnet", **(headers or {})})
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked above
    except urllib.error.HTTPError as exc:
        raise _HTTPStatusError(exc.code, f"{url} answered HTTP {exc.code} ({exc.reason}).") \
            from None
    except (urllib.error.URLError, TimeoutError) as exc:
        raise OSError(f"{url} could not be reached ({getattr(exc, 'reason', exc)}); check the "
                      "network connection, or download the files by hand (see the user guide).") \
            from None


def osf_file_info(guid, *, api_url=None):
    """Name, size, hashes and download link of a public OSF file, from OSF's API.

    Parameters
    ----------
    guid : str
        The file's short OSF id (``"gdwyd"`` in ``https://osf.io/gdwyd/``).
    api_url : str, optional
        Root of the API (default :data:`OSF_API`).

    Returns
    -------
    dict
        ``name``, ``size`` (bytes), ``md5`` and ``sha256`` (hex, ``None`` where OSF gives
        none) and ``url`` (the download link).
    """
    if not isinstance(guid, str) or not guid.isalnum():
        raise ValueError(f"guid must be an OSF file id of letters and digits; received {guid!r}.")
    root = (api_url or OSF_API).rstrip("/")
    url = f"{root}/files/{guid}/"
    try:
        response = _open_url(url, headers={"Accept": "application/vnd.api+json"})
    except _HTTPStatusError as exc:
        if exc.code != 404:
            raise
        url = f"{root}/guids/{guid}/"  # resolves (redirects) to the file entity
        response = _open_url(url, headers={"Accept": "application/vnd.api+json"})
    with response:
        body = response.read(MAX_MANIFEST_BYTES + 1)
    if len(body) > MAX_MANIFEST_BYTES:
        raise ValueError(f"the OSF manifest at {url} is larger than {MAX_MANIFEST_BYTES} bytes; "
                         "it is not a file entity.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"the OSF manifest at {url} is not UTF-8 text.") from None
    entity = loads_json(text, f"the OSF manifest at {url}")
    try:
        data = entity["data"]
        attributes = data["attributes"]
        hashes = (attributes.get("extra") or {}).get("hashes") or {}
        info = {"name": str(attributes["name"]), "size": attributes["size"],
                "md5": hashes.get("md5"), "sha256": hashes.get("sha256"),
                "url": str(data["links"]["download"])}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"the OSF manifest at {url} lacks {exc} (expected a file entity with "
                         "data.attributes.name, size, extra.hashes and data.links.download).") \
            from None
    if isinstance(info["size"], bool) or not isinstance(info["size"], int) or info["size"] < 0:
        raise ValueError(f"the OSF manifest at {url} gives size {info['size']!r}; expected a "
                         "number of bytes.")
    for key, length in (("md5", 32), ("sha256", 64)):
        value = info[key]
        if value is not None and (not isinstance(value, str) or len(value) != length
                                  or any(c not in "0123456789abcdefABCDEF" for c in value)):
            raise ValueError(f"the OSF manifest at {url} gives {key} {value!r}; expected "
                             f"{length} hex digits.")
        info[key] = None if value is None else value.lower()
    return info


def _file_hashes(path):
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


def _verify(path, size, md5, sha256):
    """The reason ``path`` is not the expected file, or None when it is."""
    actual_size = os.path.getsize(path)
    if size is not None and actual_size != size:
        return f"it has {actual_size} bytes, the manifest {size}"
    actual_md5, actual_sha256 = _file_hashes(path)
    if sha256 is not None and actual_sha256 != sha256:
        return f"its sha256 is {actual_sha256}, the manifest's {sha256}"
    if md5 is not None and actual_md5 != md5:
        return f"its md5 is {actual_md5}, the manifest's {md5}"
    return None


def _regular_or_absent(path, what):
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(mode):
        raise ValueError(f"{what} {path!r} exists but is not a regular file (a folder, link or "
                         "device); move it away.")
    return True


def _content_range_start(header):
    """The first byte of a ``Content-Range: bytes a-b/n`` header, or None."""
    if not header or not header.startswith("bytes "):
        return None
    try:
        return int(header[6:].split("-", 1)[0])
    except ValueError:
        return None


def download_file(url, dest, *, size=None, md5=None, sha256=None, progress=True):
    """Download ``url`` to ``dest``: resumable, checked against the manifest, atomic.

    Parameters
    ----------
    url : str
    dest : str or path-like
        Destination file. An existing file there is checked against ``size`` and the
        hashes and kept when it matches (nothing is downloaded); one that does not match
        is an error (nothing of a user's is replaced).
    size : int, optional
        Expected size in bytes.
    md5, sha256 : str, optional
        Expected hex digests; at least one is required.
    progress : bool, default=True
        Show a tqdm progress bar on stderr.

    Returns
    -------
    str
        ``dest``.
    """
    if md5 is None and sha256 is None:
        raise ValueError(f"downloading {url} needs an md5 or sha256 from the source's manifest; "
                         "none was given, so the file could not be checked and is not downloaded.")
    dest = os.path.abspath(os.fspath(dest))
    if _regular_or_absent(dest, "dest"):
        reason = _verify(dest, size, md5, sha256)
        if reason is None:
            return dest
        raise ValueError(f"{dest!r} already exists and is not the file the source lists "
                         f"({reason}); remove it to download it again.")
    part = dest + ".part"
    have = os.path.getsize(part) if _regular_or_absent(part, "the partial download") else 0
    if size is not None and have > size:
        os.remove(part)
        have = 0
    if size is None or have < size:
        _transfer(url, part, have, size, progress, os.path.basename(dest))
    reason = _verify(part, size, md5, sha256)
    if reason is not None:
        os.remove(part)
        raise ValueError(f"the download of {url} is not the file the source lists ({reason}); "
                         "it was deleted. Try again later; if it persists the source changed "
                         "the file.")
    rename_noreplace(part, dest)
    return dest


def _transfer(url, part, have, size, progress, label):
    """Append the bytes from ``have`` on to ``part`` (start over if the server sends all)."""
    headers = {"Range": f"bytes={have}-"} if have else {}
    with _open_url(url, headers=headers) as response:
        status = getattr(response, "status", 200)
        if have and not (status == 206
                         and _content_range_start(response.headers.get("Content-Range")) == have):
            have = 0  # the server ignored the range: read it all again
        if size is not None:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and have + int(length) > size:
                if os.path.lexists(part):
                    os.remove(part)
                raise ValueError(f"{url} sends {have + int(length)} bytes, more than the "
                                 f"{size} its manifest lists; nothing was kept.")
        from tqdm.auto import tqdm

        written = have
        with open(part, "ab" if have else "wb") as out, \
                tqdm(total=size, initial=have, unit="B", unit_scale=True, desc=label,
                     disable=not progress, leave=False) as bar:
            try:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    written += len(chunk)
                    if size is not None and written > size:
                        break
                    out.write(chunk)
                    bar.update(len(chunk))
            except (http.client.HTTPException, OSError) as exc:
                raise OSError(f"the transfer of {url} broke off after {written} bytes ({exc!r}); "
                              "call again to resume it from there.") from None
        if size is not None and written > size:
            os.remove(part)
            raise ValueError(f"{url} sent more than the {size} bytes its manifest lists; the "
                             "partial file was deleted.")
        if size is not None and written < size:
            raise OSError(f"the transfer of {url} ended after {written} of {size} bytes; call "
                          "again to resume it from there.")


def _safe_member(info, dest):
    """The path a zip entry unpacks to inside ``dest``, or None for a folder; refuses
    absolute paths, ``..`` and links."""
    name = info.filename
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise ValueError(f"the zip archive holds {name!r}, a path outside the folder it unpacks "
                         "to; it is not unpacked.")
    mode = (info.external_attr >> 16) & 0o170000
    if mode and mode not in (stat.S_IFREG, stat.S_IFDIR):
        raise ValueError(f"the zip archive holds {name!r}, which is not a regular file or folder "
                         "(a link?); it is not unpacked.")
    if info.is_dir() or not parts:
        return None
    return os.path.join(dest, *parts)


def extract_zip(zip_path, dest, *, max_bytes=MAX_ZIP_BYTES, max_members=MAX_ZIP_MEMBERS):
    """Unpack ``zip_path`` into a new folder ``dest`` (which must not exist), atomically.

    Entries are checked (paths inside ``dest``, regular files and folders only, the
    declared sizes within ``max_bytes`` and their number within ``max_members``) before
    anything is written; the bytes written are counted too, so a lying header cannot
    unpack more. macOS metadata (``__MACOSX/``) is skipped.
    """
    dest = os.path.abspath(os.fspath(dest))
    if os.path.lexists(dest):
        raise FileExistsError(f"{dest!r} exists already; it is not unpacked over.")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{os.fspath(zip_path)!r} is not a readable zip archive ({exc}).") from None
    with archive, tempfile.TemporaryDirectory(dir=os.path.dirname(dest), prefix="tmp-unzip-") as tmp:
        members = [m for m in archive.infolist() if not m.filename.startswith("__MACOSX/")]
        if len(members) > max_members:
            raise ValueError(f"the zip archive has {len(members)} entries, more than {max_members}.")
        declared = sum(m.file_size for m in members)
        if declared > max_bytes:
            raise ValueError(f"the zip archive unpacks to {declared} bytes, more than {max_bytes}.")
        unpacked = os.path.join(tmp, "unpacked")
        os.mkdir(unpacked)
        targets = [(m, _safe_member(m, unpacked)) for m in members]
        total = 0
        for member, target in targets:
            if target is None:
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(member) as src, open(target, "xb") as out:
                for chunk in iter(lambda: src.read(_CHUNK), b""):  # noqa: B023 - used at once
                    total += len(chunk)
                    if total > max_bytes:
                        raise ValueError(f"the zip archive unpacks to more than {max_bytes} bytes "
                                         "(more than its entries declare); it is not unpacked.")
                    out.write(chunk)
        rename_noreplace(unpacked, dest)
    return dest

