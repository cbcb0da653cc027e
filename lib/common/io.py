"""Atomic file writes and owned temp folders: nothing half-written ever replaces a good file, a killed run's temp folder
is removed by the next run of its kind, and what is written keeps the umask's mode."""
import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile

from lib.common.errors import UserError, where


def umask_mode(directory=False):
    """The mode a plain open()/mkdir() would give under the current umask (0644 / 0755 under umask 022);
    mkstemp/mkdtemp give 0600 / 0700, which locks out the other users of a shared machine."""
    mask = os.umask(0o022)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it over ``path`` only if the block succeeds."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=directory)
    os.close(fd)
    os.chmod(tmp, umask_mode())
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


def remove_dead_temp_dirs(parent, kind):
    """Remove the ``temp_dir`` folders of ``kind`` in ``parent`` left by killed runs: those whose owner pid (in the
    name) is not alive here and whose lock nobody holds (a live owner on another machine of a shared file system
    holds it). Returns the removed paths."""
    removed = []
    pattern = re.compile(r'^\.%s\.(\d+)\.[^.]+\.tmp$' % re.escape(kind))
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        path = os.path.join(parent, name)
        if not match or not os.path.isdir(path) or os.path.islink(path) or _alive(int(match.group(1))):
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # removed meanwhile (another run cleaning up)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: a live run
        finally:
            os.close(fd)  # the lock (if taken) goes with it; nobody takes a dead run's folder back
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


@contextlib.contextmanager
def temp_dir(parent, kind):
    """Yield a fresh folder ``.<kind>.<pid>.XXXX.tmp`` in ``parent``, locked (flock on its descriptor) while the
    block runs and removed after it. A ``kill -9`` leaves it behind: the next ``temp_dir`` of the same kind in
    that parent removes it (``remove_dead_temp_dirs``)."""
    os.makedirs(parent, exist_ok=True)
    remove_dead_temp_dirs(parent, kind)
    tmp = tempfile.mkdtemp(prefix='.%s.%d.' % (kind, os.getpid()), suffix='.tmp', dir=parent)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.chmod(tmp, umask_mode(directory=True))
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.close(fd)


def write_text(path, text):
    """Atomically write ``text`` to ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w') as f:
            f.write(text)


def write_json(path, obj):
    """Atomically write ``obj`` as indented JSON."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + '\n')


def read_text_lines(path):
    """The lines of a UTF-8 text file; a byte that is not UTF-8 is a UserError naming the file and line (instead of
    a UnicodeDecodeError traceback, or a locale-dependent misreading)."""
    with open(path, 'rb') as f:
        raw = f.read().split(b'\n')
    lines = []
    for number, line in enumerate(raw, 1):
        try:
            lines.append(line.decode('utf-8'))
        except UnicodeDecodeError as err:
            raise UserError('%s: not UTF-8 text (byte 0x%02x at column %d); save the file as UTF-8'
                            % (where(path, number), line[err.start], err.start + 1))
    if lines and lines[-1] == '':
        lines.pop()
    return lines


def read_json(path):
    with open(path) as f:
        return json.load(f)
