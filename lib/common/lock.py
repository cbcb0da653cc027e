"""Writer locks: one live writer per output (a training's model_path, a results folder's shard).

The lock is ``fcntl.flock`` on a small file: the kernel drops it when its holder dies, so a ``kill -9`` never
leaves a stale lock and no clean-up is needed. The file holds the holder's pid so that the refusal can name it.
flock works between processes of one machine; on NFS it is emulated with POSIX byte-range locks (Linux >= 2.6.12),
which work across clients only where the server runs a lock manager (NFSv4, or v3 with lockd): two machines
writing one folder on a file system without locks are not stopped.
"""
import contextlib
import errno
import fcntl
import os

from lib.common.errors import UserError
from lib.common.io import umask_mode


def _holder(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 64).decode('ascii', 'replace').strip() or 'unknown'
    except OSError:
        return 'unknown'


@contextlib.contextmanager
def writer_lock(lock_path, what):
    """Hold an exclusive lock on ``lock_path`` (created if needed) while the block runs; a second live holder
    gets one line: ``<what> is in use by another process (pid N, lock LOCK_PATH)``. The file is left in place
    (a failed training start removes the one it created: ``_locked_fd`` copes); it holds nothing but a pid."""
    fd = _locked_fd(lock_path, what)
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, ('%d\n' % os.getpid()).encode('ascii'))
        yield
    finally:
        os.close(fd)


def _locked_fd(lock_path, what):
    """A descriptor of ``lock_path`` holding its flock. Retried when the file was replaced or removed between
    open and flock (a failed training start removes the lock file it created), so the lock held is the one at
    ``lock_path``."""
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, umask_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = _holder(fd)
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise UserError('%s is in use by another process (pid %s, lock %s); wait for it to finish or stop it'
                            % (what, holder, lock_path))
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        except OSError:
            same = False
        if same:
            return fd
        os.close(fd)


def live_holder(lock_path):
    """The pid written in ``lock_path`` when a live process holds it, else None (no file, or nobody holds it).
    The probe takes a shared lock for an instant, so it never blocks and never keeps the lock."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            return _holder(fd)
        return None
    finally:
        os.close(fd)
