"""Checkpoint -> frozen inference graph (``detector.pb``), optionally a SavedModel too.

The inference graph is rebuilt from the config and the checkpoint's architecture (a slim checkpoint carries
``<ckpt>.arch.json``), the model variables are restored and folded into constants, and the GraphDef is
written atomically. Interface of the frozen graph: input ``images:0`` [N, H, W, 3] RGB (H, W multiples of
32), outputs ``boxes:0`` [N, K, 4] normalised (ymin, xmin, ymax, xmax), ``scores:0`` [N, K],
``num_detections:0`` [N]. The graph also answers to the original's names (``tower_0/images:0`` as input,
``tower_0/boxes|scores|labels|num_detections:0``, ``training_flag:0``), so the original's FaceDetector runs it.
The input normalisation is the checkpoint's own when its ``.arch.json`` carries one (converted checkpoints),
else the config's.
"""
import os

import tensorflow.compat.v1 as tf

from lib.checkpoint import load_arch, restore
from lib.common.errors import UserError
from lib.common.io import atomic_path, temp_dir, write_json
from lib.common.outputs import MARKER, check_parent_writable, made_by
from lib.config import dense_architecture, inference_graph
from lib.model.dsfd import INPUT_NAME, ORIGINAL_NAMES, OUTPUT_NAMES

SERVING_TAG = 'serve'
SERVING_SIGNATURE = 'serving_default'
SAVED_MODEL_TOOL = 'saved_model'


def checkpoint_arch(ckpt_prefix, config):
    """The architecture of a checkpoint: its ``.arch.json`` (slim or converted, with its normalisation) or the
    config's dense one."""
    return load_arch(ckpt_prefix, dense_architecture(config))


def _restore(session, ckpt_prefix):
    """Restore every variable of the inference graph; shape or name mismatches become one UserError."""
    saver = tf.train.Saver(var_list=tf.global_variables())
    try:
        restore(session, saver, ckpt_prefix)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as err:
        first_line = str(err.message).strip().split('\n')[0]
        raise UserError('checkpoint %s does not fit the architecture built from the config (%s); check '
                        'config.MODEL (width_mult, fpn, dual_mode, maxout) or, for a pruned checkpoint, pass '
                        '--slim' % (ckpt_prefix, first_line[:300]))
    except tf.errors.OpError as err:
        raise UserError('checkpoint %s is truncated or corrupt (%s: %s); use another checkpoint, e.g. the previous '
                        'epoch\'s' % (ckpt_prefix, type(err).__name__, str(err.message).strip().split('\n')[0][:200]))


def strip_default_attrs(graph_def):
    """``graph_def`` without attributes at their default values, so a graph frozen by TF 2.x also loads in
    TF 1.15 (e.g. MaxPool's ``explicit_paddings``, which 1.15 does not know)."""
    from tensorflow.python.framework import meta_graph  # not in tf.compat.v1; present in TF 1.15 and 2.x
    meta = tf.MetaGraphDef()
    meta.graph_def.CopyFrom(graph_def)
    meta_graph.strip_graph_default_valued_attrs(meta)
    return meta.graph_def


def frozen_graph_def(ckpt_prefix, config, arch=None):
    """The inference GraphDef of ``ckpt_prefix`` with its variables folded into constants."""
    arch = arch or checkpoint_arch(ckpt_prefix, config)
    with tf.Graph().as_default() as graph:
        inference_graph(config, arch)
        with tf.Session(graph=graph) as session:
            _restore(session, ckpt_prefix)
            frozen = tf.graph_util.convert_variables_to_constants(session, graph.as_graph_def(),
                                                                  list(OUTPUT_NAMES) + list(ORIGINAL_NAMES))
    return strip_default_attrs(frozen)


def write_graph_def(graph_def, output_path):
    """Serialise a GraphDef atomically; returns its size in bytes."""
    with atomic_path(output_path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(graph_def.SerializeToString())
    return os.path.getsize(output_path)


def check_saved_model_dir(export_dir):
    """A UserError unless ``export_dir`` is new, empty, or an earlier export (which may be replaced)."""
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise UserError('SavedModel folder %s is a file; choose a new folder' % export_dir)
    check_parent_writable(export_dir, '--saved_model')
    if os.path.isdir(export_dir) and os.listdir(export_dir) and not made_by(export_dir, SAVED_MODEL_TOOL):
        raise UserError('SavedModel folder %s exists, is not empty and is not an earlier export; choose a new '
                        'folder (nothing there is deleted)' % export_dir)


def write_saved_model(graph_def, export_dir):
    """A SavedModel of the frozen graph with a ``serving_default`` signature (what TF Serving loads).

    Built in a fresh temp folder beside ``export_dir`` (lib.common.io.temp_dir: a killed run's is removed by the
    next) with the output marker of lib.common.outputs, and renamed to it. An existing non-empty ``export_dir`` is an error unless it is an earlier export (it carries the marker):
    that one is moved aside, deleted once the new export is in place, and moved back if that fails.
    """
    export_dir = os.path.abspath(export_dir)
    check_saved_model_dir(export_dir)
    with temp_dir(os.path.dirname(export_dir), 'saved_model') as tmp_dir:
        staging, old = os.path.join(tmp_dir, 'export'), os.path.join(tmp_dir, 'old')
        with tf.Graph().as_default() as graph:
            tf.import_graph_def(graph_def, name='')
            tensor = lambda name: graph.get_tensor_by_name(name + ':0')  # noqa: E731
            signature = tf.saved_model.signature_def_utils.predict_signature_def(
                inputs={INPUT_NAME: tensor(INPUT_NAME)}, outputs={n: tensor(n) for n in OUTPUT_NAMES})
            with tf.Session(graph=graph) as session:
                builder = tf.saved_model.builder.SavedModelBuilder(staging)
                builder.add_meta_graph_and_variables(session, [SERVING_TAG], strip_default_attrs=True,
                                                     signature_def_map={SERVING_SIGNATURE: signature})
                builder.save()
        write_json(os.path.join(staging, MARKER), {'tool': SAVED_MODEL_TOOL})
        if os.path.isdir(export_dir):
            os.rename(export_dir, old)  # empty, or ours (replace)
        try:
            os.rename(staging, export_dir)
        except OSError:
            if os.path.isdir(old):
                os.rename(old, export_dir)
            raise


def freeze_checkpoint(ckpt_prefix, config, output_path, arch=None, saved_model_dir=None):
    """Freeze ``ckpt_prefix`` into ``output_path`` (and a SavedModel when asked); returns what was written.

    ``arch`` defaults to the checkpoint's own (``<ckpt>.arch.json`` for a slim one, else the config's dense).
    """
    graph_def = frozen_graph_def(ckpt_prefix, config, arch)
    size = write_graph_def(graph_def, output_path)
    if saved_model_dir:
        write_saved_model(graph_def, saved_model_dir)
    return {'checkpoint': ckpt_prefix, 'output_path': output_path, 'file_size': size,
            'input': INPUT_NAME + ':0', 'outputs': [name + ':0' for name in OUTPUT_NAMES],
            'saved_model_dir': saved_model_dir}
