"""A TF_CONFIG cluster on 127.0.0.1 (1 ps + 2 workers, worker 0 is the chief) running pruned_train.py: synchronous
steps equal one process applying the mean of the two workers' gradients; the workers' samples are disjoint and
cover each epoch; a killed worker stops the other tasks within the timeout with one line naming it; restarting
all resumes from the chief's checkpoint and the ps stops by itself when the replicas are done."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import tf, zip_same
from lib import checkpoint
from lib.common.errors import UserError
from lib.config import dense_architecture
from lib.model.arch import PRUNABLE_LAYERS
from lib.train import distributed
from lib.train.graph import build_train_graph
from lib.train.checkpoints import TrainState
from lib.train.trainer import _make_loaders, _remaining_steps
from lib.anchors.generator import anchor_spec_from_config
from lib.config import validate_config
from tests.train_helpers import ROOT, make_config, tiny_overrides, write_config_file, write_tiny_dataset

TIMEOUT_S = 20  # config.TRAIN.worker_timeout_secs of the cluster
LR = 0.001


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Cluster(object):
    """ps 0, worker 0 (the chief) and worker 1 as pruned_train.py subprocesses with their output in files."""

    def __init__(self, root, config_path, name):
        ps, w0, w1 = ['127.0.0.1:%d' % p for p in _free_ports(3)]
        self.cluster = {'ps': [ps], 'worker': [w0, w1]}
        self.tasks = [('ps', 0), ('worker', 0), ('worker', 1)]
        self.logs = [os.path.join(root, '%s_%s%d.log' % (name, job, i)) for job, i in self.tasks]
        self.processes = []
        for (job, index), log_path in zip_same(self.tasks, self.logs):
            env = dict(os.environ, TF_CONFIG=json.dumps({'cluster': self.cluster,
                                                         'task': {'type': job, 'index': index}}))
            with open(log_path, 'wb') as out:
                self.processes.append(subprocess.Popen(
                    [sys.executable, os.path.join(ROOT, 'pruned_train.py'), '--config=' + config_path, '--debug'],
                    stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env))

    def output(self, k):
        with open(self.logs[k]) as f:
            return f.read()

    def wait(self, timeout):
        """Exit codes of all tasks; fails with their output when one runs past ``timeout`` seconds."""
        deadline = time.time() + timeout
        for k, process in enumerate(self.processes):
            try:
                process.wait(max(1., deadline - time.time()))
            except subprocess.TimeoutExpired:
                raise AssertionError('task %s:%d still runs after %d s; outputs:\n%s'
                                     % (self.tasks[k] + (timeout, self.outputs())))
        return [p.returncode for p in self.processes]

    def outputs(self):
        return '\n'.join('--- %s:%d\n%s' % (task + (self.output(k)[-3000:],)) for k, task in enumerate(self.tasks))

    def kill(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def setup(tmp_path):
    root = str(tmp_path)
    train_txt = write_tiny_dataset(root, 4, name='train')  # 2 workers x batch 2: one step per epoch
    val_txt = write_tiny_dataset(root, 2, seed=1, name='val')
    overrides = tiny_overrides(root, train_txt, val_txt, MODEL__width_mult=0.0625, TRAIN__gradient_clip=0.,
                               TRAIN__lr_value_every_step=[LR, LR], TRAIN__worker_timeout_secs=TIMEOUT_S,
                               MODEL__max_to_keep=1000, TRAIN__log_interval=100)
    config = make_config(overrides)
    pretrained = os.path.join(root, 'init', 'init.ckpt')
    checkpoint.write_checkpoint(checkpoint.random_model_values(dense_architecture(config), seed=3), pretrained)
    checkpoint.save_arch(pretrained, dense_architecture(config))  # this project's checkpoint, not the original's
    overrides[('MODEL', 'pretrained_model')] = pretrained
    return root, overrides, make_config(overrides)


def _trained_paths(output):
    """{global step: [sample paths]} from a worker's --debug log."""
    return {int(step): paths.split() for step, paths in re.findall(r'step (\d+) trains (.*)', output)}


