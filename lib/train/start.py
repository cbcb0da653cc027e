"""How a training run starts: resume its own checkpoints, or start from ``MODEL.pretrained_model`` (or from scratch).

A run records what it started from in ``<model_path>/start.json`` (the pretrained model's real path, or null), so
that re-running the same command resumes it, while a different ``pretrained_model`` on a used ``model_path`` stops
with one line instead of silently skipping the fine-tune. ``MODEL.resume`` (``--resume``) continues the run in
``model_path`` whatever it started from, and fails when there is none. ``MODEL.continue_train`` keeps the original's
meaning: every model variable is restored from ``pretrained_model`` (strict), at step 0 with fresh optimizer slots.
"""
import collections
import logging
import os

import tensorflow.compat.v1 as tf

from lib.checkpoint import check_matches, read_shapes, restore
from lib.common.errors import UserError
from lib.common.io import read_json, write_json
from lib.train.checkpoints import newest_checkpoint
from lib.train.restore import restore_variables

log = logging.getLogger(__name__)

START_FILE = 'start.json'

Start = collections.namedtuple('Start', 'resume pretrained strict')
Start.__doc__ = """resume: the checkpoint to resume or None; pretrained: the model to start from or None; strict:
restore every model variable from it (continue_train)."""


def start_path(model_path):
    """Where a run records what it started from."""
    return os.path.join(model_path, START_FILE)


def _identity(pretrained):
    """The recorded form of a pretrained model: its real path (None for none)."""
    return os.path.realpath(pretrained) if pretrained else None


def read_start(model_path):
    """The ``pretrained_model`` the run in ``model_path`` started from ('' when it has no record)."""
    path = start_path(model_path)
    if not os.path.isfile(path):
        return ''
    try:
        return read_json(path)['pretrained_model']
    except (ValueError, KeyError, TypeError) as err:
        raise UserError('%s is not a start record written by training (%s); remove it to resume the run in %s '
                        'as it is' % (path, err, model_path))


def choose_start(model, model_path):
    """The Start of a run under ``model`` (config.MODEL) in ``model_path``; writes nothing (``record_start`` records
    a fresh start once training is sure to begin)."""
    resume, _ = newest_checkpoint(model_path)
    pretrained = model.pretrained_model or None
    wanted_resume = bool(model.get('resume', False))
    if resume:
        started = read_start(model_path)
        if wanted_resume or started == _identity(pretrained) or (started == '' and pretrained is None):
            return Start(resume, None, False)
        described = {'': 'an unrecorded start', None: 'no pretrained model'}.get(started, started)
        raise UserError('%s holds a run started from %s, but MODEL.pretrained_model is %s: pass a new '
                        '--model_path to start from it, or --resume to continue the old run'
                        % (model_path, described, pretrained))
    if wanted_resume:
        raise UserError('--resume (MODEL.resume) is set but %s holds no checkpoint to resume from; drop it or '
                        'point --model_path at a training folder' % model_path)
    if model.continue_train and not pretrained:
        raise UserError('MODEL.continue_train = True restores every model variable from MODEL.pretrained_model, '
                        'which is not set; set it, or continue_train = False')
    if pretrained:
        read_shapes(pretrained, 'pretrained model')  # a missing or unreadable checkpoint fails before the graph
    return Start(None, pretrained, bool(model.continue_train))


def record_start(model, model_path, start):
    """Record what a fresh run (``start`` from choose_start) starts from; a resumed run keeps its record."""
    if start.resume is None:
        write_json(start_path(model_path), {'pretrained_model': _identity(start.pretrained),
                                            'continue_train': bool(model.continue_train)})


def restore_strict(session, ckpt_path, variables):
    """Restore every one of ``variables`` from ``ckpt_path``; a missing or mis-shaped one is a UserError naming it."""
    check_matches(ckpt_path, read_shapes(ckpt_path, 'pretrained model'), variables)
    restore(session, tf.train.Saver(var_list=list(variables)), ckpt_path, 'pretrained model')
    log.info('continue_train: restored all %d model variables from %s; step 0, fresh optimizer state',
             len(variables), ckpt_path)


def restore_pretrained(session, ckpt_path, variables, model):
    """Initialise ``variables`` from the pretrained model: strict under continue_train, else by name and shape."""
    if model.continue_train:
        restore_strict(session, ckpt_path, variables)
    else:
        restore_variables(session, ckpt_path, variables, model.decimate_imagenet_fc)
