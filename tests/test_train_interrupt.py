"""A running training holds its model_path: a second `pruned_train.py` on it is refused in one line naming the
first's pid; Ctrl-C (a real SIGINT) ends the first in one line, exit 130, no traceback, and a re-run resumes; a full
disk at a checkpoint save (a mocked ResourceExhaustedError / ENOSPC) is one line too. A killed run's temp folder is
removed by the next run of its kind, a live run's never."""
import errno
import fcntl
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from lib.common import io
from lib.common.cli import main_entry
from lib.common.errors import UserError
from lib.train import checkpoints
from lib.train.faults import TRACE_ENV
from lib.train.claim import LOCK_FILE
from tests.cli_helpers import own_lines
from tests.train_helpers import ROOT, tiny_overrides, write_config_file, write_tiny_dataset

TRAIN = os.path.join(ROOT, 'pruned_train.py')


def _config(root, **extra):
    train_txt = write_tiny_dataset(root, 4, name='train')
    val_txt = write_tiny_dataset(root, 2, seed=1, name='val')
    return write_config_file(os.path.join(root, 'config.py'), tiny_overrides(
        root, train_txt, val_txt, MODEL__width_mult=0.0625, TRAIN__log_interval=1000, **extra))


def _wait_for_steps(proc, trace, count, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        if os.path.isfile(trace):
            with open(trace) as f:
                if sum(1 for line in f if not line.startswith('start')) >= count:
                    return
        time.sleep(0.2)
    raise AssertionError('training made no step in %d s' % timeout)


def _last_line(stderr):
    return stderr.strip().splitlines()[-1]


def test_second_training_refused_then_ctrl_c_is_one_line_and_resumes(tmp_path):
    root = str(tmp_path)
    config = _config(root, TRAIN__epoch=100000)
    trace = os.path.join(root, 'trace')
    first = subprocess.Popen([sys.executable, TRAIN, '--config=' + config], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True, env=dict(os.environ,
                                                                                      **{TRACE_ENV: trace}))
    try:
        _wait_for_steps(first, trace, 3)  # past epoch 1's save
        model_path = os.path.join(root, 'model')
        second = subprocess.run([sys.executable, TRAIN, '--config=' + config], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
        assert second.returncode == 2, second.stderr
        assert len(own_lines(second.stderr)) == 1 and 'Traceback' not in second.stderr
        assert ('config.MODEL.model_path = %s is in use by another process (pid %d, lock %s)'
                % (model_path, first.pid, os.path.join(model_path, LOCK_FILE))) in second.stderr
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 130, stderr[-3000:]
    assert 'Traceback' not in stderr and 'KeyboardInterrupt' not in stderr
    assert _last_line(stderr) == ('interrupted (Ctrl-C); the checkpoints saved so far stay in config.MODEL.model_path '
                                  '(none half-written); re-run the same command to resume from the newest')
    newest, _ = checkpoints.newest_checkpoint(model_path)
    epoch = int(re.match(r'epoch_(\d+)\.ckpt$', os.path.basename(newest)).group(1))
    resumed = subprocess.run([sys.executable, TRAIN, '--config=' + config, '--epoch=%d' % (epoch + 1)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resumed from %s at global step %d' % (newest, 2 * epoch) in resumed.stderr


def test_full_disk_at_a_save_is_one_line(tmp_path, monkeypatch, capsys):
    from conftest import tf
    import pruned_train
    root = str(tmp_path)
    config = _config(root, TRAIN__epoch=1)

    def full(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, '%s/epoch_1.ckpt.data-00000-of-00001.tempstate1; '
                                               'No space left on device' % root)
    monkeypatch.setattr(checkpoints.CheckpointFolder, 'save', full)
    with pytest.raises(SystemExit) as stop:
        pruned_train.main(['--config=' + config])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and 'Traceback' not in err
    assert _last_line(err) == ('error: no space left on device (%s/epoch_1.ckpt.data-00000-of-00001.tempstate1; No '
                               'space left on device); the checkpoints saved so far stay in config.MODEL.model_path '
                               '(none half-written); re-run the same command to resume from the newest; free space, '
                               'then re-run the same command' % root)


def test_main_entry_full_disk_in_an_error_chain_is_one_line_other_errors_pass(capsys):
    def fails(error):
        @main_entry(kept='KEPT')
        def job():
            try:
                raise error
            except OSError as err:
                raise RuntimeError('writing failed') from err
        return job
    with pytest.raises(SystemExit) as stop:
        fails(OSError(errno.ENOSPC, 'No space left on device', '/out/a.json'))()
    assert stop.value.code == 1
    assert capsys.readouterr().err == ('error: no space left on device (/out/a.json); KEPT; free space, then re-run '
                                       'the same command\n')
    with pytest.raises(RuntimeError):  # not a full disk: a bug, with its traceback
        fails(OSError(errno.EIO, 'Input/output error'))()


def test_a_killed_runs_temp_folder_is_removed_by_the_next_a_live_ones_never(tmp_path):
    parent = str(tmp_path)
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    orphan = os.path.join(parent, '.saved_model.%d.abc.tmp' % dead.pid)
    os.makedirs(os.path.join(orphan, 'export'))
    other_kind = os.path.join(parent, '.ckpt.%d.abc.tmp' % dead.pid)
    os.mkdir(other_kind)
    user_folder = os.path.join(parent, '.saved_model.mine')
    os.mkdir(user_folder)
    remote = os.path.join(parent, '.saved_model.%d.xyz.tmp' % dead.pid)  # a live run of another machine: locked
    os.mkdir(remote)
    remote_fd = os.open(remote, os.O_RDONLY)
    fcntl.flock(remote_fd, fcntl.LOCK_EX)
    live = subprocess.Popen([sys.executable, '-c', 'import sys, time; sys.path.insert(0, %r)\n'
                             'from lib.common.io import temp_dir\n'
                             'with temp_dir(sys.argv[1], "saved_model") as d:\n'
                             '    print(d, flush=True); time.sleep(60)\n' % ROOT, parent],
                            stdout=subprocess.PIPE, universal_newlines=True)
    try:
        held = live.stdout.readline().strip()
        assert os.path.isdir(held) and not os.path.exists(orphan)  # the live run removed the dead one's
        with io.temp_dir(parent, 'saved_model') as mine:
            assert os.path.isdir(held)  # a live run's folder is never removed
            assert sorted(os.listdir(parent)) == sorted(os.path.basename(p) for p in
                                                        (held, mine, other_kind, user_folder, remote))
    finally:
        live.kill()
        live.wait()
    assert io.remove_dead_temp_dirs(parent, 'saved_model') == [held]  # killed (SIGKILL): removed next time
    os.close(remote_fd)
    assert io.remove_dead_temp_dirs(parent, 'saved_model') == [remote]
    assert sorted(os.listdir(parent)) == sorted(os.path.basename(p) for p in (other_kind, user_folder))


def test_a_demo_stage_ended_by_ctrl_c_stops_the_demo_as_interrupted(monkeypatch):
    import demo
    for code in (130, -signal.SIGINT):
        monkeypatch.setattr(demo.subprocess, 'call', lambda *args, **kwargs: code)
        with pytest.raises(KeyboardInterrupt):
            demo.run_script('pruned_train.py')
    monkeypatch.setattr(demo.subprocess, 'call', lambda *args, **kwargs: 2)
    with pytest.raises(UserError, match='demo stage failed: python pruned_train.py'):
        demo.run_script('pruned_train.py')
