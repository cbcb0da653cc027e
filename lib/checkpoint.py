"""Checkpoints: find one, read it (values, shapes, names), check it against a model, write arrays back as one,
and the files that travel beside it (``<prefix>.arch.json``: its channel counts; ``<prefix>.mask.json``: the
channels channel selection kept).

Pruning rewrites checkpoints variable by variable (zeroing or slicing), so it works on plain arrays
instead of a model graph; the written checkpoint restores into any graph with the same names and shapes.
"""
import collections
import glob
import json
import logging
import os

import numpy as np
import tensorflow.compat.v1 as tf

from lib.common.errors import UserError
from lib.common.io import temp_dir, write_text
from lib.model.arch import Architecture, check_arch_fields
from lib.model.dsfd import build_dsfd


log = logging.getLogger(__name__)

OPTIMIZED_DIR = 'optimized'  # where training keeps its best checkpoints (lib.train.checkpoints writes it)


def _newest_in_folder(path):
    """(prefix, how) of the newest checkpoint in ``path``: the one its ``checkpoint`` file names, else the
    newest ``*.index``; (None, None) when it holds none."""
    latest = tf.train.latest_checkpoint(path)
    if latest and os.path.isfile(latest + '.index'):
        return latest, 'newest checkpoint listed in %s' % os.path.join(path, 'checkpoint')
    indexes = glob.glob(os.path.join(path, '*.index'))
    if not indexes:
        return None, None
    return max(indexes, key=os.path.getmtime)[:-len('.index')], 'newest .index file in %s' % path


def resolve_checkpoint(path, hint=None):
    """A checkpoint prefix from a prefix or a folder -> (prefix, how it was found, for the log line).

    A training folder (one with ``optimized/``) gives its best checkpoint, the newest in ``optimized/``, falling
    back to its own newest; any other folder gives its newest checkpoint. ``hint`` (how to name another one) ends
    the error message when nothing is found.
    """
    tail = '; ' + hint if hint else ''
    if os.path.isdir(path):
        optimized = os.path.join(path, OPTIMIZED_DIR)
        tried = [optimized, path] if os.path.isdir(optimized) else [path]
        for folder in tried:
            prefix, how = _newest_in_folder(folder)
            if prefix:
                return prefix, ('best checkpoint of %s: ' % path if folder == optimized else '') + how
        raise UserError('no checkpoint in %s (expected <name>.index + <name>.data-*)%s'
                        % (' nor in '.join(tried), tail or '; pass a checkpoint prefix such as '
                           + os.path.join(path, 'epoch_5.ckpt')))
    if os.path.isfile(path + '.index'):
        return path, 'checkpoint prefix given'
    if path.endswith('.index') and os.path.isfile(path):
        return path[:-len('.index')], 'checkpoint prefix of the given .index file'
    raise UserError('checkpoint not found: %s (tried %s.index and a folder %s)%s'
                    % (path, path, path, tail or '; expected a checkpoint prefix or a folder of checkpoints'))


def require_checkpoint(ckpt_prefix, role='checkpoint'):
    """A UserError unless ``<ckpt_prefix>.index`` and every ``.data-*`` shard it needs exist, naming the missing
    part (``role`` names the checkpoint in the message)."""
    data = sorted(glob.glob(glob.escape(ckpt_prefix) + '.data-[0-9]*-of-[0-9]*'))
    if not os.path.isfile(ckpt_prefix + '.index'):
        if data:
            raise UserError('%s %s: its index file %s.index is missing (%s is there); copy the .index written with '
                            'it' % (role, ckpt_prefix, ckpt_prefix, os.path.basename(data[0])))
        raise UserError('%s not found: %s (expected %s.index and %s.data-* beside it)'
                        % (role, ckpt_prefix, ckpt_prefix, ckpt_prefix))
    shards = int(data[0].rsplit('-of-', 1)[1]) if data else 1
    missing = [name for name in ('%s.data-%05d-of-%05d' % (ckpt_prefix, i, shards) for i in range(shards))
               if name not in data]
    if missing:
        raise UserError('%s %s: its data file %s is missing (the .index is there); copy the checkpoint\'s '
                        '.data-* file(s) beside its .index' % (role, ckpt_prefix, missing[0]))


