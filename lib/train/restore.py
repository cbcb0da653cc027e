"""Initialise a model from a checkpoint by variable name and shape.

Works for a DSFD checkpoint (every model variable matches) and for ImageNet TF-slim ``vgg_16.ckpt`` (conv1_1 ..
conv5_3 match; its fc6 7x7x512x4096 and fc7 1x1x4096x4096 are decimated into our 3x3 fc6 and 1x1 fc7 the way SSD
converts them, when ``decimate_fc`` is on). Whatever matches neither way keeps its fresh initialisation.
"""
import collections
import logging

import numpy as np
import tensorflow.compat.v1 as tf

from lib.checkpoint import read_shapes, variable_name
from lib.common.errors import UserError

log = logging.getLogger(__name__)

DECIMATED_SCOPES = ('vgg_16/fc6/', 'vgg_16/fc7/')

RestorePlan = collections.namedtuple('RestorePlan', 'matched decimated fresh unused')
RestorePlan.__doc__ = """matched: {checkpoint name: variable} copied as is; decimated: {checkpoint name: variable}
subsampled to the variable's shape; fresh: variables left initialised; unused: checkpoint names nobody took."""


def decimation_indices(source, target):
    """Indices that subsample an axis of length ``source`` to ``target``.

    An exact multiple keeps every (source / target)-th entry (4096 -> 1024 channels: 0, 4, 8, ...); otherwise the
    entries are spread evenly and include both ends (7 -> 3 taps: 0, 3, 6, SSD's dilated fc6).
    """
    if source % target == 0:
        return np.arange(0, source, source // target)
    return np.round(np.linspace(0, source - 1, target)).astype(np.int64)


def decimate(array, shape):
    """Subsample ``array`` along every axis to ``shape`` (each target size <= the source size)."""
    for axis, (source, target) in enumerate(zip(array.shape, shape)):
        if source != target:
            array = np.take(array, decimation_indices(source, target), axis=axis)
    return array


def _can_decimate(name, source_shape, target_shape):
    return (name.startswith(DECIMATED_SCOPES) and len(source_shape) == len(target_shape)
            and all(0 < t <= s for s, t in zip(source_shape, target_shape)))


def plan_restore(ckpt_path, variables, decimate_fc):
    """Which variables come from which checkpoint entries; nothing is read or assigned yet."""
    shapes = read_shapes(ckpt_path, 'pretrained model')
    matched, decimated, fresh = {}, {}, []
    for variable in variables:
        name = variable_name(variable)
        target = variable.get_shape().as_list()
        source = shapes.get(name)
        if source is not None and list(source) == target:
            matched[name] = variable
        elif source is not None and decimate_fc and _can_decimate(name, source, target):
            decimated[name] = variable
        else:
            fresh.append(variable)
    unused = sorted(set(shapes) - set(matched) - set(decimated))
    return RestorePlan(matched, decimated, fresh, unused)


def apply_restore(session, ckpt_path, plan):
    """Copy the matched entries and assign the decimated ones in ``session``."""
    if plan.matched:
        tf.train.Saver(var_list=plan.matched).restore(session, ckpt_path)
    if plan.decimated:
        reader = tf.train.load_checkpoint(ckpt_path)
        for name, variable in plan.decimated.items():
            variable.load(decimate(reader.get_tensor(name), variable.get_shape().as_list()), session)


def restore_variables(session, ckpt_path, variables, decimate_fc=True):
    """Restore ``variables`` from ``ckpt_path`` by name and shape; log the counts (names at debug level)."""
    plan = plan_restore(ckpt_path, variables, decimate_fc)
    apply_restore(session, ckpt_path, plan)
    log.info('restored from %s: %d variables, %d decimated (fc6/fc7), %d initialised fresh, '
             '%d checkpoint entries unused', ckpt_path, len(plan.matched), len(plan.decimated),
             len(plan.fresh), len(plan.unused))
    log.debug('restored: %s', ', '.join(sorted(plan.matched)))
    log.debug('decimated: %s', ', '.join(sorted(plan.decimated)))
    log.debug('fresh: %s', ', '.join(sorted(variable_name(v) for v in plan.fresh)))
    log.debug('unused: %s', ', '.join(plan.unused))
    return plan
