"""Where training keeps its checkpoints, how many, and how a re-run finds the newest one.

Layout under model_path: ``epoch_{e}.ckpt`` (one per epoch), ``optimized/epoch_{e}_val_loss_{v:.3f}.ckpt`` (each
new best val loss), ``rolling/step.ckpt-{global step}`` (every few minutes, so a kill costs minutes). Each folder
has its own `checkpoint` state file: a checkpoint is written completely, then listed there atomically, then the
oldest beyond max_to_keep is deleted, so a kill never leaves a listed checkpoint unreadable; unlisted leftovers
are removed at the next start. The epoch checkpoint and the optimized one of the same epoch form a set: a journal
file (``.saving_epoch.json``) written before and removed after lets the next start complete the set (write the
missing optimized checkpoint from the epoch checkpoint it resumes from) or roll it back (the epoch is trained
again). Every checkpoint carries the train state (epoch, the step the epoch started at, best val loss) as
variables, so it is saved and restored atomically with the weights. A ``.arch.json`` beside each checkpoint names
its channel counts (lib.model.arch), so slim models stay loadable.
"""
import glob
import logging
import os
import re
import shutil

import numpy as np
import tensorflow.compat.v1 as tf

from lib.checkpoint import OPTIMIZED_DIR, check_readable, global_step, save_arch
from lib.common.errors import UserError
from lib.common.io import read_json, write_json
from lib.train.faults import Hooks

log = logging.getLogger(__name__)

ROLLING_DIR = 'rolling'


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
    """One folder of checkpoints, listed in its ``checkpoint`` state file and bounded by max_to_keep across re-runs.

    A save writes the checkpoint's files (its .arch.json first), then the state file atomically listing it, then
    deletes the oldest beyond max_to_keep. Whatever a kill leaves between those steps (unlisted checkpoint files,
    TF's and our temp files) is removed when the folder is opened again, so only listed checkpoints remain.
    """

    def __init__(self, directory, var_list, max_to_keep, arch, hooks=None, kind=''):
        self.directory = directory
        self.arch = arch
        self.max_to_keep = max_to_keep
        self.hooks, self.kind = hooks or Hooks(), kind
        self.saver = tf.train.Saver(var_list=var_list, max_to_keep=None, save_relative_paths=True)
        self.listed = listed_checkpoints(directory)
        remove_orphans(directory, self.listed)

    def save(self, session, path, global_step=None, tag=None):
        """Write a checkpoint (+ its .arch.json), list it, drop the oldest beyond max_to_keep; return its prefix.
        ``tag`` (the epoch or step) names the save for the test-only fault hook."""
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory)
        prefix = path if global_step is None else '%s-%d' % (path, global_step)
        save_arch(prefix, self.arch)  # first, so a listed checkpoint always has its architecture
        self.saver.save(session, path, global_step=global_step, write_meta_graph=False, write_state=False)
        self.hooks.point('save', self.kind, tag)
        self.listed = [p for p in self.listed if p != prefix] + [prefix]
        dropped, self.listed = self.listed[:-self.max_to_keep], self.listed[-self.max_to_keep:]
        tf.train.update_checkpoint_state(self.directory, os.path.basename(prefix),
                                         [os.path.basename(p) for p in self.listed])
        for old in dropped:
            remove_checkpoint_files(old)
        return prefix

    def latest(self):
        return self.listed[-1] if self.listed else None


CHECKPOINT_FILE = re.compile(r'^(epoch_\d+\.ckpt|epoch_\d+_val_loss_[-+.\deinf]+\.ckpt|step\.ckpt-\d+)'
                             r'(\.index|\.data-\d+-of-\d+|\.arch\.json)$')
TEMP_FILE = re.compile(r'^\.?(epoch_|step\.ckpt-).*(tempstate\d*|_temp(_[0-9a-f]+)?|\.tmp)$|^checkpoint\.tmp[0-9a-f]*$')


def listed_checkpoints(directory):
    """Prefixes listed in ``directory``'s state file, oldest first (empty when there is none); a state file that
    names only its newest checkpoint (written by hand or another tool) lists that one."""
    state = tf.train.get_checkpoint_state(directory) if os.path.isdir(directory) else None
    if state is None:
        return []
    return list(state.all_model_checkpoint_paths) or ([state.model_checkpoint_path] if state.model_checkpoint_path
                                                      else [])


def remove_checkpoint_files(prefix):
    for path in glob.glob(glob.escape(prefix) + '.*'):
        if CHECKPOINT_FILE.match(os.path.basename(path)):
            os.remove(path)


def remove_orphans(directory, listed):
    """Delete checkpoint files of ``directory`` that its state file does not list, and temp files of killed saves
    (only names training writes; nothing else in the folder is touched)."""
    if not os.path.isdir(directory):
        return
    keep = {os.path.basename(p) for p in listed}
    removed = []
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        match = CHECKPOINT_FILE.match(name)
        if (match and match.group(1) not in keep) or TEMP_FILE.search(name):
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            removed.append(name)
    if removed:
        log.info('removed %d files of interrupted saves in %s: %s', len(removed), directory,
                 ', '.join(sorted(removed)))


def readable(prefix):
    """None if the checkpoint at ``prefix`` and its .arch.json read back completely, else why not."""
    try:
        check_readable(prefix)
    except UserError as err:
        return str(err)
    return None


def newest_checkpoint(model_path):
    """(prefix, global step) of the newest readable epoch or rolling checkpoint under model_path, or (None, -1).

    An unreadable one (truncated, corrupt, missing files) is skipped with a warning naming it; if every listed
    checkpoint is unreadable, that is a UserError (training would otherwise silently start afresh).
    """
    candidates = []
    for order, directory in enumerate((model_path, os.path.join(model_path, ROLLING_DIR))):
        for position, prefix in enumerate(listed_checkpoints(directory)):
            candidates.append((order, position, prefix))
    bad = []
    steps = []
    for order, position, prefix in candidates:
        why = readable(prefix)
        if why is not None:
            log.warning('skipping unreadable checkpoint %s (%s); falling back to the previous one', prefix, why)
            bad.append(prefix)
        else:
            steps.append((global_step(prefix), -order, position, prefix))
    if not steps:
        if bad:
            raise UserError('every checkpoint listed under %s is unreadable (newest: %s); move them away to train '
                            'from scratch, or restore them from a backup' % (model_path, bad[-1]))
        return None, -1
    step, _, _, prefix = max(steps)
    return prefix, step


SET_JOURNAL = '.saving_epoch.json'


def begin_set(model_path, epoch, val_loss, is_best):
    """Note that the checkpoint set of ``epoch`` (epoch checkpoint, optimized one on a new best) is being written."""
    write_json(os.path.join(model_path, SET_JOURNAL), {'epoch': epoch, 'val_loss': val_loss, 'best': is_best})


def end_set(model_path):
    os.remove(os.path.join(model_path, SET_JOURNAL))


def interrupted_set(model_path):
    """The journal of a checkpoint set a kill interrupted ({'epoch', 'val_loss', 'best'}), or None."""
    path = os.path.join(model_path, SET_JOURNAL)
    if not os.path.isfile(path):
        return None
    try:
        return read_json(path)
    except ValueError:
        return {'epoch': None}
