"""Which files of the researcher's workspace may go into a release request, and their bytes.

Pure file-system logic, no server: every path the browser names is checked here before a byte
of it is read. A path is refused (``Refused``, with a message a person can act on) when it is
outside the workspace, hidden, a symbolic link to somewhere outside, under the dataset mount,
not a regular file, or over the size limits. Reading reopens the checked file without following
links and makes sure it is still the file that was checked.

A verified table (``cleanroom.sdc`` in the kernel) is written with its specification beside it,
``<table>.table.json``. The specification travels with its table, never as a file of its own;
here it is data, bounded in size and read without following links, and the airlock validates it.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

from .filetypes import suggest_type

MiB = 1024 * 1024
# cleanroom.tables.spec.SPEC_SUFFIX and MAX_SPEC_BYTES (the airlock's; not imported: the lab
# server does not interpret a specification, it only carries it).
TABLE_SPEC_SUFFIX = ".table.json"
MAX_TABLE_SPEC_BYTES = 8192


class Refused(Exception):
    """A path or file that may not be released; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 100 * MiB
    max_request_bytes: int = 200 * MiB
    max_files: int = 50


@dataclass(frozen=True)
class WorkspaceFile:
    """One regular file inside the workspace, as it was when checked."""

    path: str  # relative to the workspace, '/'-separated (as JupyterLab names it)
    name: str  # the plain file name the airlock receives
    size: int
    real: str  # the absolute path with every link resolved
    device: int
    inode: int

    @property
    def suggested_type(self) -> str:
        return suggest_type(self.name)