def _first_line(err):
    return str(getattr(err, 'message', err)).strip().split('\n')[0][:200]


def _corrupt(ckpt_prefix, role, err):
    return UserError('%s %s: its data file is truncated or corrupt (%s); use another checkpoint, e.g. the '
                     'previous epoch\'s' % (role, ckpt_prefix, _first_line(err)))


def _reader(ckpt_prefix, role):
    """A checkpoint reader (V2 prefix, or a V1 single file such as TF-slim's vgg_16.ckpt); a missing part or an
    unreadable checkpoint is one UserError naming it."""
    if not os.path.isfile(ckpt_prefix):
        require_checkpoint(ckpt_prefix, role)
    try:
        return tf.train.load_checkpoint(ckpt_prefix)
    except (tf.errors.OpError, ValueError) as err:
        raise UserError('%s %s: not a readable checkpoint (%s); give a checkpoint prefix such as '
                        'face_detector/epoch_5.ckpt' % (role, ckpt_prefix, _first_line(err)))


def read_checkpoint(ckpt_prefix, role='checkpoint', names=None):
    """{variable name: numpy array} of every variable in the checkpoint (or of ``names``), sorted by name."""
    reader = _reader(ckpt_prefix, role)
    names = sorted(reader.get_variable_to_shape_map() if names is None else names)
    try:
        return collections.OrderedDict((name, reader.get_tensor(name)) for name in names)
    except (tf.errors.OpError, IndexError, ValueError, RuntimeError) as err:
        raise _corrupt(ckpt_prefix, role, err)


def restore(session, saver, ckpt_prefix, role='checkpoint'):
    """``saver.restore`` with a missing part or a corrupt data file named as such (one UserError); other
    errors (names, shapes) are the caller's to explain."""
    if not os.path.isfile(ckpt_prefix):
        require_checkpoint(ckpt_prefix, role)
    try:
        saver.restore(session, ckpt_prefix)
    except tf.errors.DataLossError as err:
        raise _corrupt(ckpt_prefix, role, err)


def check_readable(ckpt_prefix, role='checkpoint'):
    """A UserError naming the checkpoint unless it exists and every value reads back (a truncated or corrupt file
    is one line here, not a traceback deep in a restore); its .arch.json must parse too."""
    read_checkpoint(ckpt_prefix, role)
    load_arch(ckpt_prefix, None)


def read_shapes(ckpt_prefix, role='checkpoint'):
    """{variable name: shape tuple} of the checkpoint, without reading the values."""
    shapes = _reader(ckpt_prefix, role).get_variable_to_shape_map()
    return {name: tuple(shape) for name, shape in shapes.items()}


def global_step(ckpt_prefix):
    """The global step stored in a training checkpoint (0 when it has none)."""
    reader = _reader(ckpt_prefix, 'checkpoint')
    return int(reader.get_tensor('global_step')) if reader.has_tensor('global_step') else 0


def shapes_of(values):
    return {name: tuple(np.shape(value)) for name, value in values.items()}


def variable_name(variable):
    """The checkpoint key of a graph variable (its op name)."""
    return variable.op.name


def check_matches(ckpt_prefix, shapes, variables):
    """UserError unless every graph variable is in ``shapes`` ({checkpoint name: shape}) with the same shape."""
    for variable in variables:
        name = variable_name(variable)
        expected = tuple(variable.get_shape().as_list())
        if name not in shapes:
            raise UserError('checkpoint %s does not fit the architecture: variable %s is missing (was it written '
                            'by another model or config?)' % (ckpt_prefix, name))
        shape = shapes[name]
        if shape != expected:
            raise UserError('checkpoint %s does not fit the architecture: %s has shape %s, the model expects %s '
                            '(check config.MODEL.width_mult / fpn / dual_mode, or the checkpoint\'s .arch.json)'
                            % (ckpt_prefix, name, list(shape), list(expected)))


