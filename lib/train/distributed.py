"""Multi-worker training on TensorFlow's own distributed runtime, configured by ``TF_CONFIG``.

``TF_CONFIG`` is the JSON every TF launcher sets (Kubeflow TFJob, SageMaker, Vertex):
``{"cluster": {"chief": [...], "worker": [...], "ps": [...]}, "task": {"type": "worker", "index": 1}}``.
Between-graph replication: each training task (the chief, if listed, then the workers) builds the whole graph with
the variables on the parameter servers (``replica_device_setter``) and trains its own disjoint shard of each
epoch's order. ``SyncReplicasOptimizer`` averages one gradient per replica per step; it is used rather than a
collective all-reduce because it is public graph-mode API in both TF 1.15 and TF 2.x (graph-mode collectives are
private ops whose attributes differ between the two). With no initial tokens, each replica's step returns only
after the chief applied the step's mean gradient, so each step takes exactly one gradient from every replica.

The chief (the 'chief' task, else worker 0) initialises or restores the variables, runs the update thread, and
alone writes checkpoints, summaries and validates. A watchdog thread in every task beats a counter on the ps
and stops the process with one line when another task's counter stands still for TRAIN.worker_timeout_secs
(SyncReplicasOptimizer would wait for a dead replica forever).
"""
import collections
import contextlib
import json
import logging
import os
import sys
import threading
import time

import tensorflow.compat.v1 as tf

from lib.common.errors import UserError

log = logging.getLogger(__name__)

TRAINING_JOBS = ('chief', 'worker')
JOBS = TRAINING_JOBS + ('ps',)
WATCHDOG_EXIT_CODE = 3
STARTUP_FACTOR = 10  # a task that never beat gets this many timeouts (imports, graph building)
PS_PATIENCE = 2  # the ps waits longer than the replicas, so they stop (and say why) while it still answers

Task = collections.namedtuple('Task', 'cluster job index')
Task.__doc__ = """cluster: {job: [host:port, ...]}; job, index: this process's task."""


def parse_tf_config(text):
    """The Task of a TF_CONFIG string; one-line UserError on anything this trainer cannot run."""
    try:
        spec = json.loads(text)
        cluster, task = spec['cluster'], spec['task']
        job, index = task['type'], int(task.get('index', 0))
    except (ValueError, KeyError, TypeError) as err:
        raise UserError('TF_CONFIG: expected {"cluster": {...}, "task": {"type": ..., "index": ...}} (%s)' % err)
    unknown = sorted(set(cluster) - set(JOBS))
    if unknown or job not in JOBS:
        raise UserError('TF_CONFIG: jobs %s, task type %r: expected jobs among %s' % (sorted(cluster), job, JOBS))
    if not cluster.get('ps') or not any(cluster.get(name) for name in TRAINING_JOBS):
        raise UserError('TF_CONFIG: cluster %s needs a "ps" job and a "chief" or "worker" job' % sorted(cluster))
    if len(cluster.get('chief', [])) > 1:
        raise UserError('TF_CONFIG: %d chiefs listed: expected one' % len(cluster['chief']))
    if not 0 <= index < len(cluster.get(job, [])):
        raise UserError('TF_CONFIG: task %s:%d is not in the cluster (%d %s tasks)'
                        % (job, index, len(cluster.get(job, [])), job))
    return Task({name: list(hosts) for name, hosts in cluster.items() if hosts}, job, index)


def task_from_environment(environ=None):
    """The Task of $TF_CONFIG, or None when it is unset or names no cluster (single-process training)."""
    text = (os.environ if environ is None else environ).get('TF_CONFIG', '').strip()
    if not text or not json.loads(text).get('cluster'):
        return None
    return parse_tf_config(text)


def replicas(cluster):
    """The training tasks in replica order: the chief (if any), then the workers, as (job, index)."""
    return [(job, i) for job in TRAINING_JOBS for i in range(len(cluster.get(job, [])))]


def task_name(cluster, job, index):
    return '%s %d (%s)' % (job, index, cluster[job][index])


def start_server(task):
    """This task's gRPC server."""
    return tf.train.Server(tf.train.ClusterSpec(task.cluster), job_name=task.job, task_index=task.index,
                           start=True)


