"""Read a whole checkpoint into numpy, check it against a built model, and write arrays back as a checkpoint.

Pruning rewrites checkpoints variable by variable (zeroing or slicing), so it works on plain arrays
instead of a model graph; the written checkpoint restores into any graph with the same names and shapes.
"""
import collections
import glob
import os
import shutil
import tempfile

import numpy as np
import tensorflow.compat.v1 as tf

from lib.helper.errors import UserError
from lib.helper.io import write_text
from lib.model.arch import arch_path


def require_checkpoint(ckpt_prefix):
    """A UserError unless ``<ckpt_prefix>.index`` exists."""
    if not os.path.isfile(ckpt_prefix + '.index'):
        raise UserError('checkpoint not found: %s (expected %s.index and %s.data-* beside it)'
                        % (ckpt_prefix, ckpt_prefix, ckpt_prefix))


def read_checkpoint(ckpt_prefix):
    """{variable name: numpy array} of every variable in the checkpoint, sorted by name."""
    require_checkpoint(ckpt_prefix)
    reader = tf.train.NewCheckpointReader(ckpt_prefix)
    names = sorted(reader.get_variable_to_shape_map())
    return collections.OrderedDict((name, reader.get_tensor(name)) for name in names)


def read_shapes(ckpt_prefix):
    """{variable name: shape tuple} of the checkpoint, without reading the values."""
    require_checkpoint(ckpt_prefix)
    shapes = tf.train.NewCheckpointReader(ckpt_prefix).get_variable_to_shape_map()
    return {name: tuple(shape) for name, shape in shapes.items()}


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
    from lib.pruning.registry import build_model_graph
    graph = build_model_graph(arch)[0]
    with graph.as_default():
        check_matches(ckpt_prefix, read_shapes(ckpt_prefix), tf.global_variables())


def write_checkpoint(values, out_prefix):
    """Save {name: array} as a checkpoint at ``out_prefix`` (temp files renamed into place).

    No ``checkpoint`` state file and no meta graph are written, so a training folder's latest-checkpoint
    pointer is left alone.
    """
    directory = os.path.dirname(os.path.abspath(out_prefix))
    os.makedirs(directory, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.ckpt.', dir=directory)
    try:
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
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def copy_arch_file(ckpt_prefix, out_prefix):
    """Carry a slim checkpoint's ``.arch.json`` over to a rewritten copy of it (no-op for dense ones)."""
    if os.path.isfile(arch_path(ckpt_prefix)):
        with open(arch_path(ckpt_prefix)) as f:
            write_text(arch_path(out_prefix), f.read())
