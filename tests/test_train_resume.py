"""Crash consistency of training: a real `pruned_train.py` kills itself with SIGKILL at chosen points (the test-only
fault hook of lib.train.faults: inside a step, inside an epoch save, an optimized save, a rolling save) and is re-run
after each kill. The resumed runs together must train exactly the (step, samples) sequence of an uninterrupted run,
end at the same global step with the same checkpoint files (no orphans, the optimized set complete), restore the
learning rate and optimizer slots of the checkpoint they resume from, and keep the best checkpoint the lowest val
loss. Also: optimized/ holds exactly the new-best checkpoints (max_to_keep of them); a corrupt newest checkpoint is
skipped with a warning."""
import logging
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import tf, zip_same
from lib.common.errors import UserError
from lib.train import checkpoints
from lib.train.faults import FAULT_ENV, TRACE_ENV, slots_digest
from lib.train.schedule import learning_rate_at
from lib.train.trainer import train
from tests.train_helpers import ROOT, make_config, tiny_overrides, write_config_file, write_tiny_dataset

BOUNDARIES, VALUES = [3, 7], [0.001, 0.002, 0.0005]
EPOCHS, STEPS_PER_EPOCH, MAX_TO_KEEP = 2, 4, 2
# In the order a training meets them; the run after the last one finishes the training.
FAULTS = ['save:optimized:1', 'step:6', 'save:rolling:7', 'save:epoch:2']


def _overrides(root, name):
    return tiny_overrides(os.path.join(root, name), os.path.join(root, 'train.txt'), os.path.join(root, 'val.txt'),
                          MODEL__width_mult=0.0625, MODEL__max_to_keep=MAX_TO_KEEP, TRAIN__epoch=EPOCHS,
                          TRAIN__rolling_checkpoint_secs=0, TRAIN__lr_value_every_step=VALUES,
                          TRAIN__lr_decay_every_step=BOUNDARIES, TRAIN__log_interval=100)


def _read_trace(path):
    """([(global step, (paths))], [(start step, lr, slots digest)]) of one run's trace file."""
    steps, starts = [], []
    with open(path) as f:
        for line in f:
            fields = line.rstrip('\n').split('\t')
            if fields[0] == 'start':
                starts.append((int(fields[1]), float(fields[2]), fields[3]))
            else:
                steps.append((int(fields[0]), tuple(fields[1:])))
    return steps, starts


