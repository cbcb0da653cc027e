"""Kill `python pruned_train.py` mid-epoch with SIGKILL, re-run it: it resumes at the newest checkpoint's global
step with that step's learning rate, and finishes the planned number of steps."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import tf
from lib import checkpoint
from lib.train import checkpoints
from lib.train.schedule import learning_rate_at
from tests.train_helpers import ROOT, tiny_overrides, write_config_file, write_tiny_dataset

BOUNDARIES, VALUES = [3, 12], [0.001, 0.002, 0.0005]
STEPS_PER_EPOCH = 8


def _start(config_path):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, 'pruned_train.py'), '--config=' + config_path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)


def _wait_for_rolling_step(model_path, minimum, process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            prefix = checkpoints.newest_checkpoint(model_path)[0] if os.path.isdir(model_path) else None
            if prefix and checkpoint.global_step(prefix) >= minimum:
                return
        except tf.errors.NotFoundError:
            pass  # the running training rotated that rolling checkpoint away between listing and reading it
        time.sleep(0.02)
    raise AssertionError('no rolling checkpoint at step >= %d; output:\n%s'
                         % (minimum, process.stdout.read().decode() if process.poll() is not None else ''))


def test_killed_training_resumes_with_step_and_lr(tmp_path):
    root = str(tmp_path)
    overrides = tiny_overrides(root, write_tiny_dataset(root, 2 * STEPS_PER_EPOCH, name='train'),
                               write_tiny_dataset(root, 2, seed=1, name='val'),
                               TRAIN__rolling_checkpoint_secs=0, TRAIN__lr_value_every_step=VALUES,
                               TRAIN__lr_decay_every_step=BOUNDARIES, TRAIN__log_interval=100)
    config_path = write_config_file(os.path.join(root, 'config.py'), overrides)
    model_path = overrides[('MODEL', 'model_path')]

    process = _start(config_path)
    try:
        _wait_for_rolling_step(model_path, 4, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    prefix, step = checkpoints.newest_checkpoint(model_path)
    assert step >= 4 and '/rolling/' in prefix
    if step >= STEPS_PER_EPOCH:
        pytest.skip('the kill landed after the first epoch (step %d); machine too slow for this timing' % step)

    output = subprocess.run([sys.executable, os.path.join(ROOT, 'pruned_train.py'), '--config=' + config_path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT).stdout.decode()
    resumed = re.search(r'resumed from (\S+) at global step (\d+) \((\d+) epochs done\), learning rate (\S+)', output)
    assert resumed, output
    assert resumed.group(1) == prefix and int(resumed.group(2)) == step and resumed.group(3) == '0'
    assert float(resumed.group(4)) == learning_rate_at(step, BOUNDARIES, VALUES)
    for epoch in (1, 2):
        assert checkpoint.global_step(os.path.join(model_path, 'epoch_%d.ckpt' % epoch)) \
            == epoch * STEPS_PER_EPOCH
