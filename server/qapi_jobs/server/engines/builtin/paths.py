"""Confinement of image files to the server's data directory, free of races.

Clients name images by paths relative to the data directory.  Each image
is opened once, while its job is prepared: the directory that holds it is
opened beneath the data directory without following any symbolic link
(see :mod:`.beneath`), and the file is opened relative to that directory
with O_NOFOLLOW.  From then on the job uses these descriptors only, never
the name: a directory or file swapped for a symbolic link afterwards
changes nothing.  A file the job creates is created (O_EXCL) and, on
failure, removed through the directory's descriptor in the same way.

The rules, all checked on the opened file itself:

- no symbolic link anywhere in the path, not even one that stays inside
  the data directory (it could be retargeted at any moment);
- images are regular files;
- a file with more than one hard link is refused unless the server allows
  it: another link may live outside the data directory;
- new files get ``new_file_mode`` (0600 unless configured);
- the descriptors images hold are limited (``max_open_files``).

Error messages quote the client's own path, never the server's real one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from qapi_jobs.server.engines.builtin import beneath
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.store.layout import STATE_DIR_NAME

NAME_MAX: Final = 255
"""The longest file name component Linux file systems accept, in bytes."""
PATH_MAX: Final = 4096
"""The longest path Linux accepts, in bytes with the terminating NUL."""
CREATION_TAG: Final = "user.qapi_jobs.creation"
"""The extended attribute that marks a file with its creating job's tag (see ImagePath)."""
DEFAULT_NEW_FILE_MODE: Final = 0o600
DEFAULT_MAX_OPEN_FILES: Final = 512
"""Descriptors the images of live jobs may hold together (two per image)."""
_FILE_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NOCTTY
# Without O_NONBLOCK, opening a FIFO planted in the data directory would hang
# the worker thread; on regular files the flag has no effect.
_EXISTING_FLAGS = _FILE_FLAGS | os.O_NONBLOCK

Key = tuple[object, ...]
"""What identifies a file for claims: its inode, or its name in a directory."""


def _refusal(kind: ErrorKind, message: str, reason: str) -> JobError:
    return JobError(kind, message, reason=reason)


class _Descriptors:
    """Counts the descriptors held by images against the configured limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def reserve(self, count: int) -> None:
        with self._lock:
            if self.held + count > self.limit:
                raise _refusal(
                    ErrorKind.RESOURCE_EXHAUSTED,
                    f"Too many open image files: the limit max-open-files ({self.limit}) is "
                    "reached; wait for jobs to end or start the server with a higher "
                    "--max-open-files",
                    "MAX_OPEN_FILES",
                )
            self.held += count

    def give_back(self, count: int) -> None:
        with self._lock:
            self.held -= count


DESCRIPTORS_PER_IMAGE: Final = 2
"""An image's directory and the file (existing, or created by its job)."""


def _close_all(fds: list[int], budget: _Descriptors) -> None:
    """Close every descriptor in ``fds`` (emptying it) and return the image's budget."""
    while fds:
        with contextlib.suppress(OSError):
            os.close(fds.pop())
    budget.give_back(DESCRIPTORS_PER_IMAGE)


