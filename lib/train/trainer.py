"""The one trainer: standard training (pruned_alpha == 0) and pruning fine-tune (pruned_alpha > 0).

train(config) builds the graph, restores (resume > pretrained model > fresh), then per epoch trains len(loader)
steps, measures the val loss (detection loss only, no augmentation), and saves the epoch checkpoint, the
optimized/ checkpoint on a new best, and rolling checkpoints in between. Any NaN/Inf loss stops it with a UserError.
"""
import contextlib
import functools
import logging
import os
import time

import cv2
import numpy as np
import tensorflow.compat.v1 as tf
from tqdm import tqdm

from lib.anchors.generator import anchor_spec_from_config
from lib.anchors.matcher import AnchorTargetAssigner
from lib.common.image import MAX_IMAGE_PIXELS, is_image_file
from lib.data.loader import BatchLoader, WorkerError
from lib.data.sample_list import read_sample_list
from lib.common.errors import UserError
from lib.checkpoint import variable_name
from lib.config import validate_config
from lib.model.arch import PRUNABLE_LAYERS, Architecture
from lib.train import checkpoints, distributed
from lib.train.claim import Claim, claim_model_path
from lib.train.distill import resolve_teacher, restore_teacher
from lib.train.faults import Hooks, slots_digest
from lib.train.graph import build_train_graph
from lib.train.restore import start_arch
from lib.train.schedule import learning_rate_at
from lib.train.start import choose_start, record_start, restore_pretrained
from lib.train.summaries import scalar_summary
from lib.train.towers import default_devices

log = logging.getLogger(__name__)

LOGGED_LOSSES = ('total_loss', 'cls_loss', 'box_loss', 'weight_decay', 'pruning_loss', 'distill_cls_loss',
                 'distill_box_loss', 'distill_feature_loss')  # those the graph has (distillation with a teacher)


class Throughput(object):
    """Seconds spent waiting for batches vs running steps, and images seen."""

    def __init__(self):
        self.data_seconds = self.compute_seconds = 0.
        self.images = 0

    def images_per_second(self):
        total = self.data_seconds + self.compute_seconds
        return self.images / total if total > 0 else 0.

    def as_dict(self):
        return {'images': self.images, 'data_seconds': self.data_seconds, 'compute_seconds': self.compute_seconds,
                'images_per_second': self.images_per_second()}


class Checkpoints(object):
    """The three checkpoint folders of a run and the newest good checkpoint written or resumed from."""

    def __init__(self, model_path, max_to_keep, arch, hooks=None):
        var_list = tf.global_variables()
        self.model_path = model_path
        folder = functools.partial(checkpoints.CheckpointFolder, var_list=var_list, arch=arch, hooks=hooks)
        self.epochs = folder(model_path, max_to_keep=max_to_keep, kind='epoch')
        self.optimized = folder(os.path.join(model_path, checkpoints.OPTIMIZED_DIR), max_to_keep=max_to_keep,
                                kind='optimized')
        self.rolling = folder(os.path.join(model_path, checkpoints.ROLLING_DIR), max_to_keep=1, kind='rolling')
        self.last_good = None

    def save_epoch(self, session, epoch):
        self.last_good = self.epochs.save(session, checkpoints.epoch_checkpoint_path(self.model_path, epoch),
                                          tag=epoch)
        return self.last_good

    def save_optimized(self, session, epoch, val_loss):
        return self.optimized.save(session, checkpoints.optimized_checkpoint_path(self.model_path, epoch, val_loss),
                                   tag=epoch)

    def save_rolling(self, session, global_step):
        self.last_good = self.rolling.save(session, checkpoints.rolling_checkpoint_prefix(self.model_path),
                                           global_step=global_step, tag=global_step)
        return self.last_good


def _finite_or_stop(values, step, ckpts, what):
    bad = {name: v for name, v in values.items() if not np.isfinite(v)}
    if bad:
        raise UserError('%s is %s at global step %d: training stopped, nothing saved after the last good '
                        'checkpoint %s; lower the learning rate or check the data'
                        % (what, ', '.join('%s=%s' % kv for kv in sorted(bad.items())), step,
                           ckpts.last_good or '(none written yet)'))