def _expected_after_one_step(config):
    """Model variables after one momentum step on the mean of the two shards' gradients, in one process."""
    arch = dense_architecture(config)
    arch = arch.with_normalisation(*arch.normalisation(config.DATA.PIXEL_MEAN, config.DATA.PIXEL_STD))  # as train()
    ratios = validate_config(config, PRUNABLE_LAYERS)
    values = checkpoint.read_checkpoint(config.MODEL.pretrained_model)
    grads, batches = [], []
    for shard in range(2):
        loader, _, anchors_per_shot = _make_loaders(config, arch, anchor_spec_from_config(config.ANCHOR), (shard, 2))
        with loader:
            batches.append(next(iter(loader.epoch(0))))
    with tf.Graph().as_default():
        graph = build_train_graph(config, arch, ratios, anchors_per_shot, [None])
        variables = graph.model_variables
        gradients = tf.gradients(graph.losses['total_loss'], variables)
        with tf.Session() as session:
            for variable in variables:
                variable.load(values[checkpoint.variable_name(variable)], session)
            for batch in batches:
                grads.append(session.run(gradients, {p: batch[name] for name, p in graph.inputs.items()}))
    expected = {}
    for k, variable in enumerate(variables):
        name = checkpoint.variable_name(variable)
        expected[name] = values[name] - LR * (grads[0][k] + grads[1][k]) / 2.
    return expected, [b['paths'] for b in batches]


def test_cluster_sync_steps_shards_watchdog_and_resume(setup):
    root, overrides, config = setup
    model_path = config.MODEL.model_path
    overrides[('TRAIN', 'epoch')] = 1000  # runs until a worker is killed
    cluster = Cluster(root, write_config_file(os.path.join(root, 'long.py'), overrides), 'long')
    try:
        deadline = time.time() + 600
        while not os.path.exists(os.path.join(model_path, 'epoch_3.ckpt.index')):
            assert time.time() < deadline and all(p.poll() is None for p in cluster.processes), cluster.outputs()
            time.sleep(0.2)
        cluster.processes[2].send_signal(signal.SIGKILL)
        killed = time.time()
        cluster.processes[1].wait(TIMEOUT_S + 30)
        chief_stopped = time.time() - killed
        codes = cluster.wait(distributed.PS_PATIENCE * TIMEOUT_S + 30)
        ps_stopped = time.time() - killed
    finally:
        cluster.kill()
    # the others stop within the bound (the ps, more patient, after the chief), each with one line naming the
    # dead worker
    assert codes[:2] == [distributed.WATCHDOG_EXIT_CODE] * 2, cluster.outputs()
    assert chief_stopped < TIMEOUT_S + 25 and ps_stopped < distributed.PS_PATIENCE * TIMEOUT_S + 25, \
        (chief_stopped, ps_stopped)
    dead = 'worker 1 (%s)' % cluster.cluster['worker'][1]
    for k, who in ((0, 'ps 0'), (1, 'worker 0')):
        errors = [line for line in cluster.output(k).splitlines() if line.startswith('error:')]
        assert len(errors) == 1 and dead + ' sent no heartbeat' in errors[0] and 'stopping ' + who in errors[0], \
            cluster.outputs()

    # one step per epoch: epoch_e.ckpt holds global step e; the first equals the single-process mean-gradient step
    for epoch in (1, 2, 3):
        assert checkpoint.global_step(os.path.join(model_path, 'epoch_%d.ckpt' % epoch)) == epoch
    expected, shard_paths = _expected_after_one_step(config)
    trained = checkpoint.read_checkpoint(os.path.join(model_path, 'epoch_1.ckpt'))
    for name, value in expected.items():
        np.testing.assert_allclose(trained[name], value, rtol=0, atol=1e-5, err_msg=name)
    assert any(np.abs(trained[name] - checkpoint.read_checkpoint(config.MODEL.pretrained_model)[name]).max() > 1e-4
               for name in expected)  # the step did move the weights
    # each epoch: the two workers trained disjoint halves that together cover the 4 samples
    logged = [_trained_paths(cluster.output(k)) for k in (1, 2)]
    assert [logged[0][0], logged[1][0]] == shard_paths
    all_paths = sorted(path for path, _ in (line.split('|') for line in open(config.DATA.train_txt_path)))
    for step in (0, 1, 2):
        assert not set(logged[0][step]) & set(logged[1][step])
        assert sorted(logged[0][step] + logged[1][step]) == all_paths

    # restart the whole cluster: it resumes from the chief's newest checkpoint and every task ends by itself. Until
    # the watchdog stopped it, the chief may have stepped alone (SyncReplicasOptimizer aggregates any two gradients,
    # two of its own too), so the newest checkpoint's epoch and global step are read, not assumed equal.
    newest = tf.train.latest_checkpoint(model_path)
    done, epochs = checkpoint.global_step(newest), int(re.search(r'epoch_(\d+)\.ckpt$', newest).group(1))
    overrides[('TRAIN', 'epoch')] = epochs + 2
    cluster = Cluster(root, write_config_file(os.path.join(root, 'resume.py'), overrides), 'resume')
    try:
        codes = cluster.wait(600)
    finally:
        cluster.kill()
    assert codes == [0, 0, 0], cluster.outputs()
    assert re.search(r'resumed from %s at global step %d ' % (re.escape(newest), done), cluster.output(1)), \
        cluster.outputs()
    resumed = tf.train.latest_checkpoint(model_path)
    assert resumed.endswith('epoch_%d.ckpt' % (epochs + 2)) and checkpoint.global_step(resumed) == done + 2
    assert 'worker done at global step %d' % (done + 2) in cluster.output(2)