class ClusterState(object):
    """Variables on /job:ps/task:0 outside every collection (never saved; the chief initialises them): a heartbeat
    counter and a finished flag per replica, and whether the chief has initialised the model. The ps builds the
    same variables in its own graph and so watches the replicas too."""

    def __init__(self, count):
        with tf.device(None), tf.device('/job:ps/task:0'), tf.variable_scope('cluster'):
            self.beats = tf.Variable(tf.zeros([count], tf.int64), trainable=False, collections=[], name='beats')
            self.finished = tf.Variable(tf.zeros([count], tf.bool), trainable=False, collections=[],
                                        name='finished')
            self.ready = tf.Variable(False, trainable=False, collections=[], name='ready')
            self.initializer = tf.group(self.beats.initializer, self.finished.initializer, self.ready.initializer)
            self.set_ready = tf.assign(self.ready, True)
            self.index = tf.placeholder(tf.int32, [], name='replica_index')
            self.beat = tf.scatter_add(self.beats, [self.index], tf.ones([1], tf.int64))
            self.finish = tf.scatter_update(self.finished, [self.index], [True])


def _run_options(seconds):
    return tf.RunOptions(timeout_in_ms=int(seconds * 1000))


def _fail(message):
    """One line, then end the process: the main thread may be blocked in a step that never completes."""
    sys.stderr.write('error: %s\n' % message)
    sys.stderr.flush()
    logging.shutdown()
    os._exit(WATCHDOG_EXIT_CODE)


def wait_until_ready(session, state, timeout_secs, who, chief):
    """Poll until the chief has initialised the variables (ps not up yet, uninitialised: keep waiting); a
    UserError after ``timeout_secs`` (None: wait as long as it takes)."""
    deadline = None if timeout_secs is None else time.time() + timeout_secs
    while deadline is None or time.time() < deadline:
        try:
            if session.run(state.ready, options=_run_options(10)):
                return
        except (tf.errors.FailedPreconditionError, tf.errors.UnavailableError, tf.errors.DeadlineExceededError):
            pass
        time.sleep(0.2)
    raise UserError('%s: the chief %s did not initialise the variables within %d s; start it, or raise '
                    'config.TRAIN.worker_timeout_secs' % (who, chief, timeout_secs))


def watch(session, state, names, timeout_secs, who, own_index=None, stopping=None, patience=1.):
    """Beat ``own_index`` (None: the ps only watches) about once a second; end the process with one line when a
    replica that has not finished shows no beat for ``patience x timeout_secs`` (STARTUP_FACTOR times that before
    its first beat) or the ps does not answer within ``timeout_secs``. Returns when every replica finished or
    ``stopping`` is set."""
    stopping = stopping or threading.Event()
    interval = min(1., timeout_secs / 5.)
    last_values, last_change = None, [time.time()] * len(names)
    while not stopping.wait(interval):
        fetches = [state.beats, state.finished] + ([state.beat] if own_index is not None else [])
        try:
            started = time.time()
            values, finished = session.run(fetches, {state.index: own_index or 0},
                                           options=_run_options(timeout_secs))[:2]
            log.debug('%s: beats %s after %.2f s', who, values, time.time() - started)
        except tf.errors.OpError as err:
            if stopping.is_set():
                return
            _fail('the parameter server did not answer within %d s (%s: %s): stopping %s'
                  % (timeout_secs, type(err).__name__, ' '.join(err.message.split())[:300], who))
        if finished.all():
            return
        now = time.time()
        for i, value in enumerate(values):
            if last_values is None or value != last_values[i]:
                last_change[i] = now
        last_values = list(values)
        for i, changed in enumerate(last_change):
            allowed = timeout_secs * patience * (STARTUP_FACTOR if values[i] == 0 else 1)
            if i != own_index and not finished[i] and now - changed > allowed:
                _fail('%s sent no heartbeat for %d s (it died or hangs): stopping %s' % (names[i], now - changed, who))


def run_parameter_server(task, timeout_secs):
    """Serve the variables; once the chief initialised them, watch the replicas and stop when all finished
    (or with one line when one dies)."""
    server = start_server(task)
    who = task_name(task.cluster, task.job, task.index)
    names = [task_name(task.cluster, job, i) for job, i in replicas(task.cluster)]
    log.info('parameter server %s serving', who)
    with tf.Graph().as_default():
        state = ClusterState(len(names))
        config = tf.ConfigProto(device_filters=['/job:ps'])
        with tf.Session(server.target, config=config) as session:
            wait_until_ready(session, state, None, who, names[0])
            watch(session, state, names, timeout_secs, who, patience=PS_PATIENCE)
    log.info('all %d replicas finished: %s stops', len(names), who)


class LocalReplica(object):
    """One process, no cluster: every hook is the plain single-process behaviour."""
    is_chief = True
    shard = (0, 1)
    target = ''

    def device_scope(self):
        return contextlib.nullcontext()

    def wrap_optimizer(self, optimizer):
        return optimizer

    def session_config(self):
        return tf.ConfigProto(allow_soft_placement=True)

    def start(self, session, initialise, remaining_steps):
        initialise()

    def stop(self):
        pass