def _feed(graph, batch):
    return {placeholder: batch[name] for name, placeholder in graph.inputs.items()}


def _make_loaders(config, arch, spec, shard=(0, 1), max_image_pixels=MAX_IMAGE_PIXELS):
    """Train and val BatchLoaders with anchor targets computed in the workers; also the anchors per shot.
    ``shard``: this replica's (index, count) of the training order in a cluster; an image above
    ``max_image_pixels`` is skipped like an unreadable one."""
    train, data = config.TRAIN, config.DATA
    assigner = AnchorTargetAssigner((data.hin, data.win), spec, arch.shots, config.ANCHOR.positive_iou,
                                    config.ANCHOR.encode_scale)

    def loader(path, training):
        return BatchLoader(read_sample_list(path), train.batch_size, (data.hin, data.win), training,
                           target_fn=assigner, process_num=train.process_num, prefetch_size=train.prefetch_size,
                           seed=data.seed, pixel_mean=arch.pixel_mean, anchor_sizes=config.ANCHOR.sizes,
                           shard=shard if training else (0, 1), max_image_pixels=max_image_pixels)
    anchors_per_shot = {shot: len(anchors) for shot, anchors in assigner.anchors.items()}
    return loader(data.train_txt_path, True), loader(data.val_txt_path, False), anchors_per_shot


def _choose_start(config, model_path):
    """The Start (checkpoint to resume from or None, pretrained model to restore or None, strict): lib.train.start
    decides."""
    return choose_start(config.MODEL, model_path)


def _initialise(session, graph, ckpts, resume, pretrained, config):
    session.run(tf.global_variables_initializer())
    if resume:
        ckpts.epochs.saver.restore(session, resume)
        ckpts.last_good = resume
        step = int(session.run(graph.global_step))
        epoch, _, _ = graph.state.read(session)
        log.info('resumed from %s at global step %d (%d epochs done), learning rate %g', resume, step, epoch,
                 learning_rate_at(step, config.TRAIN.lr_decay_every_step, config.TRAIN.lr_value_every_step))
    elif pretrained:
        restore_pretrained(session, pretrained, graph.model_variables, config.MODEL)
    else:
        log.info('no checkpoint in %s and no pretrained model: training from scratch', ckpts.model_path)


def _validate(session, graph, loader, step, ckpts):
    """Mean detection loss per image over the val set; no readable val image is a UserError (a val loss of 0
    would be saved as the best model for good)."""
    total, images = 0., 0
    for batch in loader.epoch(0):
        count = len(batch['images'])
        total += session.run(graph.val_loss, _feed(graph, batch)) * count
        images += count
    if not images:
        raise UserError('no image of the val list could be read (%d tried, e.g. %s); fix config.DATA.val_txt_path '
                        'or its images (nothing was saved for this epoch)'
                        % (len(loader.samples), loader.samples[0][0]))
    val_loss = total / images
    _finite_or_stop({'val_loss': val_loss}, step, ckpts, 'the val loss')
    return val_loss


