"""The files of a results folder, read and written as if the folder were hostile (it holds what a peer and
whoever could write there left): inputs only when they are regular files, opened without blocking;
outputs written beside their target and renamed over it, so that a symlink there is replaced, never followed.

Inputs: a FIFO, device, socket or folder is refused (the open uses O_NONBLOCK, so a FIFO cannot hang it;
fstat decides). A symlink is followed only when it resolves inside the results folder (a run folder may link
one of its files to another), never to a file outside it: the analysis often runs as root, and a report
quoting a line of another file would leak it. The folder itself may be a symlink (results/latest is one)."""

import os
import stat
import tempfile


class InputError(Exception):
    """A results folder or file the analysis cannot use; the message is one line for stderr."""


# What a file that is not a regular file is, in words.
FILE_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
              stat.S_IFDIR: "a folder", stat.S_IFSOCK: "a socket", stat.S_IFLNK: "a symlink"}

OUTPUT_MODE = 0o644

# The largest input read. An hour's stream of 144 frames/s writes ~200 MB of rows; a file beyond this is not
# one host_writer wrote, and parsing it would take the machine's memory (a table costs several times its text).
MAX_INPUT_BYTES = 1 << 30


def exists(folder, name):
    """Whether folder/name is there at all (a dangling or looping symlink counts: reading it says why)."""
    return os.path.lexists(os.path.join(folder, name))


def inside(root, path):
    return os.path.commonpath([root, path]) == root


def read_input(folder, name, limit=MAX_INPUT_BYTES):
    """The bytes of folder/name; InputError naming the file when it is not a regular file inside the folder,
    holds more than limit bytes, or cannot be read."""
    root = os.path.realpath(folder)
    path = os.path.join(root, name)
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            path = os.path.realpath(path)
            if not inside(root, path):
                raise InputError(f"{name}: a symlink to outside the results folder")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise InputError(f"{name}: cannot be read ({err.strerror})")
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputError(f"{name}: not a regular file ({FILE_KINDS.get(stat.S_IFMT(mode), 'unknown kind')})")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(limit + 1)  # not st_size: a file may grow while it is read
        except OSError as err:
            raise InputError(f"{name}: cannot be read ({err.strerror})")
    if len(data) > limit:
        raise InputError(f"{name}: larger than {limit} bytes: not a file ivshmem-bench wrote")
    return data


def write_output(folder, name, write):
    """folder/name replaced by what write(binary file) writes, mode 0644: written to a new temporary file in
    the folder (O_EXCL), then renamed over the target, which is replaced whatever it is (a symlink is not
    followed). InputError naming the file when it cannot be written; no temporary file is left behind."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    except OSError as err:
        raise InputError(f"{name}: cannot be written in {folder} ({err.strerror})")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), OUTPUT_MODE)
            write(f)
        os.replace(tmp, os.path.join(folder, name))
    except OSError as err:
        os.unlink(tmp)
        raise InputError(f"{name}: cannot be written in {folder} ({err.strerror})")
    except BaseException:
        os.unlink(tmp)
        raise