class ClusterReplica(object):
    """One training task of a TF_CONFIG cluster; see the module docstring."""

    def __init__(self, task, timeout_secs, server=None):
        if task.job not in TRAINING_JOBS:
            raise ValueError('a %s task does not train' % task.job)
        self.task = task
        self.replicas = replicas(task.cluster)
        self.index = self.replicas.index((task.job, task.index))
        self.is_chief = self.index == 0
        self.shard = (self.index, len(self.replicas))
        self.timeout_secs = float(timeout_secs)
        self.server = server or start_server(task)
        self.target = self.server.target
        self.device = '/job:%s/task:%d' % (task.job, task.index)
        self.sync_optimizer = None
        self._threads = []
        self._stopping = threading.Event()

    def name(self, index):
        job, task = self.replicas[index]
        return task_name(self.task.cluster, job, task)

    def device_scope(self):
        """Variables on the ps (round robin), everything else on this task; also the watchdog's variables."""
        return tf.device(tf.train.replica_device_setter(worker_device=self.device,
                                                        cluster=tf.train.ClusterSpec(self.task.cluster)))

    def wrap_optimizer(self, optimizer):
        """SyncReplicasOptimizer over all replicas; built inside device_scope, with the watchdog variables."""
        count = len(self.replicas)
        self.sync_optimizer = tf.train.SyncReplicasOptimizer(optimizer, replicas_to_aggregate=count,
                                                             total_num_replicas=count)
        return self.sync_optimizer

    def session_config(self):
        """Talk to the ps and this task only, so a replica does not wait for the others to start."""
        return tf.ConfigProto(allow_soft_placement=True, device_filters=['/job:ps', self.device])

    def start(self, session, initialise, remaining_steps):
        """Chief: ``initialise()`` (init or restore), then the sync state, the update thread (``remaining_steps()``
        aggregated steps: what this run's replicas will step, read after the restore), ready. Others: wait for
        ready, then take the global step as local step. Both then start the watchdog."""
        opt, who = self.sync_optimizer, self.name(self.index)
        unused = getattr(opt, 'ready_for_local_init_op', None)  # built by apply_gradients for MonitoredSession
        if hasattr(unused, 'mark_used'):
            unused.mark_used()  # else TF logs a page about a tensor never used at exit
        with tf.Graph().as_default() as graph:  # the watchdog's own graph and session: never queued behind a step
            state = self.state = ClusterState(len(self.replicas))
        self._watch_session = tf.Session(self.target, graph=graph, config=self.session_config())
        if self.is_chief:
            self._watch_session.run(state.initializer)
            initialise()
            session.run(tf.local_variables_initializer())
            session.run(opt.chief_init_op)
            sync_op = opt.get_chief_queue_runner().enqueue_ops[0]
            updates = remaining_steps()
            self._spawn('sync-updates', self._apply_updates, session, sync_op, updates)
            self._watch_session.run(state.set_ready)
        else:
            wait_until_ready(self._watch_session, state, STARTUP_FACTOR * self.timeout_secs, who, self.name(0))
            session.run(tf.local_variables_initializer())
            session.run(opt.local_step_init_op)
        log.info('%s is replica %d of %d%s', who, self.index, len(self.replicas), ' (chief)' if self.is_chief else '')
        names = [self.name(i) for i in range(len(self.replicas))]
        self._spawn('watchdog', watch, self._watch_session, state, names, self.timeout_secs, who, self.index,
                    self._stopping)

    def stop(self):
        """Mark this replica finished (the ps stops when all are) and end its threads."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(self.timeout_secs)
        if getattr(self, '_watch_session', None) is not None:
            self._watch_session.run(self.state.finish, {self.state.index: self.index},
                                    options=_run_options(self.timeout_secs))
            self._watch_session.close()

    def _spawn(self, name, target, *args):
        thread = threading.Thread(target=target, args=args, name=name)
        thread.daemon = True
        thread.start()
        self._threads.append(thread)

    def _apply_updates(self, session, sync_op, count):
        """Chief thread: apply ``count`` aggregated steps (the remaining steps of the training), then end."""
        for _ in range(count):
            if self._stopping.is_set():
                return
            try:
                session.run(sync_op)
            except tf.errors.OpError as err:  # the ps is gone: the watchdog says so and ends the process
                log.debug('update thread ends: %s', err)
                return


def replica_from_environment(config, environ=None):
    """ClusterReplica for a chief/worker task of $TF_CONFIG, LocalReplica without one. A ps task is an error
    here: pruned_train.py serves it with run_parameter_server."""
    task = task_from_environment(environ)
    if task is None:
        return LocalReplica()
    if task.job == 'ps':
        raise UserError('TF_CONFIG names a ps task: run it with pruned_train.py, which serves the variables')
    return ClusterReplica(task, config.TRAIN.worker_timeout_secs)