class _EpochRunner(object):
    """Runs the training steps of one epoch: feeding, logging, summaries, rolling checkpoints, NaN checks."""

    def __init__(self, session, graph, writer, ckpts, config, hooks, is_chief=True):
        self.session, self.graph, self.writer, self.ckpts, self.hooks = session, graph, writer, ckpts, hooks
        self.is_chief = is_chief  # in a cluster only the chief writes summaries and checkpoints
        self.log_interval = config.TRAIN.log_interval
        self.rolling_secs = config.TRAIN.rolling_checkpoint_secs
        self.last_rolling = time.time()

    def run(self, batches, steps, epoch, num_epochs, first_step):
        throughput = Throughput()
        fetches = {'train': self.graph.train_op, 'lr': self.graph.learning_rate,
                   'losses': {name: self.graph.losses[name] for name in LOGGED_LOSSES if name in self.graph.losses}}
        bar = tqdm(total=steps, desc='epoch %d/%d' % (epoch, num_epochs), unit='step', mininterval=1.)
        with contextlib.closing(bar):
            for step, batch in zip(range(first_step, first_step + steps), self._timed(batches, throughput)):
                log_now = self.is_chief and (step + 1) % self.log_interval == 0
                run = dict(fetches, summary=self.graph.summary) if log_now else fetches
                log.debug('step %d trains %s', step, ' '.join(batch['paths']))
                start = time.time()
                out = self.session.run(run, _feed(self.graph, batch))
                throughput.compute_seconds += time.time() - start
                throughput.images += len(batch['images'])
                self.hooks.record(step + 1, *batch['paths'])
                self.hooks.point('step', step + 1)
                _finite_or_stop(out['losses'], step, self.ckpts, 'the training loss')
                self._report(out, step, epoch, throughput, bar)
        return throughput

    @staticmethod
    def _timed(batches, throughput):
        """Yield the batches, adding the time spent waiting for each to throughput.data_seconds."""
        iterator = iter(batches)
        while True:
            start = time.time()
            try:
                batch = next(iterator)
            except StopIteration:
                return
            throughput.data_seconds += time.time() - start
            yield batch

    def _report(self, out, step, epoch, throughput, bar):
        losses = out['losses']
        bar.set_postfix(loss='%.3f' % losses['total_loss'], lr='%g' % out['lr'],
                        img_s='%.1f' % throughput.images_per_second(), refresh=False)
        bar.update(1)
        if 'summary' in out:
            self.writer.add_summary(out['summary'], step + 1)
            log.info('epoch %d step %d: %s, lr %g, %.1f images/s', epoch, step + 1,
                     ', '.join('%s %.4f' % (name, losses[name]) for name in LOGGED_LOSSES if name in losses), out['lr'],
                     throughput.images_per_second())
        if self.is_chief and time.time() - self.last_rolling >= self.rolling_secs:
            self.ckpts.save_rolling(self.session, step + 1)
            self.last_rolling = time.time()


def _finish_epoch(session, graph, ckpts, writer, epoch, val_loss, best):
    """Store the train state, write the epoch checkpoint and, on a new best, the optimized one: a set, journaled
    so that a kill in between is completed or rolled back at the next start (``_settle_interrupted_set``)."""
    step = int(session.run(graph.global_step))
    is_best = val_loss < best
    best = min(best, val_loss)
    graph.state.write(session, epoch, step, best)
    writer.add_summary(scalar_summary('loss/val_loss', val_loss), step)
    writer.flush()
    checkpoints.begin_set(ckpts.model_path, epoch, float(val_loss), bool(is_best))
    path = ckpts.save_epoch(session, epoch)
    log.info('epoch %d: val loss %.3f (%.6f), saved %s', epoch, val_loss, val_loss, path)
    if is_best:
        log.info('new best val loss %.3f: saved %s', val_loss, ckpts.save_optimized(session, epoch, val_loss))
    checkpoints.end_set(ckpts.model_path)
    return best


def _settle_interrupted_set(session, ckpts, resume):
    """Complete the checkpoint set a kill interrupted when training resumed from its epoch checkpoint (write the
    missing optimized one from the restored weights), else roll it back (that epoch is trained again)."""
    journal = checkpoints.interrupted_set(ckpts.model_path)
    if journal is None:
        return
    epoch = journal.get('epoch')
    if epoch is not None and resume == checkpoints.epoch_checkpoint_path(ckpts.model_path, epoch):
        optimized = checkpoints.optimized_checkpoint_path(ckpts.model_path, epoch, journal['val_loss'])
        if journal['best'] and optimized not in ckpts.optimized.listed:
            ckpts.save_optimized(session, epoch, journal['val_loss'])
        log.info('completed the checkpoint set of epoch %s interrupted by a kill', epoch)
    else:
        log.info('rolled back the checkpoint set of epoch %s interrupted by a kill: the epoch is trained again', epoch)
    checkpoints.end_set(ckpts.model_path)


