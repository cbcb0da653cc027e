"""Initialise a model from a checkpoint by variable name and shape.

Works for a DSFD checkpoint of this project or of the original's trainer (the same variable names: every model
variable matches; the original's optimizer slots and global_step are left unused) and for ImageNet TF-slim
``vgg_16.ckpt`` (conv1_1 .. conv5_3 match; its ``vgg_16/fc6`` 7x7x512x4096 and ``vgg_16/fc7`` 1x1x4096x4096 are
decimated into our 3x3 ``fc6`` and 1x1 ``fc7`` the way SSD converts them, when ``decimate_fc`` is on). Whatever
matches neither way keeps its fresh initialisation; from a DSFD checkpoint that is a loud warning when only head
variables stay fresh, and an error otherwise.
"""
import collections
import logging

import numpy as np
import tensorflow.compat.v1 as tf

from lib.checkpoint import load_arch, read_checkpoint, read_shapes, restore, variable_name
from lib.common.errors import UserError
from lib.original.checkpoint import HEAD_SCOPES, is_dsfd_checkpoint, is_original_checkpoint, original_arch

log = logging.getLogger(__name__)

DECIMATED_SCOPES = ('fc6/', 'fc7/')
IMAGENET_SCOPE = 'vgg_16/'  # where ImageNet vgg_16.ckpt keeps fc6 / fc7

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


def _can_decimate(source_shape, target_shape):
    return (source_shape is not None and len(source_shape) == len(target_shape)
            and all(0 < t <= s for s, t in zip(source_shape, target_shape)))


def plan_restore(ckpt_path, variables, decimate_fc):
    """Which variables come from which checkpoint entries; nothing is read or assigned yet."""
    shapes = read_shapes(ckpt_path, 'pretrained model')
    matched, decimated, fresh = {}, {}, []
    for variable in variables:
        name = variable_name(variable)
        target = variable.get_shape().as_list()
        source = shapes.get(name)
        imagenet = IMAGENET_SCOPE + name
        if source is not None and list(source) == target:
            matched[name] = variable
        elif decimate_fc and name.startswith(DECIMATED_SCOPES) and _can_decimate(shapes.get(imagenet), target):
            decimated[imagenet] = variable
        else:
            fresh.append(variable)
    unused = sorted(set(shapes) - set(matched) - set(decimated))
    return RestorePlan(matched, decimated, fresh, unused)


def apply_restore(session, ckpt_path, plan):
    """Copy the matched entries and assign the decimated ones in ``session``."""
    if plan.matched:
        restore(session, tf.train.Saver(var_list=plan.matched), ckpt_path, 'pretrained model')
    if plan.decimated:
        values = read_checkpoint(ckpt_path, 'pretrained model', names=list(plan.decimated))
        for name, variable in plan.decimated.items():
            variable.load(decimate(values[name], variable.get_shape().as_list()), session)


def check_fresh(ckpt_path, plan, shapes):
    """From a DSFD checkpoint, fresh model variables are a loud warning listing them when they are all head
    variables, a UserError naming them otherwise; from ImageNet they are expected (nothing happens)."""
    if not plan.fresh or not is_dsfd_checkpoint(shapes):
        return
    names = sorted(variable_name(v) for v in plan.fresh)
    beyond_heads = [name for name in names if not name.startswith(HEAD_SCOPES)]
    if beyond_heads:
        raise UserError('pretrained model %s is a DSFD checkpoint of another network: %d model variables beyond '
                        'the heads are missing or mis-shaped there (%s%s); check config.MODEL (fpn, dual_mode, '
                        'width_mult) or the checkpoint' % (ckpt_path, len(beyond_heads), ', '.join(beyond_heads[:5]),
                                                           ', ...' if len(beyond_heads) > 5 else ''))
    log.warning('!' * 78)
    log.warning('pretrained model %s: %d head variables are NOT in it and start fresh: %s',
                ckpt_path, len(names), ', '.join(names))
    log.warning('!' * 78)


def start_arch(ckpt_path, default, role='pretrained model'):
    """The architecture a training starting from ``ckpt_path`` builds: an original checkpoint's own (recognised
    from its variables, with the original's normalisation), else the ``.arch.json`` beside it, else ``default``
    (``role`` names the checkpoint in errors)."""
    if ckpt_path:
        shapes = read_shapes(ckpt_path, role)
        if is_original_checkpoint(ckpt_path, shapes):
            return original_arch(ckpt_path, shapes)
    return load_arch(ckpt_path or '', default)


def restore_variables(session, ckpt_path, variables, decimate_fc=True):
    """Restore ``variables`` from ``ckpt_path`` by name and shape; log the counts (names at debug level).

    An original checkpoint restores as it is (same names), its slots and global_step unused.
    """
    plan = plan_restore(ckpt_path, variables, decimate_fc)
    check_fresh(ckpt_path, plan, read_shapes(ckpt_path, 'pretrained model'))
    apply_restore(session, ckpt_path, plan)
    log.info('restored from %s: %d variables, %d decimated (fc6/fc7), %d initialised fresh, '
             '%d checkpoint entries unused', ckpt_path, len(plan.matched), len(plan.decimated),
             len(plan.fresh), len(plan.unused))
    log.debug('restored: %s', ', '.join(sorted(plan.matched)))
    log.debug('decimated: %s', ', '.join(sorted(plan.decimated)))
    log.debug('fresh: %s', ', '.join(sorted(variable_name(v) for v in plan.fresh)))
    log.debug('unused: %s', ', '.join(plan.unused))
    return plan
