"""Atomic file writes: nothing half-written ever replaces a good file, and what is written keeps the umask's mode."""
import contextlib
import json
import os
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


@contextlib.contextmanager
def staging_dir(path):
    """Yield a fresh empty folder beside ``path`` (which must not exist yet) and rename it to ``path`` if the
    block succeeds; on failure it is removed. Nothing that was at ``path`` is ever deleted."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.' + os.path.basename(os.path.abspath(path)) + '.', suffix='.tmp', dir=parent)
    os.chmod(tmp, umask_mode(directory=True))
    try:
        yield tmp
        os.rename(tmp, path)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


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
