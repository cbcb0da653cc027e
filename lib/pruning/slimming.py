"""Slimming: a physically smaller checkpoint holding only the kept channels, plus its architecture JSON.

Every variable is sliced on its output axis (the convs of a pruned group: one layer, or both convs of an FPN
level) and on its input axis (each consumer the registry reads off the graph: next conv, extras, first-shot heads,
the FPN's lateral/merge convs, the FEM convs, and the second-shot heads, whose input is a FEM concat: the kept
indices of eyes_1, eyes_2, eyes_3 shifted by the widths before them); optimizer slots follow their variable. The
slim model computes what the hard-pruned dense model computes (pruned channels are exactly zero there, a zero
factor zeroes an FPN product, and zeros change neither convs nor the constant L2 norms).
"""
import collections
import os

import numpy as np
import tensorflow.compat.v1 as tf

from lib import checkpoint
from lib.common.errors import UserError
from lib.pruning.masks import check_kept, kept_counts, read_mask
from lib.pruning.registry import build_model_graph, variable_slices


def _slice(array, cuts):
    for axis, indices in cuts:
        array = np.take(array, indices, axis=axis)
    return array


def _owner(name, shapes, model_names):
    """The model variable a checkpoint key belongs to: itself, or the variable whose slot it is (same shape)."""
    if name in model_names:
        return name
    for prefix in sorted(model_names, key=len, reverse=True):
        if name.startswith(prefix + '/') and shapes[name] == shapes[prefix]:
            return prefix
    return None


def _model_variables(graph):
    with graph.as_default():
        return tf.global_variables()


def slim_values(ckpt_prefix, values, kept, dense_arch):
    """{name: array} of the slim checkpoint from the values of the dense checkpoint ``ckpt_prefix``."""
    graph, _, _, registry = build_model_graph(dense_arch)
    variables = _model_variables(graph)
    shapes = checkpoint.shapes_of(values)
    checkpoint.check_matches(ckpt_prefix, shapes, variables)
    slices = {checkpoint.variable_name(v): cuts for v, cuts in variable_slices(registry, kept).items()}
    model_names = {checkpoint.variable_name(v) for v in variables}
    slim = collections.OrderedDict()
    for name, value in values.items():
        owner = _owner(name, shapes, model_names)
        slim[name] = _slice(value, slices.get(owner, [])) if owner else value
    return slim


def slim_checkpoint(ckpt_prefix, kept, dense_arch, out_prefix):
    """Write the slim checkpoint of ``kept`` ({group: kept indices}) at ``out_prefix`` and its .arch.json.

    ``dense_arch`` is the architecture of ``ckpt_prefix``; returns the slim Architecture.
    """
    check_kept(kept, dense_arch, 'mask of %s' % ckpt_prefix)
    values = checkpoint.read_checkpoint(ckpt_prefix)
    slim = slim_values(ckpt_prefix, values, kept, dense_arch)
    slim_arch = dense_arch.with_channels(kept_counts(kept))
    try:
        slim_variables = _model_variables(build_model_graph(slim_arch)[0])
        checkpoint.check_matches(out_prefix, checkpoint.shapes_of(slim), slim_variables)
    except UserError as err:  # a slicing rule missing for some consumer: a bug, not a user mistake
        raise AssertionError('slimming produced shapes the slim model does not have: %s' % err)
    checkpoint.write_checkpoint(slim, out_prefix)
    checkpoint.save_arch(out_prefix, slim_arch)
    return slim_arch


def slim_checkpoint_for(ckpt_prefix, dense_arch, out_dir, mask_file=None):
    """The slim checkpoint to freeze for ``--slim``: ``ckpt_prefix`` itself when it is already slim (its
    ``.arch.json`` has fewer channels than ``dense_arch``, the config's model), else one sliced from it by its
    mask file into ``out_dir`` (returns its prefix)."""
    own = checkpoint.load_arch(ckpt_prefix, dense_arch)
    dense_arch = dense_arch.with_normalisation(own.pixel_mean, own.pixel_std)
    if mask_file is None and own.is_slimmer_than(dense_arch):
        return ckpt_prefix
    mask_file = mask_file or checkpoint.mask_path(ckpt_prefix)
    if not os.path.isfile(mask_file):
        raise UserError('mask file not found: %s; --slim needs a slim checkpoint (with %s) or the mask written '
                        'by channel selection (pass it with --mask)'
                        % (mask_file, os.path.basename(checkpoint.arch_path(ckpt_prefix))))
    out_prefix = os.path.join(out_dir, os.path.basename(ckpt_prefix))
    slim_checkpoint(ckpt_prefix, read_mask(mask_file), dense_arch, out_prefix)
    return out_prefix
