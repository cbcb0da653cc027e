"""Where training keeps its checkpoints, how many, and how a re-run finds the newest one.

Layout under model_path: ``epoch_{e}.ckpt`` (one per epoch), ``optimized/epoch_{e}_val_loss_{v:.3f}.ckpt`` (each
new best val loss), ``rolling/step.ckpt-{global step}`` (every few minutes, so a kill costs minutes). Each folder
has its own tf.train.Saver and `checkpoint` state file: the Saver writes a checkpoint completely, then updates the
state file atomically, then deletes the oldest beyond max_to_keep, so a kill never leaves a listed checkpoint
unreadable. Every checkpoint carries the train state (epoch, the step the epoch started at, best val loss) as
variables, so it is saved and restored atomically with the weights. A ``.arch.json`` beside each checkpoint names
its channel counts (lib.model.arch), so slim models stay loadable.
"""
import glob
import os

import numpy as np
import tensorflow.compat.v1 as tf

from lib.checkpoint import arch_path, global_step, save_arch

ROLLING_DIR = 'rolling'
OPTIMIZED_DIR = 'optimized'


def epoch_checkpoint_path(model_path, epoch):
    return os.path.join(model_path, 'epoch_%d.ckpt' % epoch)


def optimized_checkpoint_path(model_path, epoch, val_loss):
    return os.path.join(model_path, OPTIMIZED_DIR, 'epoch_%d_val_loss_%.3f.ckpt' % (epoch, val_loss))


def rolling_checkpoint_prefix(model_path):
    return os.path.join(model_path, ROLLING_DIR, 'step.ckpt')


class TrainState(object):
    """Variables saved with every checkpoint: epochs completed, the global step the current epoch began at,
    and the best val loss so far (inf before the first epoch)."""

    def __init__(self):
        with tf.variable_scope('train_state'):
            self.epoch = tf.get_variable('epoch', [], tf.int64, tf.zeros_initializer(), trainable=False)
            self.epoch_start_step = tf.get_variable('epoch_start_step', [], tf.int64, tf.zeros_initializer(),
                                                    trainable=False)
            self.best_val_loss = tf.get_variable('best_val_loss', [], tf.float32,
                                                 tf.constant_initializer(np.inf), trainable=False)

    def read(self, session):
        """(epochs completed, step the current epoch started at, best val loss)."""
        epoch, start, best = session.run([self.epoch, self.epoch_start_step, self.best_val_loss])
        return int(epoch), int(start), float(best)

    def write(self, session, epoch, epoch_start_step, best_val_loss):
        self.epoch.load(epoch, session)
        self.epoch_start_step.load(epoch_start_step, session)
        self.best_val_loss.load(best_val_loss, session)


class CheckpointFolder(object):
    """One folder of checkpoints with its own Saver, bounded by max_to_keep across re-runs."""

    def __init__(self, directory, var_list, max_to_keep, arch):
        self.directory = directory
        self.arch = arch
        self.saver = tf.train.Saver(var_list=var_list, max_to_keep=max_to_keep, save_relative_paths=True)
        state = tf.train.get_checkpoint_state(directory)
        if state is not None:
            self.saver.recover_last_checkpoints(list(state.all_model_checkpoint_paths))

    def save(self, session, path, global_step=None):
        """Write a checkpoint (+ its .arch.json); drop the oldest beyond max_to_keep; return its prefix."""
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory)
        prefix = path if global_step is None else '%s-%d' % (path, global_step)
        save_arch(prefix, self.arch)  # first, so a listed checkpoint always has its architecture
        self.saver.save(session, path, global_step=global_step, write_meta_graph=False)
        self._remove_orphan_arch_files()
        return prefix

    def latest(self):
        return tf.train.latest_checkpoint(self.directory)

    def _remove_orphan_arch_files(self):
        suffix = arch_path('')
        for path in glob.glob(os.path.join(self.directory, '*' + suffix)):
            if not os.path.exists(path[:-len(suffix)] + '.index'):
                os.remove(path)


def newest_checkpoint(model_path):
    """(prefix, global step) of the newest epoch or rolling checkpoint under model_path, or (None, -1)."""
    best = (None, -1)
    for directory in (model_path, os.path.join(model_path, ROLLING_DIR)):
        prefix = tf.train.latest_checkpoint(directory) if os.path.isdir(directory) else None
        if prefix is not None:
            step = global_step(prefix)
            if step > best[1]:
                best = (prefix, step)
    return best
