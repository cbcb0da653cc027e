"""Checkpoints written by the original's trainer: recognised from their variables and converted to this project's.

The original's model variables already carry this project's names (TF-slim scopes: ``vgg_16/conv*``, ``fc6``,
``fc7``, ``extra/``, ``lateral/res*``, ``merge/res*``, ``fems*``, ``ssdout/``, ``dual/ssdout/``), so converting
one maps every model variable onto itself, drops what training adds (``global_step``, Momentum slots, ...),
recognises the network (DSFD, the one-shot FPN model or the plain SSD, and every width) from the shapes, and
stores the architecture with the original's normalisation beside the result (``<prefix>.arch.json``).
"""
import collections
import logging
import os

import tensorflow.compat.v1 as tf

from lib.common.errors import UserError
from lib import checkpoint
from lib.checkpoint import arch_path, save_arch
from lib.model.arch import PRUNABLE_LAYERS, Architecture
from lib.model.dsfd import build_dsfd

log = logging.getLogger(__name__)

# DATA.PIXEL_MEAN / PIXEL_STD of the original's configs (RGB).
ORIGINAL_PIXEL_MEAN = (123., 116., 103.)
ORIGINAL_PIXEL_STD = (58., 57., 57.)
HEAD_SCOPES = ('ssdout/', 'dual/ssdout/')
# A variable every checkpoint written by this project's trainer holds, and the original's never does.
PROJECT_MARKER = 'train_state/epoch'

Conversion = collections.namedtuple('Conversion', 'arch mapped missing unused')
Conversion.__doc__ = """arch: the recognised Architecture; mapped: model variable names found with the right shape;
missing: model variables absent or mis-shaped; unused: checkpoint entries that are no model variable."""


def is_dsfd_checkpoint(shapes):
    """True when the checkpoint ({name: shape}) holds detection heads (a DSFD, not ImageNet vgg_16.ckpt)."""
    return any(name.startswith(HEAD_SCOPES) for name in shapes)


def is_original_checkpoint(ckpt_prefix, shapes):
    """A DSFD checkpoint written by the original's trainer: heads, but neither this project's training state nor
    an ``.arch.json`` beside it."""
    return (is_dsfd_checkpoint(shapes) and PROJECT_MARKER not in shapes
            and not os.path.isfile(arch_path(ckpt_prefix)))


def _fem_dims(eyes_1, eyes_2):
    """fem_dims whose // 2 and // 4 give the branch widths found (512 -> 256, 128)."""
    for dims in (2 * eyes_1, 2 * eyes_1 + 1):
        if max(1, dims // 4) == eyes_2:
            return dims
    return 2 * eyes_1


def _require(shapes, name, ckpt_prefix):
    if name not in shapes:
        raise UserError('checkpoint %s is not a DSFD checkpoint of the original: variable %s is missing'
                        % (ckpt_prefix, name))
    return shapes[name]


def recognise_arch(ckpt_prefix, shapes):
    """The Architecture of a DSFD checkpoint read off its variable shapes (no normalisation of its own)."""
    channels = {name: _require(shapes, name + '/weights', ckpt_prefix)[3] for name in PRUNABLE_LAYERS}
    first = 'ssdout/out_reg0/weights' in shapes
    second = 'dual/ssdout/out_reg0/weights' in shapes
    if not (first or second):
        _require(shapes, 'ssdout/out_reg0/weights', ckpt_prefix)
    maxout = any('/maxout0/' in name for name in shapes if name.startswith(HEAD_SCOPES))
    if second:
        fpn_dims = [_require(shapes, 'lateral/res%d/weights' % level, ckpt_prefix)[3] for level in range(3)]
        fem_dims = _fem_dims(_require(shapes, 'fems0/eyes_1/weights', ckpt_prefix)[3],
                             _require(shapes, 'fems0/eyes_2/weights', ckpt_prefix)[3])
    else:  # a plain SSD: the FPN / FEM widths are never built
        fpn_dims, fem_dims = [256, 512, 512], 512
    return Architecture(channels, fpn_dims, fem_dims, fpn=second, dual_mode=first and second, maxout=maxout)


def model_shapes(arch):
    """{variable name: shape} of the model of ``arch``."""
    with tf.Graph().as_default():
        build_dsfd(tf.placeholder(tf.float32, [None, None, None, 3]), arch, (0., 0., 0.), (1., 1., 1.))
        return {checkpoint.variable_name(v): tuple(v.get_shape().as_list()) for v in tf.global_variables()}


def plan_conversion(ckpt_prefix, shapes):
    """Conversion of the checkpoint ``shapes`` ({name: shape}); a UserError names the first missing variable."""
    arch = recognise_arch(ckpt_prefix, shapes)
    expected = model_shapes(arch)
    mapped = sorted(name for name, shape in expected.items() if tuple(shapes.get(name, ())) == shape)
    missing = sorted(set(expected) - set(mapped))
    unused = sorted(set(shapes) - set(expected))
    if missing:
        name = missing[0]
        found = 'has shape %s, expected %s' % (list(shapes[name]), list(expected[name])) if name in shapes \
            else 'is missing'
        raise UserError('checkpoint %s does not convert: model variable %s %s (%d of %d model variables missing '
                        'or mis-shaped)' % (ckpt_prefix, name, found, len(missing), len(expected)))
    return Conversion(arch, mapped, missing, unused)


def original_arch(ckpt_prefix, shapes, pixel_mean=ORIGINAL_PIXEL_MEAN, pixel_std=ORIGINAL_PIXEL_STD):
    """The Architecture of an original checkpoint, carrying its normalisation (what training on it uses)."""
    return plan_conversion(ckpt_prefix, shapes).arch.with_normalisation(pixel_mean, pixel_std)


def convert_checkpoint(ckpt_prefix, out_prefix, pixel_mean=ORIGINAL_PIXEL_MEAN, pixel_std=ORIGINAL_PIXEL_STD):
    """Write the model variables of the original checkpoint ``ckpt_prefix`` at ``out_prefix`` with its
    ``.arch.json`` (architecture + normalisation); returns the Conversion. Never overwrites a checkpoint."""
    checkpoint.require_checkpoint(ckpt_prefix)
    if os.path.realpath(ckpt_prefix) == os.path.realpath(out_prefix):
        raise UserError('--output_path %s is the input checkpoint; give another prefix' % out_prefix)
    if os.path.exists(out_prefix + '.index') or os.path.exists(arch_path(out_prefix)):
        raise UserError('%s.index or its .arch.json exists already; choose a new --output_path (nothing is '
                        'overwritten)' % out_prefix)
    conversion = plan_conversion(ckpt_prefix, checkpoint.read_shapes(ckpt_prefix))
    values = checkpoint.read_checkpoint(ckpt_prefix, names=conversion.mapped)
    checkpoint.write_checkpoint(values, out_prefix)
    arch = conversion.arch.with_normalisation(pixel_mean, pixel_std)
    save_arch(out_prefix, arch)
    return conversion._replace(arch=arch)
