"""Files: atomic, no-clobber publishing of files and directories, bounded JSON reads,
and optional imports.

Every writer of the package publishes through here: a file is written under a temporary
name beside its destination and published by :func:`atomic_path` (a hard link when nothing
may be replaced, a rename over an existing file only when asked), a directory by
:func:`rename_noreplace`. Nothing a user wrote is half-written or silently replaced, and
nothing a killed writer left stays on disk past the next save of the same path
(:func:`remove_dead_temporaries`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import importlib
import json
import os
import re
import secrets
import shutil
import stat
import sys

__all__ = ["atomic_path", "rename_noreplace", "directory_lock", "remove_dead_temporaries",
           "read_json_file", "loads_json", "json_value", "require", "quote", "checked_path",
           "open_regular", "regular_file", "resolve_inside", "check_tree", "check_hdf5_links"]

#: largest JSON nesting accepted in a model file's header or a checkpoint's JSON files
MAX_JSON_DEPTH = 64
_AT_FDCWD, _RENAME_NOREPLACE, _RENAME_EXCL = -100, 1, 4


def require(module, extra, purpose):
    """Import optional dependency ``module``, or raise an ImportError that says which extra
    of sk_icnet installs it (``pip install "sk_icnet[<extra>]"``) and what needs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{purpose} needs the optional package {module.split('.')[0]!r}, which "
                          f"is not installed ({exc}). Install it with: "
                          f'pip install "sk_icnet[{extra}]"') from None


def _new_temporary(directory, suffix):
    """Create an empty temporary file in ``directory``; return its path and the mode that the
    umask gives new files (the kernel applies it: ``open(..., 0o666)``)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f"tmp-{secrets.token_hex(8)}{suffix}")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
        return tmp, mode
    raise FileExistsError(errno.EEXIST, "could not create a temporary file", directory)


def _link_no_clobber(tmp, path):
    """Publish ``tmp`` at ``path`` only if nothing is there (a hard link fails if it exists)."""
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise
    except OSError as exc:  # file systems without hard links (FAT, some network shares)
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                             errno.ENOSYS, errno.EXDEV):
            raise
    if os.path.lexists(path):  # best effort there: a check, then a rename
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
    os.rename(tmp, path)


def _temporary_names(path):
    """The names of the temporary folders of saves to ``path``: ``<name>.tmp-<pid>-<token>``."""
    parent, base = os.path.split(path)
    pattern = re.compile(re.escape(base) + r"\.tmp-[0-9]+-[0-9a-f]{16}")
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    return sorted(name for name in names if pattern.fullmatch(name))


def _lock_nonblocking(dirname):
    """An open descriptor of ``dirname`` holding an exclusive ``flock``; None when another
    process holds it, or where a lock cannot be taken (no ``fcntl``, no locks on this file
    system): then nothing tells a live writer from a dead one."""
    try:
        import fcntl
        fd = os.open(dirname, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (ImportError, OSError):  # pragma: no cover - Windows, or not ours to open
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def remove_dead_temporaries(path):
    """Remove the temporary folders that killed saves to ``path`` left beside it.

    :func:`atomic_path` writes in a folder ``<path>.tmp-<pid>-<token>`` that its
    process holds locked (``flock``) while it writes: the lock dies with the process,
    so a folder whose lock is free belongs to a save that was killed (``kill -9``, a
    power cut) and is removed with everything in it (a writer's own hidden temporaries
    included). Folders of live saves are left alone, and so is everything where locks
    are unavailable. Returns the names removed.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    removed = []
    with directory_lock(parent):  # a save makes and locks its folder under this lock too
        for name in _temporary_names(path):
            where = os.path.join(parent, name)
            if os.path.islink(where) or not os.path.isdir(where):
                continue
            fd = _lock_nonblocking(where)
            if fd is None:
                continue
            try:
                shutil.rmtree(where, ignore_errors=True)
            finally:
                os.close(fd)
            removed.append(name)
    return removed


def _new_temporary_folder(path):
    """Make the locked folder a save to ``path`` writes in; return it and its lock (or None)."""
    parent, base = os.path.split(path)
    with directory_lock(parent):  # made and locked at once: never taken for a dead one
        for _ in range(100):
            folder = os.path.join(parent, f"{base}.tmp-{os.getpid()}-{secrets.token_hex(8)}")
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:
                continue
            return folder, _lock_nonblocking(folder)
    raise FileExistsError(errno.EEXIST, "could not create a temporary folder", parent)


