"""ONNX and TFLite exports of a frozen detector and FaceDetector over every runtime.

A random small model (width 0.125, biases randomised so it detects something) stands in here: the equality
of runtimes is a property of the conversion, not of the weights; the same check on the model trained by the
end-to-end test, and int8's AP, are in test_end_to_end.py. Two conversions in all (module-scoped).
"""
import os

import numpy as np
import pytest

from conftest import zip_same
from export_graphs import random_checkpoint, tiny_config
from lib.common.errors import UserError
from lib.common.optional import import_optional
from lib.inference.detector import FaceDetector
from lib.inference.nms import batched_nms, nms

INPUT_SIZE = (128, 128)


def runtime_available(module):
    try:
        import_optional(module, 'test')
        return True
    except UserError:
        return False


needs_onnx = pytest.mark.skipif(not runtime_available('tf2onnx') or not runtime_available('onnxruntime'),
                                reason='requirements-export.txt not installed (modern environment only)')
needs_tflite = pytest.mark.skipif(not runtime_available('ai_edge_litert.interpreter'),
                                  reason='requirements-export.txt not installed (modern environment only)')


@pytest.fixture(scope='module')
def frozen(tmp_path_factory):
    """(graph_def, path of detector.pb) of a random small model."""
    from lib.export.freeze import frozen_graph_def, write_graph_def
    folder = tmp_path_factory.mktemp('deploy')
    config = tiny_config(0.125, score_thres=0.05, max_detect=100)
    ckpt = random_checkpoint(config, str(folder / 'model.ckpt'), bias_std=0.1)
    graph_def = frozen_graph_def(ckpt, config)
    pb = str(folder / 'detector.pb')
    write_graph_def(graph_def, pb)
    return graph_def, pb


@pytest.fixture(scope='module')
def onnx_path(frozen):
    from lib.export.onnx_export import write_onnx
    path = frozen[1][:-3] + '.onnx'
    write_onnx(frozen[0], path)
    return path


@pytest.fixture(scope='module')
def tflite_path(frozen):
    from lib.export.tflite_export import write_tflite
    path = frozen[1][:-3] + '_fp32.tflite'
    write_tflite(frozen[0], path, 'fp32', INPUT_SIZE)
    return path


def sample_images():
    rng = np.random.RandomState(3)
    return [rng.randint(0, 256, (100, 128, 3)).astype(np.uint8), rng.randint(0, 256, (128, 70, 3)).astype(np.uint8),
            rng.randint(0, 256, (64, 64, 3)).astype(np.uint8)]


def assert_same_detections(got, expected):
    assert sum(len(d) for d in expected) > 10
    for g, e in zip_same(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g[:, 4], e[:, 4], atol=1e-4)
        np.testing.assert_allclose(g[:, :4], e[:, :4], atol=1e-3)


def detections(path, input_size):
    with FaceDetector(path, threads=2) as detector:
        return detector.detect_batch(sample_images(), 0.05, input_size)


@needs_onnx
def test_onnx_equals_the_pb_with_dynamic_shapes(frozen, onnx_path):
    import onnxruntime
    session = onnxruntime.InferenceSession(onnx_path, providers=['CPUExecutionProvider'])
    assert [i.name for i in session.get_inputs()] == ['images']
    assert [o.name for o in session.get_outputs()] == ['boxes', 'scores', 'num_detections']
    for size in (None, INPUT_SIZE):  # padded to 128x128, then letterboxed; batch of 3
        assert_same_detections(detections(onnx_path, size), detections(frozen[1], size))


@needs_tflite
def test_tflite_fp32_equals_the_pb_at_its_fixed_size(frozen, tflite_path):
    expected = detections(frozen[1], INPUT_SIZE)
    assert_same_detections(detections(tflite_path, None), expected)
    assert_same_detections(detections(tflite_path, INPUT_SIZE), expected)
    with FaceDetector(tflite_path) as detector:
        assert detector.input_size == INPUT_SIZE
        with pytest.raises(UserError, match='fixed input size'):
            detector.detect(sample_images()[0], input_size=(64, 64))


@needs_tflite
def test_tflite_threads_default_to_every_usable_cpu(tflite_path, monkeypatch):
    """LiteRT's own default (-1) gives XNNPACK no thread pool: None must mean every usable CPU, as for a .pb."""
    import ai_edge_litert.interpreter as module
    seen = []

    class Recording(module.Interpreter):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs.get('num_threads'))
            super(Recording, self).__init__(*args, **kwargs)
    monkeypatch.setattr(module, 'Interpreter', Recording)
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 2, 5}, raising=False)
    for threads in (None, 1, 4):
        FaceDetector(tflite_path, threads=threads).close()
    assert seen == [3, 1, 4]