def test_tf_config_parsing():
    task = distributed.parse_tf_config(json.dumps({'cluster': {'chief': ['a:1'], 'worker': ['b:1', 'c:1'],
                                                               'ps': ['d:1']}, 'task': {'type': 'worker', 'index': 1}}))
    assert distributed.replicas(task.cluster) == [('chief', 0), ('worker', 0), ('worker', 1)]
    assert distributed.task_from_environment({}) is None
    assert distributed.task_from_environment({'TF_CONFIG': '{"task": {}}'}) is None
    for bad in ('{', '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker"}}',
                '{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": "worker", "index": 1}}',
                '{"cluster": {"evaluator": ["a:1"], "ps": ["b:1"]}, "task": {"type": "evaluator"}}'):
        with pytest.raises(UserError, match='TF_CONFIG'):
            distributed.parse_tf_config(bad)


@pytest.mark.parametrize('epochs, steps_per_epoch, done, epoch_start_step, global_step, remaining', [
    (86, 1, 84, 90, 44, 2),  # a chief that stepped alone: the global step lags the epochs
    (5, 4, 3, 6, 8, 6),      # two of the 4 steps of epoch 4 done, then epoch 5
    (5, 4, 5, 20, 20, 0),    # finished
])
def test_the_update_thread_applies_the_steps_the_replicas_will_run(epochs, steps_per_epoch, done, epoch_start_step,
                                                                   global_step, remaining):
    """The chief's update thread gets the steps this run will take, read from the restored state: counted from the
    global step, a resumed cluster whose chief had stepped alone waited on updates that never came (CI: the chief
    blocked until its session closed, then aborted at exit)."""
    with tf.Graph().as_default():
        graph = type('Graph', (), {'state': TrainState(), 'global_step': tf.train.get_or_create_global_step()})
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            graph.state.write(session, done, epoch_start_step, 1.)
            graph.global_step.load(global_step, session)
            assert _remaining_steps(session, graph, epochs, steps_per_epoch) == remaining