@contextlib.contextmanager
def atomic_path(path, suffix="", *, overwrite=True, replaceable=None):
    """A temporary path in ``path``'s directory to write to, published at ``path`` when the
    block succeeds and removed when it fails, so ``path`` is never half-written.

    Parameters
    ----------
    path : str or path-like
    suffix : str, default=""
        Ending of the temporary name (some writers look at it).
    overwrite : bool, default=True
        ``True``: an existing ``path`` is replaced (renamed over), keeping its
        permission bits. ``False`` (no-clobber): the file is published with a
        hard link, which fails if anything appeared at ``path`` meanwhile; then
        :class:`FileExistsError` is raised, ``path`` is left as it is and the
        temporary file is removed.
    replaceable : callable, optional
        Called with ``path`` just before an existing ``path`` is replaced; it
        raises to refuse (e.g. the file is not of the kind being written).

    Notes
    -----
    A new file gets the permissions that the process's umask gives new files
    (``0o666 & ~umask``), not the ``0o600`` of :func:`tempfile.mkstemp`.

    The temporary file is in a folder ``<path>.tmp-<pid>-<token>`` beside ``path``,
    locked while this process writes (a writer that makes temporaries of its own
    beside the name it is given, as safetensors does, makes them there). The
    folder is removed when the block ends, and a save killed before then leaves
    it unlocked: the next save to ``path`` removes it
    (:func:`remove_dead_temporaries`).
    """
    path = os.path.abspath(os.fspath(path))
    remove_dead_temporaries(path)
    folder, folder_lock = _new_temporary_folder(path)
    try:
        tmp, new_mode = _new_temporary(folder, suffix)
    except BaseException:
        _remove_folder(folder, folder_lock)
        raise
    try:
        yield tmp
        for _ in range(3):  # in overwrite mode, a file appearing meanwhile is checked, replaced
            if overwrite and os.path.lexists(path):
                if replaceable is not None:
                    replaceable(path)
                try:
                    mode = stat.S_IMODE(os.stat(path).st_mode)
                except OSError:
                    mode = new_mode
                os.chmod(tmp, mode)
                os.replace(tmp, path)
                break
            os.chmod(tmp, new_mode)
            try:
                _link_no_clobber(tmp, path)
                break
            except FileExistsError:
                if not overwrite:
                    raise FileExistsError(
                        errno.EEXIST, "something appeared at this path while it was being "
                        "written; it was left as it is and nothing was written", path) from None
        else:  # pragma: no cover - a path replaced three times by others while publishing
            raise FileExistsError(errno.EEXIST, "the path kept changing while it was written",
                                  path)
    finally:
        _remove_folder(folder, folder_lock)


def _remove_folder(folder, lock):
    shutil.rmtree(folder, ignore_errors=True)
    if lock is not None:
        os.close(lock)