@needs_onnx
@needs_tflite
def test_bad_or_truncated_files_give_one_line(tmp_path, onnx_path, tflite_path):
    for good in (onnx_path, tflite_path):
        with open(good, 'rb') as f:
            data = f.read()
        for name, content in (('truncated', data[:len(data) // 3]), ('junk', b'\x07not a model' * 50),
                              ('empty', b'')):
            path = tmp_path / (name + good[good.rindex('.'):])
            path.write_bytes(content)
            with pytest.raises(UserError) as err:
                FaceDetector(str(path))
            assert str(path) in str(err.value) and '\n' not in str(err.value)
    with pytest.raises(UserError, match='unknown model type'):
        FaceDetector(str(tmp_path / 'model.h5'))
    with pytest.raises(UserError, match='not found'):
        FaceDetector(str(tmp_path / 'missing.onnx'))


def test_a_missing_optional_module_is_one_line():
    with pytest.raises(UserError, match='requirements-export.txt') as err:
        import_optional('no_such_module_xyz', 'ONNX export')
    assert '\n' not in str(err.value)


def test_host_nms_equals_the_graphs_combined_nms():
    import tensorflow.compat.v1 as tf
    rng = np.random.RandomState(0)
    corners = rng.uniform(-0.1, 1.1, (2, 300, 2, 2))
    boxes = np.concatenate([corners.min(axis=2), corners.min(axis=2) + rng.uniform(0.01, 0.3, (2, 300, 2))],
                           axis=2).astype(np.float32)
    boxes[1, :50] = boxes[1, :50, [2, 3, 0, 1]].T  # some boxes with swapped corners
    scores = rng.uniform(0, 1, (2, 300)).astype(np.float32)
    with tf.Graph().as_default(), tf.Session() as session:
        expected = session.run(tf.image.combined_non_max_suppression(
            boxes[:, :, None], scores[:, :, None], 40, 40, iou_threshold=0.3, score_threshold=0.2, clip_boxes=True))
    got = batched_nms(boxes, scores, 0.3, 0.2, 40)
    np.testing.assert_array_equal(got[2], expected[3])
    np.testing.assert_allclose(got[1], expected[1], atol=1e-6)
    np.testing.assert_allclose(got[0], expected[0], atol=1e-6)


def test_host_nms_on_the_thresholds_equals_tfs():
    # IoU exactly 0.5 (a half of box 0) is kept, a score exactly at the threshold is dropped, as the frozen graph's
    # combined NMS does (TF 1.15's single-class non_max_suppression suppresses at 0.5; the graph does not use it).
    import tensorflow.compat.v1 as tf
    boxes = np.array([[0., 0., .5, .5], [0., 0., .5, .25], [.6, .6, .9, .9]], np.float32)
    scores = np.array([.9, .8, .25], np.float32)
    with tf.Graph().as_default(), tf.Session() as session:
        combined = session.run(tf.image.combined_non_max_suppression(
            boxes[None, :, None], scores[None, :, None], 10, 10, iou_threshold=.5, score_threshold=.25,
            clip_boxes=True))
    assert combined[3][0] == 2
    got = batched_nms(boxes[None], scores[None], .5, .25, 10)
    assert got[2][0] == 2
    np.testing.assert_array_equal(got[1][0, :2], np.float32([.9, .8]))
    np.testing.assert_allclose(got[0][0, :2], combined[0][0, :2])
    np.testing.assert_array_equal(nms(boxes, scores, .5, .25, 10), [0, 1])


def test_host_nms_on_zero_area_and_low_score_boxes_equals_tfs():
    # Zero-area boxes (one twice) overlap nothing, so both stay; the copy of box 0 goes; 0.1 is under the threshold.
    import tensorflow.compat.v1 as tf
    boxes = np.array([[0., 0., .5, .5], [.2, .2, .2, .4], [.2, .2, .2, .4], [0., 0., .5, .5], [.6, .6, .9, .9]],
                     np.float32)
    scores = np.array([.9, .8, .7, .6, .1], np.float32)
    with tf.Graph().as_default(), tf.Session() as session:
        combined = session.run(tf.image.combined_non_max_suppression(
            boxes[None, :, None], scores[None, :, None], 10, 10, iou_threshold=.5, score_threshold=.25,
            clip_boxes=True))
    assert combined[3][0] == 3
    np.testing.assert_array_equal(nms(boxes, scores, .5, .25, 10), [0, 1, 2])
    np.testing.assert_array_equal(nms(boxes, scores, .5, .25, 2), [0, 1])
    got = batched_nms(boxes[None], scores[None], .5, .25, 10)
    np.testing.assert_allclose(got[0][0, :3], combined[0][0, :3])
    np.testing.assert_array_equal(got[1][0, :3], combined[1][0, :3])


def auto_freeze(*args):
    """Run tools/auto_freeze.py; (exit code, its error lines)."""
    import subprocess
    import sys
    from conftest import ROOT
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'auto_freeze.py')] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    errors = [line for line in result.stderr.decode('utf-8', 'replace').splitlines() if line.startswith('error:')]
    return result.returncode, errors  # TF 2.x prints C++ start-up lines to stderr too: keep the tool's own


def test_auto_freeze_deploy_flags_fail_in_one_line(tmp_path):
    code, err = auto_freeze('--ckpt_path', 'x', '--output_path', str(tmp_path), '--tflite=fp32,fp8')
    assert code == 2 and len(err) == 1 and 'fp8' in err[0]
    if not runtime_available('tf2onnx'):  # the reference environment: says where ONNX is exported
        code, err = auto_freeze('--ckpt_path', 'x', '--output_path', str(tmp_path), '--onnx')
        assert code == 2 and len(err) == 1 and 'requirements-export.txt' in err[0]
    assert not os.listdir(str(tmp_path))


def test_host_nms_stops_at_max_detections_above_256():
    # 400 disjoint boxes (a 20 x 20 grid), all above the threshold: exactly the 300 best are kept, best first.
    ys, xs = np.mgrid[0:20, 0:20] / 20.
    boxes = np.stack([ys.ravel(), xs.ravel(), ys.ravel() + .04, xs.ravel() + .04], 1).astype(np.float32)
    scores = np.linspace(.99, .5, 400).astype(np.float32)
    np.testing.assert_array_equal(nms(boxes, scores, .3, .2, 300), np.arange(300))