class ImagePath:
    """One image of a job: the client's name and the descriptors opened for it.

    ``dir_fd`` is the directory holding the image, ``fd`` the image itself
    (None for a file the job has yet to create).  :meth:`close` closes
    them; an image that is never closed explicitly (a plan that never
    became a job) is closed when it is garbage collected.
    """

    def __init__(
        self,
        name: str,
        *,
        base: str,
        dir_fd: int,
        fd: int | None,
        writes: bool,
        new_file_mode: int,
        budget: _Descriptors,
    ) -> None:
        self.name = name
        """The client's path, relative to the data directory; used in messages."""
        self.base = base
        """The file's name inside its directory."""
        self.dir_fd = dir_fd
        self.fd = fd
        self.writes = writes
        """Whether the job writes this image (else it only reads it)."""
        self.new_file_mode = new_file_mode
        self._budget = budget
        self.creation_tag = secrets.token_hex(16) if fd is None else None
        """For a file yet to be created: the secret it is marked with (see :data:`CREATION_TAG`)."""
        self._owned = [dir_fd] if fd is None else [dir_fd, fd]
        self._closer = weakref.finalize(self, _close_all, self._owned, budget)
        dir_st = os.fstat(dir_fd)
        keys: list[Key] = [("name", dir_st.st_dev, dir_st.st_ino, base)]
        if fd is not None:
            st = os.fstat(fd)
            keys.append(("inode", st.st_dev, st.st_ino))
        self.keys: tuple[Key, ...] = tuple(keys)
        """Claims on this image: its name, and its inode if it exists."""

    def adopt(self, fd: int) -> None:
        """Take ``fd`` (a file created for this image) into this image's care."""
        self._owned.append(fd)
        self.fd = fd

    def still_named(self) -> bool:
        """Whether the image's name still leads to the file opened (blocking)."""
        if self.fd is None:
            return False
        try:
            named = os.stat(self.base, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        st = os.fstat(self.fd)
        return (named.st_dev, named.st_ino) == (st.st_dev, st.st_ino)

    def close(self) -> None:
        """Close the image's descriptors; closing twice does nothing."""
        self._closer()

    def __repr__(self) -> str:
        return f"ImagePath({self.name!r})"


@dataclass(frozen=True)
class _Split:
    parents: list[str]
    base: str


class DataDir:
    """The directory that holds every image the engine may touch.

    ``use_openat2`` picks how paths are opened (default: openat2 where the
    kernel has it, else the per-component walk; both are equally strict).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        new_file_mode: int = DEFAULT_NEW_FILE_MODE,
        allow_hard_links: bool = False,
        max_open_files: int = DEFAULT_MAX_OPEN_FILES,
        use_openat2: bool | None = None,
    ) -> None:
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise ValueError(f"data directory {os.fspath(root)!r} is not a directory")
        if not 0 <= new_file_mode <= 0o777:
            raise ValueError(f"new file mode {new_file_mode:#o} is not a permission mode")
        if max_open_files < 2 * DESCRIPTORS_PER_IMAGE:
            raise ValueError(
                f"max_open_files must be at least {2 * DESCRIPTORS_PER_IMAGE} (one copy job)"
            )
        self.root = real
        self.new_file_mode = new_file_mode
        self.allow_hard_links = allow_hard_links
        self.use_openat2 = beneath.OPENAT2_AVAILABLE if use_openat2 is None else use_openat2
        self._budget = _Descriptors(max_open_files)
        self._root_fd = os.open(real, beneath.DIRECTORY_FLAGS)
        weakref.finalize(self, os.close, self._root_fd)

    @property
    def max_open_files(self) -> int:
        """The limit on descriptors held by images."""
        return self._budget.limit

    @property
    def open_files(self) -> int:
        """The descriptors images hold right now."""
        return self._budget.held

    def remove_created(
        self, name: str, *, device: int | None, inode: int | None, tag: str | None
    ) -> bool:
        """Unlink the file a job created at ``name``, if it provably is that file.

        Blocking; returns whether the file was removed.  ``name`` is
        relative to the data directory and checked like a client's; its
        directory is opened beneath the data directory without following
        links, and the file is looked at and unlinked through that
        descriptor, never by a path from the root.  The proof: the recorded
        ``device`` and ``inode``, else the creation ``tag`` the file carries
        (see :data:`CREATION_TAG`); without either nothing is removed.
        """
        split = self._split(name, "file")
        try:
            dir_fd = beneath.open_directory(
                self._root_fd, split.parents, use_openat2=self.use_openat2
            )
        except FileNotFoundError:
            return False
        try:
            try:
                st = os.stat(split.base, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return False
            if inode is not None:
                same = (st.st_dev, st.st_ino) == (device, inode)
            else:
                same = tag is not None and _tagged(dir_fd, split.base, st, tag)
            if same:
                os.unlink(split.base, dir_fd=dir_fd)
            return same
        finally:
            os.close(dir_fd)

    def existing(self, name: str, *, parameter: str, writable: bool) -> ImagePath:
        """Open the existing image ``name`` for reading (and writing, if ``writable``).

        Blocking.  Raises JobError when the path or the file breaks a rule
        (see the module docstring) or cannot be opened.
        """
        split = self._split(name, parameter)

        def open_file(dir_fd: int) -> int:
            return self._open_file(name, dir_fd, split.base, writable)

        return self._image(name, split, creating=False, writes=writable, finish=open_file)

    def new(self, name: str, *, parameter: str, hint: str) -> ImagePath:
        """Open the directory where the job will create the image ``name``.

        Blocking.  ``hint`` finishes the message for a name that is taken
        (what to do instead).
        """
        split = self._split(name, parameter)

        def check_free(dir_fd: int) -> None:
            _check_free_name(name, dir_fd, split.base, hint)

        return self._image(name, split, creating=True, writes=True, finish=check_free)

    def _image(
        self,
        name: str,
        split: _Split,
        *,
        creating: bool,
        writes: bool,
        finish: Callable[[int], int | None],
    ) -> ImagePath:
        """Open the directory of ``name``, then ``finish`` there (the image's fd, if any).

        The descriptor budget and the directory are given back if either step fails.
        """
        self._budget.reserve(DESCRIPTORS_PER_IMAGE)
        try:
            dir_fd = self._open_directory(name, split, creating=creating)
        except BaseException:
            self._budget.give_back(DESCRIPTORS_PER_IMAGE)
            raise
        try:
            fd = finish(dir_fd)
        except BaseException:
            os.close(dir_fd)
            self._budget.give_back(DESCRIPTORS_PER_IMAGE)
            raise
        return ImagePath(
            name,
            base=split.base,
            dir_fd=dir_fd,
            fd=fd,
            writes=writes,
            new_file_mode=self.new_file_mode,
            budget=self._budget,
        )

    def _split(self, name: str, parameter: str) -> _Split:
        if not name or "\0" in name:
            raise _refusal(
                ErrorKind.INVALID_ARGUMENT,
                f"Parameter '{parameter}' must name an image file relative to the data directory",
                "INVALID_IMAGE_PATH",
            )
        shown = quote(name)
        if os.path.isabs(name):
            raise _refusal(
                ErrorKind.INVALID_ARGUMENT,
                f"Image path '{shown}' is absolute; name the image relative to the data directory",
                "ABSOLUTE_IMAGE_PATH",
            )
        parts = [part for part in name.split("/") if part not in ("", ".")]
        encoded = os.fsencode(name)
        if len(encoded) >= PATH_MAX or any(len(os.fsencode(p)) > NAME_MAX for p in parts):
            raise _refusal(
                ErrorKind.INVALID_ARGUMENT,
                f"Image path '{shown}' is too long: paths have at most {PATH_MAX - 1} bytes "
                f"and {NAME_MAX} bytes per component",
                "IMAGE_PATH_TOO_LONG",
            )
        if ".." in parts:
            raise _refusal(
                ErrorKind.INVALID_ARGUMENT,
                f"Image path '{shown}' contains '..'; name the image by a path inside the data "
                "directory",
                "IMAGE_PATH_ESCAPES",
            )
        if not parts:
            raise _refusal(
                ErrorKind.INVALID_ARGUMENT,
                f"Image path '{shown}' names the data directory itself, not an image file",
                "INVALID_IMAGE_PATH",
            )
        if parts[0] == STATE_DIR_NAME:
            raise _refusal(
                ErrorKind.PERMISSION_DENIED,
                f"Image path '{shown}' is inside the server's own state directory "
                f"'{STATE_DIR_NAME}'; name an image elsewhere in the data directory",
                "STATE_DIR_RESERVED",
            )
        return _Split(parts[:-1], parts[-1])

    def _open_directory(self, name: str, split: _Split, *, creating: bool) -> int:
        try:
            return beneath.open_directory(
                self._root_fd, split.parents, use_openat2=self.use_openat2
            )
        except OSError as exc:
            if creating and exc.errno == errno.ENOENT:
                raise _refusal(
                    ErrorKind.NOT_FOUND,
                    f"Could not create '{quote(name)}': its directory does not exist",
                    "DIRECTORY_NOT_FOUND",
                ) from exc
            raise open_error(name, exc) from exc

    def _open_file(self, name: str, dir_fd: int, base: str, writable: bool) -> int:
        flags = (os.O_RDWR if writable else os.O_RDONLY) | _EXISTING_FLAGS
        try:
            fd = os.open(base, flags, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.EISDIR:
                raise _not_regular(name) from exc
            raise open_error(name, exc) from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise _not_regular(name)
            if st.st_nlink > 1 and not self.allow_hard_links:
                raise _refusal(
                    ErrorKind.PERMISSION_DENIED,
                    f"Image '{quote(name)}' has {st.st_nlink} hard links; images with more "
                    "than one link are refused (another link may lie outside the data "
                    "directory): copy the file, or start the server with --allow-hard-links",
                    "HARD_LINKED_IMAGE",
                )
        except BaseException:
            os.close(fd)
            raise
        return fd


def _tagged(dir_fd: int, base: str, named: os.stat_result, tag: str) -> bool:
    """Whether ``base`` (stat ``named``) is a regular file marked with ``tag``."""
    if not stat.S_ISREG(named.st_mode):
        return False
    fd = os.open(base, os.O_RDONLY | _EXISTING_FLAGS, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (named.st_dev, named.st_ino):
            return False
        try:
            return os.getxattr(fd, CREATION_TAG) == tag.encode()
        except OSError:
            return False  # no such attribute, or none on this file system
    finally:
        os.close(fd)


def _check_free_name(name: str, dir_fd: int, base: str, hint: str) -> None:
    try:
        st = os.stat(base, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise open_error(name, exc) from exc
    else:
        if stat.S_ISLNK(st.st_mode):
            raise open_error(name, OSError(errno.ELOOP, os.strerror(errno.ELOOP)))
        raise _refusal(
            ErrorKind.ALREADY_EXISTS,
            f"Image '{quote(name)}' already exists; {hint}",
            "IMAGE_EXISTS",
        )
    if not os.access(".", os.W_OK | os.X_OK, dir_fd=dir_fd):
        raise _refusal(
            ErrorKind.PERMISSION_DENIED,
            f"Could not create '{quote(name)}': Permission denied",
            "PERMISSION_DENIED",
        )


def _not_regular(name: str) -> JobError:
    return _refusal(
        ErrorKind.INVALID_ARGUMENT,
        f"Could not open '{quote(name)}': not a regular file; images are plain files",
        "NOT_A_REGULAR_FILE",
    )


def open_error(name: str, exc: OSError) -> JobError:
    """The refusal for an image that could not be opened, by errno."""
    shown = quote(name)
    code = exc.errno or 0
    if code == errno.ELOOP:
        return _refusal(
            ErrorKind.PERMISSION_DENIED,
            f"Image path '{shown}' goes through a symbolic link; image paths may not contain "
            "symbolic links: name the file by its real path inside the data directory",
            "SYMLINK_IN_IMAGE_PATH",
        )
    if code == errno.EXDEV:
        return _refusal(
            ErrorKind.PERMISSION_DENIED,
            f"Image path '{shown}' leads outside the data directory",
            "IMAGE_PATH_ESCAPES",
        )
    if code == errno.ENAMETOOLONG:
        return _refusal(
            ErrorKind.INVALID_ARGUMENT,
            f"Image path '{shown}' is too long",
            "IMAGE_PATH_TOO_LONG",
        )
    if code in (errno.EMFILE, errno.ENFILE):
        return _refusal(
            ErrorKind.RESOURCE_EXHAUSTED,
            f"Could not open '{shown}': the server has too many open files; try again later",
            "TOO_MANY_OPEN_FILES",
        )
    kind = {
        errno.ENOENT: ErrorKind.NOT_FOUND,
        errno.EACCES: ErrorKind.PERMISSION_DENIED,
        errno.EPERM: ErrorKind.PERMISSION_DENIED,
    }.get(code, ErrorKind.INVALID_ARGUMENT)
    reason = "IMAGE_NOT_FOUND" if kind is ErrorKind.NOT_FOUND else kind.name
    text = os.strerror(code) if code else str(exc)
    return _refusal(kind, f"Could not open '{shown}': {text}", reason)


QUOTE_LIMIT: Final = 256
"""The most characters of a client's path a message repeats."""


def quote(text: str) -> str:
    """``text`` fit for a message: control characters escaped, at most QUOTE_LIMIT shown."""
    shown = text[:QUOTE_LIMIT]
    escaped = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in shown
    )
    return escaped + ("..." if len(text) > QUOTE_LIMIT else "")