def _checkpoint_digest(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return slots_digest({name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()})


def _files(model_path):
    """Every file under model_path but the TensorBoard event files (one per run)."""
    found = set()
    for folder, _, names in os.walk(model_path):
        for name in names:
            if not name.startswith('events.out.tfevents'):
                found.add(os.path.relpath(os.path.join(folder, name), model_path))
    return found


def _expected_optimized(val_losses):
    """Names of the optimized checkpoints for per-epoch val losses: each new best, the newest MAX_TO_KEEP."""
    best, names = float('inf'), []
    for epoch, loss in enumerate(val_losses, 1):
        if loss < best:
            best = loss
            names.append('epoch_%d_val_loss_%.3f.ckpt' % (epoch, loss))
    return names[-MAX_TO_KEEP:]


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """The uninterrupted run (in this process) and the killed-and-resumed one (subprocesses)."""
    root = str(tmp_path_factory.mktemp('resume'))
    write_tiny_dataset(root, 2 * STEPS_PER_EPOCH, name='train')
    write_tiny_dataset(root, 2, seed=1, name='val')
    trace = os.path.join(root, 'uninterrupted.trace')
    os.environ[TRACE_ENV] = trace
    try:
        summary = train(make_config(_overrides(root, 'uninterrupted')))
    finally:
        del os.environ[TRACE_ENV]
    config_path = write_config_file(os.path.join(root, 'config.py'), _overrides(root, 'killed'))
    killed = []
    for index, fault in enumerate(FAULTS + [None]):
        env = dict(os.environ, **{TRACE_ENV: os.path.join(root, 'killed.%d.trace' % index)})
        env.pop(FAULT_ENV, None)
        if fault:
            env[FAULT_ENV] = fault
        run = subprocess.run([sys.executable, os.path.join(ROOT, 'pruned_train.py'), '--config=' + config_path],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, cwd=ROOT,
                             env=env, timeout=600)
        # what the next run must resume from, read now: later runs rotate it away
        prefix = checkpoints.newest_checkpoint(os.path.join(root, 'killed', 'model'))[0]
        killed.append((fault, run.returncode, run.stdout, env[TRACE_ENV], prefix, _checkpoint_digest(prefix)))
    return root, summary, trace, killed


def test_every_fault_kills_and_the_resumed_runs_equal_an_uninterrupted_one(runs):
    root, summary, trace, killed = runs
    survived = 0
    for fault, returncode, output, _, _, _ in killed:
        expected = -signal.SIGKILL if fault else 0
        assert returncode == expected, 'fault %s: exit %s, expected %s\n%s' % (fault, returncode, expected, output)
        survived += fault is not None
    # the (step, samples) whose updates are in the final model: each run's steps up to where the next resumed
    reference, _ = _read_trace(trace)
    traces = [_read_trace(run[3]) for run in killed]
    starts = [t[1][0][0] for t in traces] + [None]
    trained = []
    for (steps, _), begin, end in zip_same(traces, starts[:-1], starts[1:]):
        trained += [(step, paths) for step, paths in steps if step > begin and (end is None or step <= end)]
    assert trained == reference
    assert len(reference) == EPOCHS * STEPS_PER_EPOCH == summary['global_step']
    assert starts[:-1] == [0, 4, 5, 6, 8]  # epoch 1 done; rolling 5 (killed in step 6); rolling 6; rolling 8
    model_path = os.path.join(root, 'killed', 'model')
    assert checkpoints.newest_checkpoint(model_path)[1] == EPOCHS * STEPS_PER_EPOCH
    # the same files as the uninterrupted run: no orphans, no journal, the optimized set completed
    assert _files(model_path) == _files(os.path.join(root, 'uninterrupted', 'model'))
    print('faults survived %d/%d' % (survived, len(FAULTS)))


def test_resume_restores_the_learning_rate_and_optimizer_slots(runs):
    root, _, _, killed = runs
    for (fault, _, _, _, prefix, saved), (_, _, output, trace, _, _) in zip_same(killed[:-1], killed[1:]):
        start_step, lr, digest = _read_trace(trace)[1][0]
        resumed = re.search(r'resumed from (\S+) at global step (\d+)', output)
        assert resumed and resumed.group(1) == prefix and int(resumed.group(2)) == start_step, output
        assert lr == float(np.float32(learning_rate_at(start_step, BOUNDARIES, VALUES)))  # read from the graph
        assert digest == saved, 'the optimizer slots restored after %s differ from the killed run\'s' % fault
    assert 'completed the checkpoint set of epoch 1' in killed[1][2]
    assert 'rolled back the checkpoint set of epoch 2' in killed[4][2]


def test_best_checkpoint_is_the_lowest_val_loss_and_optimized_holds_exactly_the_new_bests(runs):
    root, summary, _, killed = runs
    losses = [epoch['val_loss'] for epoch in summary['epochs']]
    optimized = os.path.join(root, 'uninterrupted', 'model', checkpoints.OPTIMIZED_DIR)
    expected = _expected_optimized(losses)
    assert sorted(os.listdir(optimized)) == sorted(
        ['checkpoint'] + [name + suffix for name in expected
                          for suffix in ('.index', '.data-00000-of-00001', '.arch.json')])
    assert summary['best_checkpoint'] == os.path.join(optimized, expected[-1])
    assert abs(summary['best_val_loss'] - min(losses)) < 1e-6
    # the killed run: its logged val losses (the last logged per epoch) name its best checkpoint
    logged = {}
    for output in [run[2] for run in killed]:
        for epoch, loss in re.findall(r'epoch (\d+): val loss \S+ \((\S+)\)', output):
            logged[int(epoch)] = float(loss)
    best = _expected_optimized([logged[e] for e in range(1, EPOCHS + 1)])[-1]
    folder = os.path.join(root, 'killed', 'model', checkpoints.OPTIMIZED_DIR)
    assert checkpoints.listed_checkpoints(folder)[-1] == os.path.join(folder, best)


def test_corrupt_newest_checkpoint_is_skipped_with_a_warning(runs, tmp_path, caplog):
    model_path = str(tmp_path / 'copy')
    shutil.copytree(os.path.join(runs[0], 'uninterrupted', 'model'), model_path)
    newest = os.path.join(model_path, 'epoch_%d.ckpt' % EPOCHS)
    data = newest + '.data-00000-of-00001'
    with open(data, 'r+b') as f:
        f.truncate(os.path.getsize(data) // 2)
    with caplog.at_level(logging.WARNING):
        prefix, step = checkpoints.newest_checkpoint(model_path)
    assert (prefix, step) == (os.path.join(model_path, 'rolling', 'step.ckpt-%d' % step), EPOCHS * STEPS_PER_EPOCH)
    assert any(newest in record.getMessage() and 'skipping unreadable' in record.getMessage()
               for record in caplog.records)
    with open(prefix + '.index', 'wb') as f:
        f.write(b'garbage')
    assert checkpoints.newest_checkpoint(model_path)[0] == os.path.join(model_path, 'epoch_%d.ckpt' % (EPOCHS - 1))
    for prefix in checkpoints.listed_checkpoints(model_path):
        os.remove(prefix + '.index')
    with pytest.raises(UserError, match='every checkpoint listed under'):
        checkpoints.newest_checkpoint(model_path)