def check_fits_arch(ckpt_prefix, arch):
    """UserError when the checkpoint's variables do not have the shapes of ``arch``'s model."""
    with tf.Graph().as_default():
        build_dsfd(tf.placeholder(tf.float32, [None, None, None, 3]), arch, (0., 0., 0.), (1., 1., 1.))
        check_matches(ckpt_prefix, read_shapes(ckpt_prefix), tf.global_variables())


def write_checkpoint(values, out_prefix):
    """Save {name: array} as a checkpoint at ``out_prefix`` (temp files renamed into place).

    No ``checkpoint`` state file and no meta graph are written, so a training folder's latest-checkpoint
    pointer is left alone.
    """
    with temp_dir(os.path.dirname(os.path.abspath(out_prefix)), 'ckpt') as staging:
        tmp_prefix = os.path.join(staging, 'ckpt')
        with tf.Graph().as_default():
            feeds, var_list = {}, {}
            for index, (name, value) in enumerate(values.items()):
                value = np.asarray(value)
                placeholder = tf.placeholder(tf.as_dtype(value.dtype), value.shape)
                var_list[name] = tf.Variable(placeholder, name='v%d' % index)
                feeds[placeholder] = value
            saver = tf.train.Saver(var_list=var_list, write_version=tf.train.SaverDef.V2)
            with tf.Session() as session:
                session.run(tf.global_variables_initializer(), feeds)
                saver.save(session, tmp_prefix, write_meta_graph=False, write_state=False)
        for path in glob.glob(tmp_prefix + '.*'):
            os.replace(path, out_prefix + path[len(tmp_prefix):])


def random_model_values(arch, seed=0):
    """{variable name: array} of a freshly initialised model of ``arch`` (the model's own initialisers, seeded):
    what benchmarks and tests freeze or prune without training."""
    with tf.Graph().as_default():
        tf.set_random_seed(seed)
        build_dsfd(tf.placeholder(tf.float32, [None, None, None, 3]), arch, (0., 0., 0.), (1., 1., 1.))
        variables = tf.global_variables()
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            arrays = session.run(variables)
    return collections.OrderedDict((variable_name(v), a) for v, a in zip(variables, arrays))


def arch_path(checkpoint_prefix):
    """Where a checkpoint keeps its architecture: ``<prefix>.arch.json``."""
    return checkpoint_prefix + '.arch.json'


def save_arch(checkpoint_prefix, arch):
    """Atomically write ``arch`` beside the checkpoint."""
    write_text(arch_path(checkpoint_prefix), arch.to_json() + '\n')


def load_arch(checkpoint_prefix, default):
    """The architecture saved beside the checkpoint, else ``default`` (the config's dense one); a field the
    config would reject (std 0, a mean of 2 values, a channel count < 1, NaN, an unknown field) is one UserError;
    what it changes of ``default`` (width, structure, normalisation) is logged in one line."""
    path = arch_path(checkpoint_prefix)
    if not os.path.isfile(path):
        return default
    try:
        with open(path) as f:
            fields = json.load(f)
    except ValueError as err:
        raise UserError('%s is not a valid architecture file (%s); it is written by training beside each '
                        'checkpoint' % (path, err))
    check_arch_fields(fields, path)
    arch = Architecture.from_dict(fields)
    changes = [] if default is None else arch.differences(default)
    if changes:
        log.info('%s overrides the config: %s', path, '; '.join(changes))
    return arch


def mask_path(ckpt_prefix):
    """Where channel selection keeps the kept channels of a checkpoint: ``<prefix>.mask.json``."""
    return ckpt_prefix + '.mask.json'


def copy_arch_file(ckpt_prefix, out_prefix):
    """Carry a slim checkpoint's ``.arch.json`` over to a rewritten copy of it (no-op for dense ones)."""
    if os.path.isfile(arch_path(ckpt_prefix)):
        with open(arch_path(ckpt_prefix)) as f:
            write_text(arch_path(out_prefix), f.read())