def _libc_rename_noreplace():
    """``renameat2`` (Linux) or ``renamex_np`` (macOS) from the C library, or None."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the symbols already loaded, libc's included
    except (OSError, TypeError):  # pragma: no cover - Windows
        return None
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        fn = libc.renameat2
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        return lambda src, dst: fn(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_NOREPLACE)
    if sys.platform == "darwin" and hasattr(libc, "renamex_np"):  # pragma: no cover - macOS
        fn = libc.renamex_np
        fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        return lambda src, dst: fn(src, dst, _RENAME_EXCL)
    return None  # pragma: no cover - other systems use the fallback


_NOREPLACE = _libc_rename_noreplace()  # a symbol lookup: no subprocess, no file read


def rename_noreplace(src, dst):
    """Rename ``src`` (a file or a directory) to ``dst``; never replace what is at ``dst``.

    Raises ``FileExistsError`` when anything exists at ``dst``, including a file,
    a symbolic link or an empty directory that appeared a moment ago (``os.rename``
    would silently replace the last). Atomic where the system has
    ``renameat2(RENAME_NOREPLACE)`` (Linux) or ``renamex_np(RENAME_EXCL)`` (macOS);
    elsewhere, and on file systems without it, a file is hard-linked and unlinked
    (atomic too) and a directory is renamed after checking ``dst`` is free
    (``os.rename`` refuses a non-empty directory or a file there; only an empty
    directory made in between the check and the rename would be replaced).
    """
    src, dst = os.fspath(src), os.fspath(dst)
    if _NOREPLACE is not None:
        if _NOREPLACE(os.fsencode(src), os.fsencode(dst)) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), src, None, dst)
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), src, None, dst)
    if os.path.isdir(src) and not os.path.islink(src):
        os.rename(src, dst)
        return
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except (OSError, NotImplementedError):  # no hard links on this file system
        os.rename(src, dst)
    else:
        os.unlink(src)


@contextlib.contextmanager
def directory_lock(dirname):
    """Hold an exclusive ``flock`` on ``dirname`` (no lock where the system has none).

    Saves hold it while they swap stores and :meth:`Recording.open` while it
    finishes an interrupted swap, so neither sees the other half-done. The
    lock dies with its process: a killed save never blocks anyone.
    """
    try:
        import fcntl
        fd = os.open(dirname, os.O_RDONLY)
    except (ImportError, OSError):  # pragma: no cover - Windows, or a directory we cannot open
        yield
        return
    try:
        with contextlib.suppress(OSError):  # file systems without flock: go on unlocked
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ------------------------------------------------------------ JSON values
def json_value(value):
    """Whether ``value`` is stored as is (JSON primitives and lists of them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(json_value(v) for v in value)
    return False


def _json_depth(value, limit=MAX_JSON_DEPTH):
    """Whether a decoded JSON value nests at most ``limit`` levels (iteratively, no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def loads_json(text, source, *, allow_nan=False):
    """Decode JSON from an untrusted file; ``ValueError`` naming ``source`` when it is not
    JSON, holds NaN/inf where JSON has none (unless ``allow_nan``), or nests deeper than the
    format does."""
    def no_constant(name):
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(text, parse_constant=float if allow_nan else no_constant)
    except RecursionError:
        raise ValueError(f"{source} nests JSON deeper than this format ever does (more than "
                         f"{MAX_JSON_DEPTH} levels).") from None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{source} is not readable JSON ({exc}).") from None
    if not _json_depth(value):
        raise ValueError(f"{source} nests JSON deeper than this format ever does (more than "
                         f"{MAX_JSON_DEPTH} levels).")
    return value


def read_json_file(path, what, *, allow_nan=False, max_bytes=256 << 20):
    """Read a JSON file of a checkpoint (``what`` names it in errors): regular files only, at
    most ``max_bytes``, nesting bounded, NaN/inf constants only with ``allow_nan``."""
    where = os.fspath(path)
    source = f"the {what} {where!r}"
    try:
        info = os.stat(where)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{source} is not a regular file.")
        if info.st_size > max_bytes:
            raise ValueError(f"{source} is {info.st_size} bytes, more than the {max_bytes} this "
                             "file ever needs.")
        with open(where, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ValueError(f"{source} is not readable ({exc.strerror or exc}).") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source} is not readable JSON (not UTF-8: {exc}).") from None
    return loads_json(text, source, allow_nan=allow_nan)


# ------------------------------------------------------------ reading untrusted files
# One rule for every reader of a file that sk_icnet did not write itself (Keras release,
# model files, NWB, WAV, trial tables, recording stores): only regular files are opened
# (a FIFO would block the open, a device never end), a file found inside a folder must not
# be a link that leaves the folder, an HDF5 file must not link outside itself, declared
# sizes are bounded before anything is allocated, and a value from a file is quoted in an
# error message as a short prefix only.

#: most characters of a value (from a file or an argument) that an error message quotes
MAX_QUOTE = 200
#: most characters of a path that an error message quotes (paths are the user's own)
MAX_QUOTE_PATH = 1000
#: most links an HDF5 file of a reader may hold (a Keras release holds a few hundred)
MAX_HDF5_LINKS = 100_000
#: most entries a folder that a reader walks may hold (a recording store's chunk files)
MAX_TREE_ENTRIES = 1_000_000

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _short_repr():
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother = 3, MAX_QUOTE, MAX_QUOTE
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = short.maxfrozenset = 8
    short.maxdeque = short.maxarray = 8
    return short


_SHORT = _short_repr()


def quote(value, limit=MAX_QUOTE):
    """``repr(value)`` for an error message, at most ``limit`` characters.

    A container is summarised level by level (at most 8 items of 3 levels) before it is
    formatted, so a value that would format to gigabytes (a YAML alias bomb: 9 aliases of 9
    aliases ... of a list) costs microseconds; the text is then cut to ``limit`` characters
    and says how it was cut.
    """
    try:
        if isinstance(value, (str, bytes)):  # a prefix, not a middle cut
            text = repr(value[:limit + 1])
        else:
            text = _SHORT.repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr raises is still described
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[:limit] + f"... (cut at {limit} characters)"
    return text


def _path(where):
    """A path quoted for a message (its ``repr``, cut at :data:`MAX_QUOTE_PATH` characters)."""
    return quote(where, MAX_QUOTE_PATH)


def file_kind(mode):
    """What an ``st_mode`` is, in words, for a file that is not regular."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def checked_path(path, what, argument="path"):
    """The text of ``path`` (str), checked to name a file: a str, bytes or path-like without
    a NUL character. ``TypeError`` / ``ValueError`` naming ``argument``, the rule and the
    path (its ``repr``, cut to :data:`MAX_QUOTE` characters)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{argument} must be a str or path-like naming {what}; received "
                        f"{quote(path)} ({type(path).__name__}).")
    try:
        where = os.fspath(path)
    except TypeError as exc:
        raise TypeError(f"{argument} must be a str or path-like naming {what}; its __fspath__ "
                        f"failed ({exc}).") from None
    if isinstance(where, bytes):
        where = os.fsdecode(where)
    if "\x00" in where:
        raise ValueError(f"{argument} {_path(where)} holds a NUL character ('\\x00'); no file "
                         f"name can hold one, so it names no {what}: pass the path without it.")
    return where


def resolve_inside(where, root):
    """``(full, inside)``: the real path of ``where`` (symbolic links followed) and whether it
    lies inside the folder ``root`` (a real path)."""
    full = os.path.realpath(where)
    try:
        return full, os.path.commonpath([root, full]) == root
    except ValueError:  # another drive (Windows)
        return full, False


def _check_inside(where, within, what, argument):
    """Refuse ``where`` unless it resolves (symbolic links followed) inside folder ``within``."""
    root = os.path.realpath(within)
    full, inside = resolve_inside(where, root)
    if not inside:
        raise ValueError(f"{argument} {_path(where)} is a link that resolves to {_path(full)}, "
                         f"outside its folder {_path(root)}: a file found in a folder is read "
                         "only from inside it. Copy the file into the folder (or pass its own "
                         f"path) to read it as {what}.")


def open_regular(path, what, *, argument="path", max_bytes=None, within=None):
    """``(binary file object, where)`` of the regular file at ``path``, open for reading.

    The file is opened without blocking and checked with ``fstat`` before anything reads
    it: a FIFO, a device (``/dev/zero``), a socket or a directory is refused at once instead
    of hanging or being read without end. Symbolic links named by the user are followed.

    Parameters
    ----------
    path : str, bytes or path-like
    what : str
        The kind of file, with its article, for messages (``"a sound file"``, ``"an NWB
        file"``).
    argument : str, default="path"
        The argument that named the file, for messages.
    max_bytes : int, optional
        Larger files are refused before anything is read.
    within : str, optional
        The folder in which the reader found the file: the file must resolve inside it
        (a link that leaves the folder is refused).

    Raises
    ------
    TypeError
        ``path`` is not a str or path-like.
    ValueError
        A NUL in the path, a missing or unreadable file, not a regular file, a link
        leaving ``within``, or more than ``max_bytes``; the message names ``argument``,
        the path, the rule and the remedy.
    """
    where = checked_path(path, what, argument)
    noun = what.split(" ", 1)[-1]
    if within is not None:
        _check_inside(where, within, what, argument)
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
             | getattr(os, "O_CLOEXEC", 0))
    try:
        fd = os.open(where, flags)
    except OSError as exc:
        raise ValueError(f"{argument} {_path(where)} is not a readable {noun} "
                         f"({exc.strerror or exc}).") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{argument} {_path(where)} is {file_kind(info.st_mode)}, not "
                             f"{what}: only regular files are read.")
        if max_bytes is not None and info.st_size > max_bytes:
            raise ValueError(f"{argument} {_path(where)} has {info.st_size:,} bytes, more than "
                             f"the {max_bytes:,} that {what} ever needs: it is refused before "
                             "it is read.")
        with contextlib.suppress(OSError, AttributeError):  # reads block as usual again
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), where
    except BaseException:
        os.close(fd)
        raise


def regular_file(path, what, *, argument="path", max_bytes=None, within=None):
    """``(where, size)`` of the regular file at ``path`` (:func:`open_regular`'s checks), for
    a library that opens files by name only (h5py, safetensors, pynwb)."""
    f, where = open_regular(path, what, argument=argument, max_bytes=max_bytes, within=within)
    with f:
        return where, os.fstat(f.fileno()).st_size


def check_tree(folder, what, *, max_entries=MAX_TREE_ENTRIES):
    """Refuse a folder (a recording store) holding anything a reader must not open: an entry
    that is neither a regular file nor a directory (FIFO, device, socket), a symbolic link
    that resolves outside ``folder`` or to such an entry, or more than ``max_entries``
    entries. Symbolic links to folders are not walked into. Returns the number of entries."""
    root = os.path.realpath(folder)
    stack, count = [root], 0
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue  # unreadable: the reader reports it when it opens what it needs
        for entry in entries:
            count += 1
            if count > max_entries:
                raise ValueError(f"{what} {_path(os.fspath(folder))} holds more than "
                                 f"{max_entries:,} entries; it is not read.")
            try:
                if entry.is_symlink():
                    _check_inside(entry.path, root, what, "the entry")
                    mode = os.stat(entry.path).st_mode
                elif entry.is_dir(follow_symlinks=False):  # the kind from the listing: no stat
                    stack.append(entry.path)
                    continue
                elif entry.is_file(follow_symlinks=False):
                    continue
                else:
                    mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                raise ValueError(f"the entry {_path(entry.path)} of {what} "
                                 f"{_path(os.fspath(folder))} is a link to nothing readable "
                                 f"({exc.strerror or exc}).") from None
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):  # links to folders: not walked
                raise ValueError(f"the entry {_path(entry.path)} of {what} "
                                 f"{_path(os.fspath(folder))} is {file_kind(mode)}: only "
                                 "regular files and folders are read.")
    return count


def _holds_reference(dtype):
    """Whether an HDF5 dtype (numpy, with h5py's metadata) holds object or region references."""
    h5py = importlib.import_module("h5py")
    stack = [dtype]
    while stack:
        dt = stack.pop()
        if h5py.check_dtype(ref=dt) is not None:
            return True
        base = h5py.check_dtype(vlen=dt)
        if base is not None and not isinstance(base, type):
            stack.append(base)
        if dt.fields:
            stack.extend(field[0] for field in dt.fields.values())
        if dt.subdtype is not None:
            stack.append(dt.subdtype[0])
    return False


def check_hdf5_links(f, where, *, soft_links=False, references=False,
                     max_links=MAX_HDF5_LINKS):
    """Refuse an open HDF5 file (``h5py.File``) that reaches outside itself, before any of
    its objects is used.

    Every link is visited without being followed: external links (another file, a FIFO,
    ``/dev/zero``) are always refused, as are datasets stored outside the file (external or
    virtual storage); soft links unless ``soft_links`` (a soft link makes one name read
    another object's data), and object or region references (in datasets or attributes)
    unless ``references``. More than ``max_links`` links is refused too. Raises
    ``ValueError`` naming ``where``, the object and the rule.
    """
    h5py = importlib.import_module("h5py")
    problem, count = [], [0]

    def attrs_hold_references(obj):
        return next((name for name in obj.attrs
                     if _holds_reference(obj.attrs.get_id(name).dtype)), None)

    def visit(raw):  # never raises: h5py's iteration turns an exception into a SystemError
        name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        try:
            check(name, f.get(name, getlink=True))  # its parents were visited first: hard links
        except Exception as exc:  # noqa: BLE001 - an object h5py cannot describe is refused
            problem.append(f"object {quote(name)} cannot be read ({quote(str(exc))})")
        return True if problem else None

    def check(name, link):
        count[0] += 1
        if count[0] > max_links:
            problem.append(f"holds more than {max_links:,} HDF5 links; it is not read")
        elif isinstance(link, h5py.ExternalLink):
            problem.append(f"object {quote(name)} is an external link (to "
                           f"{quote(link.filename)}); only what is stored in the file is read")
        elif isinstance(link, h5py.SoftLink):
            if not soft_links:
                problem.append(f"object {quote(name)} is a soft link (to {quote(link.path)}), "
                               "so it would read another object's data; this format has none")
        elif not isinstance(link, h5py.HardLink):
            problem.append(f"object {quote(name)} is a {type(link).__name__}; only objects "
                           "stored in the file are read")
        else:
            obj = f.get(name)
            if isinstance(obj, h5py.Dataset):
                if obj.is_virtual or obj.external:
                    problem.append(f"dataset {quote(name)} is stored outside the file (virtual"
                                   " or external storage); only data in the file is read")
                elif not references and _holds_reference(obj.dtype):
                    problem.append(f"dataset {quote(name)} holds HDF5 object references; "
                                   "this format has none")
            if not problem and not references and obj is not None:
                attr = attrs_hold_references(obj)
                if attr is not None:
                    problem.append(f"attribute {quote(attr)} of {quote(name)} holds HDF5 "
                                   "object references; this format has none")

    if not references:
        attr = attrs_hold_references(f)
        if attr is not None:
            problem.append(f"root attribute {quote(attr)} holds HDF5 object references; this "
                           "format has none")
    if not problem:
        f.id.links.visit(visit)  # every link once, none followed (h5py >= 3.8)
    if problem:
        raise ValueError(f"{where}: {problem[0]}.")
    return count[0]