def _trace_start(session, graph, hooks):
    """Test-only trace (lib.train.faults): the global step, the LR read from the graph and the optimizer state."""
    if hooks.trace:
        variables = tf.global_variables()
        values = dict(zip([variable_name(v) for v in variables], session.run(variables)))
        step, lr = session.run([graph.global_step, graph.learning_rate])
        hooks.record('start', int(step), repr(float(lr)), slots_digest(values))


def _check_lists(config, train_loader, val_loader):
    """Stop before training when no step could run or no val loss could be measured."""
    if len(train_loader.samples) < config.TRAIN.batch_size:
        raise UserError('config.DATA.train_txt_path = %s lists %d images, fewer than one batch '
                        '(config.TRAIN.batch_size = %d): no training step could run; add images or lower the batch'
                        % (config.DATA.train_txt_path, len(train_loader.samples), config.TRAIN.batch_size))
    if not any(is_image_file(path) and cv2.haveImageReader(path) for path, _ in val_loader.samples):
        raise UserError('config.DATA.val_txt_path = %s: none of its %d images exists or is an image file (e.g. %s); '
                        'the val loss could not be measured' % (config.DATA.val_txt_path, len(val_loader.samples),
                                                                val_loader.samples[0][0] if val_loader.samples
                                                                else 'the list is empty'))


def _run_epoch(runner, batches, steps, epoch, config, step):
    """runner.run, with all training images unreadable as one line instead of the loader's traceback."""
    try:
        return runner.run(batches, steps, epoch, config.TRAIN.epoch, step)
    except WorkerError as err:
        if 'no readable image' not in str(err):
            raise
        raise UserError('no readable image in config.DATA.train_txt_path = %s (%s); fix the list or its images'
                        % (config.DATA.train_txt_path, str(err).strip().splitlines()[-1]))


def train(config, devices=None, max_image_pixels=MAX_IMAGE_PIXELS):
    """Run a whole training as configured; return a summary dict (best val loss, checkpoints, per-epoch stats).

    ``devices`` (one per tower) defaults to /gpu:0.. for TRAIN.num_gpu > 1; tests pass ['/cpu:0', '/cpu:1'].
    ``max_image_pixels``: pruned_train.py --max_image_pixels (lib.common.image.read_image).
    """
    ratios = validate_config(config, PRUNABLE_LAYERS)
    replica = distributed.replica_from_environment(config)  # LocalReplica without TF_CONFIG
    devices = devices or default_devices(config.TRAIN.num_gpu)
    if config.TRAIN.batch_size % len(devices):
        raise UserError('config.TRAIN.batch_size = %d: expected a multiple of the %d towers'
                        % (config.TRAIN.batch_size, len(devices)))
    model_path = os.path.abspath(config.MODEL.model_path)
    # the chief holds model_path (checked, locked, a failed start undone); the other replicas only read it
    with claim_model_path(model_path) if replica.is_chief else contextlib.nullcontext(Claim()) as claim:
        return _train_claimed(config, ratios, replica, devices, model_path, claim, max_image_pixels)


def _teacher(config, arch):
    """The distillation Teacher of TRAIN.distill_teacher (None without one); checked before the graph is built."""
    train = config.TRAIN
    if not train.distill_teacher:
        return None
    teacher = resolve_teacher(train.distill_teacher, arch, Architecture.from_model_config(config.MODEL),
                              config.DATA.PIXEL_MEAN, config.DATA.PIXEL_STD, train.distill_feature_weight)
    log.info('distilling from the teacher %s (cls weight %g, T %g, box weight %g, feature weight %g)',
             teacher.checkpoint, train.distill_cls_weight, train.distill_temperature, train.distill_box_weight,
             train.distill_feature_weight)
    return teacher