def human_size(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _is_within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _has_control_chars(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


class Workspace:
    """The researcher's workspace (the server's root directory) as release requests see it."""

    def __init__(self, root: str | os.PathLike[str], forbidden_dirs=(), limits: Limits = Limits()):
        self.root = os.path.realpath(root)
        # The dataset mount is refused by name and by its real location, so that neither a
        # link to it nor a misconfigured root that contains it lets its bytes through.
        self.forbidden = [(str(d), os.path.realpath(d)) for d in forbidden_dirs]
        self.limits = limits

    # -- checking paths ---------------------------------------------------------------------

    def resolve(self, path: object) -> str:
        """The real absolute path of a workspace path, or ``Refused``."""
        if not isinstance(path, str) or not path.strip():
            raise Refused("Name a file or folder to release.", 400)
        if len(path) > 4096 or _has_control_chars(path):
            raise Refused(f"{path[:80]!r} is not a usable file name.", 400)
        if path.startswith("/"):
            raise Refused(f"{path} is outside your workspace: only files in it can be released.")
        parts = [part for part in path.split("/") if part not in ("", ".")]
        if not parts:
            raise Refused(
                "Choose files or folders inside your workspace, not the whole of it.", 400
            )
        if ".." in parts:
            raise Refused(f"{path} is outside your workspace: only files in it can be released.")
        if any(part.startswith(".") for part in parts):
            raise Refused(f"{path} is hidden: hidden files and folders cannot be released.")
        lexical = os.path.join(self.root, *parts)
        # Where links lead, even when the target is not there: the lab server does not mount
        # the project's data (the kernels do), so a link to it dangles here.
        leads_to = os.path.realpath(lexical)
        try:
            real = os.path.realpath(lexical, strict=True)
        except FileNotFoundError:
            real = None
        except OSError as error:
            raise Refused(f"{path} cannot be read ({error.strerror}).", 400) from None
        through_link = self._passes_link(parts)
        for name, real_dir in self.forbidden:
            if (
                _is_within(leads_to, real_dir)
                or _is_within(leads_to, name)
                or _is_within(os.path.abspath(lexical), name)
            ):
                raise Refused(
                    f"{path} is project data (under the dataset mount {name}): datasets never "
                    "leave the clean room. Release the results you derived from them instead."
                )
        if real is None:
            raise Refused(f"{path} does not exist.", 404)
        if not _is_within(real, self.root):
            if through_link:
                raise Refused(
                    f"{path} is a symbolic link to {real}, outside your workspace: only files "
                    "in your workspace can be released."
                )
            raise Refused(f"{path} is outside your workspace: only files in it can be released.")
        return real

    def _passes_link(self, parts: list[str]) -> bool:
        current = self.root
        for part in parts:
            current = os.path.join(current, part)
            if os.path.islink(current):
                return True
        return False

    def _checked_file(self, path: str, real: str) -> WorkspaceFile:
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{path} is not a regular file: only files and folders can be released.")
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if info.st_size > self.limits.max_file_bytes:
            raise Refused(
                f"{path} is {human_size(info.st_size)}; a release request takes files of at most "
                f"{human_size(self.limits.max_file_bytes)}. Make it smaller, or ask an "
                "administrator about large releases.",
                413,
            )
        return WorkspaceFile(path, name, info.st_size, real, info.st_dev, info.st_ino)

    def expand(self, paths: object) -> list[WorkspaceFile]:
        """Every file the chosen paths stand for (a folder stands for the files in it)."""
        if not isinstance(paths, list) or not paths:
            raise Refused("Choose at least one file or folder to release.", 400)
        files: list[WorkspaceFile] = []
        for path in paths:
            real = self.resolve(path)
            if isinstance(path, str) and path.rstrip("/").endswith(TABLE_SPEC_SUFFIX):
                table = path.rstrip("/")[: -len(TABLE_SPEC_SUFFIX)]
                raise Refused(
                    f"{path} is the specification of the verified table {table}: it goes with "
                    "its table automatically. Choose the table instead.",
                    400,
                )
            if os.path.isdir(real):
                files.extend(self._folder_files(path.strip("/"), real))
            else:
                files.append(self._checked_file(path.strip("/"), real))
            if len(files) > self.limits.max_files:
                raise Refused(
                    f"That is more than {self.limits.max_files} files: a release request holds "
                    "at most that many. Choose fewer, or put them in one archive.",
                    413,
                )
        self.check_names([f.name for f in files], [f.path for f in files])
        self.check_total(sum(f.size for f in files))
        return files

    def _folder_files(self, path: str, real: str) -> list[WorkspaceFile]:
        found = []
        for directory, subdirs, names in os.walk(real, followlinks=False):
            relative = os.path.relpath(directory, real)
            prefix = path if relative == "." else f"{path}/{relative.replace(os.sep, '/')}"
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for subdir in subdirs:
                if os.path.islink(os.path.join(directory, subdir)):
                    # A link inside the folder is checked like a chosen path; a link to a folder
                    # inside the workspace is skipped (its files are released from where they are).
                    self.resolve(f"{prefix}/{subdir}")
            for name in sorted(n for n in names if not n.startswith(".")):
                if name.endswith(TABLE_SPEC_SUFFIX):
                    continue  # a table's specification goes with its table
                member = f"{prefix}/{name}"
                found.append(self._checked_file(member, self.resolve(member)))
                if len(found) > self.limits.max_files:
                    return found
        if not found:
            raise Refused(f"{path} holds no files to release.", 400)
        return found

    def check_names(self, names: list[str], paths: list[str]) -> None:
        seen: dict[str, str] = {}
        for name, path in zip(names, paths, strict=True):
            if _has_control_chars(name) or name in ("", ".", ".."):
                raise Refused(f"{path!r} is not a usable file name: rename it.", 400)
            if name in seen:
                raise Refused(
                    f"Two files are named {name} ({seen[name]} and {path}): a release request "
                    "holds one file per name. Rename one of them.",
                    400,
                )
            seen[name] = path

    def check_total(self, total: int) -> None:
        if total > self.limits.max_request_bytes:
            raise Refused(
                f"Together these files are {human_size(total)}; a release request takes at most "
                f"{human_size(self.limits.max_request_bytes)}. Choose fewer or smaller files.",
                413,
            )

    # -- reading ---------------------------------------------------------------------------

    def read(self, checked: WorkspaceFile) -> bytes:
        """The bytes of a checked file, refusing if it was swapped or grew past the limit."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(checked.real, flags)
        except OSError as error:
            raise Refused(f"{checked.path} cannot be read ({error.strerror}).", 409) from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if (info.st_dev, info.st_ino) != (checked.device, checked.inode) or not stat.S_ISREG(
                info.st_mode
            ):
                raise Refused(f"{checked.path} changed while it was being sent: try again.", 409)
            data = handle.read(self.limits.max_file_bytes + 1)
        if len(data) > self.limits.max_file_bytes:
            raise Refused(
                f"{checked.path} grew past {human_size(self.limits.max_file_bytes)} while it "
                "was being sent.",
                413,
            )
        return data

    def table_spec(self, checked: WorkspaceFile) -> bytes | None:
        """The bytes of the table specification beside a checked file (``<file>.table.json``),
        or None when there is none. Refused when it is a link, not a regular file, or over
        :data:`MAX_TABLE_SPEC_BYTES`: a specification that is there but not sent would let its
        table go unverified without anyone knowing why."""
        path = checked.real + TABLE_SPEC_SUFFIX  # beside the real file, in the workspace
        shown = checked.path + TABLE_SPEC_SUFFIX
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            return None
        except OSError as error:
            if os.path.islink(path):
                raise Refused(
                    f"{shown} is a symbolic link: a verified table's specification must be the "
                    "file cleanroom.sdc wrote beside it. Remove the link and save the table "
                    "again.",
                    400,
                ) from None
            raise Refused(f"{shown} cannot be read ({error.strerror}).", 409) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise Refused(
                    f"{shown} is not a regular file: remove it and save the table again.", 400
                )
            data = b""
            while len(data) <= MAX_TABLE_SPEC_BYTES:
                chunk = os.read(fd, MAX_TABLE_SPEC_BYTES + 1 - len(data))
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(fd)
        if len(data) > MAX_TABLE_SPEC_BYTES:
            raise Refused(
                f"{shown} is over {MAX_TABLE_SPEC_BYTES} bytes, more than any table "
                "specification cleanroom.sdc writes: remove it and save the table again.",
                413,
            )
        return data

    def digest(self, checked: WorkspaceFile) -> str:
        return hashlib.sha256(self.read(checked)).hexdigest()
