"""Test helpers of the export/inference tests: tiny random DSFD checkpoints and hand-built frozen graphs."""
import copy
import os

import numpy as np
import tensorflow.compat.v1 as tf

from conftest import zip_same
from lib import checkpoint
from lib.config import dense_architecture, inference_graph, load_config
from lib.export.freeze import write_graph_def
from lib.model.dsfd import INPUT_NAME, OUTPUT_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_PATH = os.path.join(ROOT, 'pruned_train_config.py')


def tiny_config(width=0.125, score_thres=0.3, max_detect=50):
    """The repo config at a small width, with a low score threshold so a random model detects something."""
    config = copy.deepcopy(load_config(CONFIG_PATH))
    config.MODEL.width_mult = width
    config.TEST.score_thres = score_thres
    config.TEST.max_detect = max_detect
    return config


def random_checkpoint(config, prefix, arch=None, seed=0, bias_std=0.):
    """Save a randomly initialised model (plus training-only variables, as a trainer writes) at ``prefix``.

    ``bias_std`` > 0 gives every bias random values too (so zeroed channels are visible in the outputs);
    """
    values = checkpoint.random_model_values(arch or dense_architecture(config), seed)
    if bias_std:
        rng = np.random.RandomState(seed)
        for name, value in values.items():
            if name.endswith('biases'):
                values[name] = rng.normal(0, bias_std, value.shape).astype(np.float32)
    values['global_step'] = np.array(7, np.int64)
    values['unrelated/Momentum'] = np.ones(3, np.float32)
    checkpoint.write_checkpoint(values, prefix)
    return prefix


def calm_frozen_graph(folder, score_thres=0.6, reg_gain=1., pre_nms_top_k=None):
    """A frozen model with numpy-drawn weights (He-scaled; the same in both TF versions, whose own initialisers
    differ; biases start at zero in both) and classification weights x 0.02, so its few detections over
    ``score_thres`` (7 or 8 an image at 0.6) have well separated scores (a plain random model's saturate at 1.0,
    and the TF builds break those NMS ties differently); box regression weights x ``reg_gain`` (< 1: boxes near
    their anchors, inside the image, instead of clipped to its edges); ``pre_nms_top_k`` None: the config's. The
    golden files of tests/golden/original_wider come from this graph: regenerate them when it changes."""
    from lib.export.freeze import freeze_checkpoint
    config = tiny_config(score_thres=score_thres)
    config.TEST.pre_nms_top_k = pre_nms_top_k or config.TEST.pre_nms_top_k
    values = checkpoint.read_checkpoint(random_checkpoint(config, os.path.join(folder, 'random.ckpt')))
    rng = np.random.RandomState(0)
    for name, value in values.items():
        if name.endswith('weights'):
            value = rng.normal(0, np.sqrt(2. / np.prod(value.shape[:-1])), value.shape).astype(np.float32)
            values[name] = value * (0.02 if 'out_cla' in name else reg_gain if 'out_reg' in name else 1.)
    checkpoint.write_checkpoint(values, os.path.join(folder, 'calm.ckpt'))
    pb = os.path.join(folder, 'calm.pb')
    freeze_checkpoint(os.path.join(folder, 'calm.ckpt'), config, pb)
    return pb


def checkpoint_outputs(config, prefix, images, arch=None):
    """The inference outputs of a checkpoint run in a normal (unfrozen) session."""
    arch = arch or dense_architecture(config)
    with tf.Graph().as_default():
        placeholder, outputs, _ = inference_graph(config, arch)
        with tf.Session() as session:
            tf.train.Saver(var_list=tf.global_variables()).restore(session, prefix)
            return session.run(outputs, {placeholder: images})


def frozen_outputs(pb_path, images):
    """Run a frozen graph by its interface names."""
    from lib.inference.runtimes import load_graph_def
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(load_graph_def(pb_path), name='')
        with tf.Session() as session:
            values = session.run([name + ':0' for name in OUTPUT_NAMES],
                                 {INPUT_NAME + ':0': images})
    return dict(zip_same(OUTPUT_NAMES, values))


def _extent(mask, size):
    """First index and one past the last index where ``mask`` [N, L] is true."""
    as_int = tf.cast(mask, tf.int32)
    first = tf.argmax(as_int, axis=1, output_type=tf.int32)
    last = size - tf.argmax(tf.reverse(as_int, axis=[1]), axis=1, output_type=tf.int32)
    return tf.cast(first, tf.float32), tf.cast(last, tf.float32)


def fake_detector_pb(path, fixed=(), bright_score=0.6, junk_score=0.99):
    """A frozen graph with the detector interface and known outputs, written to ``path``.

    Detections, in this order: ``fixed`` [(x1, y1, x2, y2, score)] in network-input pixels; then, when the
    input has pixels brighter than 128, the bounding box of those pixels with ``bright_score``; then one junk
    box past num_detections (score ``junk_score``) that a reader must ignore.
    """
    with tf.Graph().as_default() as graph:
        images = tf.placeholder(tf.float32, [None, None, None, 3], name=INPUT_NAME)
        shape = tf.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        size = tf.cast(tf.stack([height, width, height, width]), tf.float32)
        bright = tf.reduce_max(images, axis=3) > 128.
        y1, y2 = _extent(tf.reduce_any(bright, axis=2), height)
        x1, x2 = _extent(tf.reduce_any(bright, axis=1), width)
        found = tf.reduce_any(bright, axis=[1, 2])
        bright_box = tf.stack([y1, x1, y2, x2], axis=1) / size
        fixed = np.array(fixed, np.float32).reshape(-1, 5)
        fixed_boxes = tf.tile(fixed[None, :, [1, 0, 3, 2]], [batch, 1, 1]) / size
        junk = tf.tile(tf.constant([[[0.1, 0.1, 0.2, 0.2]]]), [batch, 1, 1])
        boxes = tf.concat([fixed_boxes, bright_box[:, None], junk], axis=1)
        scores = tf.concat([tf.tile(fixed[None, :, 4], [batch, 1]),
                            tf.where(found, tf.fill([batch], bright_score), tf.zeros([batch]))[:, None],
                            tf.fill([batch, 1], junk_score)], axis=1)
        count = len(fixed) + tf.cast(found, tf.int32)
        tf.identity(boxes, name='boxes')
        tf.identity(scores, name='scores')
        tf.identity(count, name='num_detections')
        write_graph_def(graph.as_graph_def(), path)
    return path