def _train_claimed(config, ratios, replica, devices, model_path, claim, max_image_pixels):
    """train() once model_path is held: start, graph, session, epochs."""
    hooks = Hooks.from_environment()
    start = _choose_start(config, model_path)
    resume, pretrained = start.resume, start.pretrained
    arch = start_arch(resume or pretrained, Architecture.from_model_config(config.MODEL))
    arch = arch.with_normalisation(*arch.normalisation(config.DATA.PIXEL_MEAN, config.DATA.PIXEL_STD))
    teacher = _teacher(config, arch)
    spec = anchor_spec_from_config(config.ANCHOR)
    train_loader, val_loader, anchors_per_shot = _make_loaders(config, arch, spec, replica.shard, max_image_pixels)
    with tf.Graph().as_default(), train_loader, val_loader:
        _check_lists(config, train_loader, val_loader)
        if replica.is_chief:
            record_start(config.MODEL, model_path, start)  # training begins: a re-run resumes this run
        claim.begin()
        tf.set_random_seed(config.DATA.seed)  # fresh weights are reproducible too
        with replica.device_scope():
            graph = build_train_graph(config, arch, ratios, anchors_per_shot, devices, replica.wrap_optimizer,
                                      teacher)
        ckpts = Checkpoints(model_path, config.MODEL.max_to_keep, arch, hooks)

        def initialise(session):
            _initialise(session, graph, ckpts, resume, pretrained, config)
            if teacher is not None:  # never in the student's checkpoints: restored at every start, resume too
                restore_teacher(session, teacher)
            _settle_interrupted_set(session, ckpts, resume)

        with tf.Session(replica.target, config=replica.session_config()) as session, \
                _summary_writer(model_path, replica.is_chief) as writer:
            replica.start(session, lambda: initialise(session),
                          lambda: _remaining_steps(session, graph, config.TRAIN.epoch, len(train_loader)))
            _trace_start(session, graph, hooks)
            try:
                return _train_epochs(session, graph, ckpts, writer, train_loader, val_loader, config, hooks,
                                     replica.is_chief)
            finally:
                replica.stop()


@contextlib.contextmanager
def _summary_writer(model_path, is_chief):
    """The run's event file writer; None for the non-chief replicas of a cluster, which write nothing."""
    if not is_chief:
        yield None
        return
    with contextlib.closing(tf.summary.FileWriter(model_path)) as writer:
        yield writer


def _steps_done_in_epoch(step, epoch_start_step, steps_per_epoch):
    """Steps of the current epoch already trained at global step ``step`` (0 when the global step lags)."""
    return min(max(step - epoch_start_step, 0), steps_per_epoch)


def _remaining_steps(session, graph, epochs, steps_per_epoch):
    """The steps _train_epochs will run from the restored state (not epochs x steps_per_epoch - global step: in
    a cluster whose chief stepped alone for a while, the global step lags the epochs)."""
    done, epoch_start_step, _ = graph.state.read(session)
    if done >= epochs:
        return 0
    step = int(session.run(graph.global_step))
    return (epochs - done) * steps_per_epoch - _steps_done_in_epoch(step, epoch_start_step, steps_per_epoch)


def _train_epochs(session, graph, ckpts, writer, train_loader, val_loader, config, hooks, is_chief=True):
    done, epoch_start_step, best = graph.state.read(session)
    runner = _EpochRunner(session, graph, writer, ckpts, config, hooks, is_chief)
    steps_per_epoch = len(train_loader)
    epochs = []
    for index in range(done, config.TRAIN.epoch):
        epoch = index + 1
        step = int(session.run(graph.global_step))
        trained = _steps_done_in_epoch(step, epoch_start_step, steps_per_epoch)
        steps = steps_per_epoch - trained
        throughput = _run_epoch(runner, train_loader.epoch(index, skip=trained), steps, epoch, config, step)
        epoch_start_step = step + steps
        if not is_chief:
            epochs.append(dict(throughput.as_dict(), epoch=epoch))
            continue
        val_loss = _validate(session, graph, val_loader, step + steps, ckpts)
        best = _finish_epoch(session, graph, ckpts, writer, epoch, val_loss, best)
        epochs.append(dict(throughput.as_dict(), epoch=epoch, val_loss=float(val_loss)))
    if not is_chief:  # the chief holds the val losses and checkpoints
        return {'global_step': int(session.run(graph.global_step)), 'epochs': epochs}
    return {'best_val_loss': float(best), 'last_checkpoint': ckpts.last_good, 'best_checkpoint': ckpts.optimized.latest(),
            'global_step': int(session.run(graph.global_step)), 'epochs': epochs}
