"""The writer lock: a second live holder is refused naming the first's pid; a killed holder leaves no lock."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from lib.common.errors import UserError
from lib.common.lock import writer_lock

HOLD = ('import sys, time; sys.path.insert(0, %r)\n'
        'from lib.common.lock import writer_lock\n'
        'with writer_lock(sys.argv[1], "the folder"):\n'
        '    print("held", flush=True); time.sleep(60)\n') % ROOT


def test_second_writer_refused_then_free_after_kill_9(tmp_path):
    lock = str(tmp_path / 'run.lock')
    holder = subprocess.Popen([sys.executable, '-c', HOLD, lock], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b'held'
        with pytest.raises(UserError) as err:
            with writer_lock(lock, 'the folder'):
                pass
        assert 'the folder is in use by another process (pid %d, lock %s)' % (holder.pid, lock) in str(err.value)
    finally:
        holder.kill()
        holder.wait()
    entered = []
    with writer_lock(lock, 'the folder'):
        entered.append(True)
    assert entered == [True]


def test_lock_is_reentrant_only_sequentially(tmp_path):
    lock = str(tmp_path / 'run.lock')
    with writer_lock(lock, 'x'):
        with pytest.raises(UserError):
            with writer_lock(lock, 'x'):
                pass
    with writer_lock(lock, 'x'):
        with open(lock) as f:
            assert f.read().strip() == str(os.getpid())
