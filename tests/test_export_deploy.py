"""ONNX, OpenVINO and TFLite exports of a frozen detector and FaceDetector over every runtime.

A random small model (width 0.125, biases randomised so it detects something) stands in here: the equality
of runtimes is a property of the conversion, not of the weights; the same check on the model trained by the
end-to-end test, and int8's AP, are in test_end_to_end.py. Each conversion runs once (module-scoped); the int8
files here are checked for being int8 where intended, their detections against fp32 loosely (random weights).
"""
import os
import shutil

import numpy as np
import pytest

from conftest import zip_same
from export_graphs import calm_frozen_graph, random_checkpoint, tiny_config
from lib.common.errors import UserError
from lib.common.optional import import_optional
from lib.inference.detector import FaceDetector
from lib.inference.nms import batched_nms, nms

INPUT_SIZE = (128, 128)
PRE_NMS_TOP_K = 300  # of 1,365 anchors at 128x128, nearly all over the threshold: every runtime keeps the top-k


def runtime_available(module):
    try:
        import_optional(module, 'test')
        return True
    except UserError:
        return False


needs_onnx = pytest.mark.skipif(not runtime_available('tf2onnx') or not runtime_available('onnxruntime'),
                                reason='requirements-export.txt not installed (modern environment only)')
needs_openvino = pytest.mark.skipif(not runtime_available('tf2onnx') or not runtime_available('openvino')
                                    or not runtime_available('nncf'),
                                    reason='requirements-export.txt not installed (modern environment only)')
needs_tflite = pytest.mark.skipif(not runtime_available('ai_edge_litert.interpreter'),
                                  reason='requirements-export.txt not installed (modern environment only)')


@pytest.fixture(scope='module')
def frozen(tmp_path_factory):
    """(graph_def, path of detector.pb) of a random small model."""
    from lib.export.freeze import frozen_graph_def, write_graph_def
    folder = tmp_path_factory.mktemp('deploy')
    config = tiny_config(0.125, score_thres=0.05, max_detect=100)
    config.TEST.pre_nms_top_k = PRE_NMS_TOP_K
    ckpt = random_checkpoint(config, str(folder / 'model.ckpt'), bias_std=0.1)
    graph_def = frozen_graph_def(ckpt, config)
    pb = str(folder / 'detector.pb')
    write_graph_def(graph_def, pb)
    return graph_def, pb


@pytest.fixture(scope='module')
def calm(tmp_path_factory):
    """The graph_def of a frozen model whose scores do not tie (tests/export_graphs.calm_frozen_graph), nearly
    all anchors over the threshold (0.05), and a pre-NMS top-k of 60 (of 1,365 anchors: fewer than max_detect 50
    stay)."""
    from lib.inference.runtimes import load_graph_def
    return load_graph_def(calm_frozen_graph(str(tmp_path_factory.mktemp('calm')), 0.05, pre_nms_top_k=60))


@pytest.fixture(scope='module')
def onnx_path(frozen):
    from lib.export.onnx_export import write_onnx
    path = frozen[1][:-3] + '.onnx'
    write_onnx(frozen[0], path)
    return path


@pytest.fixture(scope='module')
def xml_path(onnx_path):
    from lib.export.openvino_export import convert_onnx_to_openvino, openvino_name
    path = os.path.join(os.path.dirname(onnx_path), openvino_name('fp32'))
    convert_onnx_to_openvino(onnx_path, path, 'fp32')
    return path


def calibration():
    """Letterboxed calibration inputs for the int8 files (the sample images at INPUT_SIZE)."""
    from lib.export.deploy_graph import calibration_inputs
    return calibration_inputs(sample_images(), INPUT_SIZE, [123.675, 116.28, 103.53])


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


@needs_openvino
def test_openvino_fp32_equals_the_pb_with_dynamic_shapes(frozen, xml_path):
    import openvino as ov
    from lib.common.io import umask_mode
    from lib.export.deploy_graph import graph_settings, parse_metadata
    from lib.inference.runtimes import OpenVINORuntime
    model = ov.Core().read_model(xml_path)
    assert [i.get_any_name() for i in model.inputs] == ['images']
    assert [o.get_any_name() for o in model.outputs] == ['boxes', 'scores', 'num_detections']
    assert str(model.inputs[0].get_partial_shape()) == '[?,?,?,3]'
    constants = [op for op in model.get_ops() if op.get_type_name() == 'Constant']
    assert 'f16' not in {str(op.get_element_type()) for op in constants}  # weights kept f32
    settings = parse_metadata(model.get_rt_info(['dsfd']).astype(str), xml_path)
    np.testing.assert_allclose(settings['pixel_mean'], graph_settings(frozen[0])['pixel_mean'])
    for path in (xml_path, xml_path[:-4] + '.bin'):
        assert os.stat(path).st_mode & 0o777 == umask_mode()
    assert not [name for name in os.listdir(os.path.dirname(xml_path)) if name.startswith('.')]
    runtime = OpenVINORuntime(xml_path, threads=2)
    assert runtime.model.get_property('INFERENCE_PRECISION_HINT') == ov.Type.f32
    assert runtime.model.get_property('INFERENCE_NUM_THREADS') == 2
    for size in (None, INPUT_SIZE):  # padded to 128x128 (batch of 3), then letterboxed
        assert_same_detections(detections(xml_path, size), detections(frozen[1], size))


@needs_openvino
def test_openvino_compiles_a_shape_seen_twice_for_that_shape(xml_path):
    """The second batch of a shape runs on a model compiled for it (same detections as the dynamic one); the
    least recently used compiled shape goes first; static_shapes=0 keeps everything dynamic."""
    from lib.inference.runtimes import OpenVINORuntime
    runtime = OpenVINORuntime(xml_path, threads=2, static_shapes=1)
    rng = np.random.RandomState(0)
    first, second = rng.uniform(0, 255, (2, 96, 128, 3)), rng.uniform(0, 255, (1, 64, 160, 3))
    dynamic = runtime.run(first)
    assert not runtime.compiled
    static = runtime.run(first)
    assert list(runtime.compiled) == [(2, 96, 128, 3)]
    compiled_input = runtime.compiled[(2, 96, 128, 3)].model_inputs[0]
    assert str(compiled_input.get_partial_shape()) == '[2,96,128,3]'
    for want, got in zip_same(dynamic, static):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    runtime.run(second)
    assert list(runtime.compiled) == [(2, 96, 128, 3)]
    runtime.run(second)
    assert list(runtime.compiled) == [(1, 64, 160, 3)]
    plain = OpenVINORuntime(xml_path, threads=2, static_shapes=0)
    for _ in range(3):
        plain.run(second)
    assert not plain.compiled


def conv_weight_quantizers(model):
    """{Conv node name: (its weight's QuantizeLinear/DequantizeLinear axis, scale count)} of a QDQ ONNX model."""
    nodes = {output: node for node in model.graph.node for output in node.output}
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    found = {}
    for node in model.graph.node:
        if node.op_type != 'Conv' or node.input[1] not in nodes:
            continue
        dequantize = nodes[node.input[1]]
        if dequantize.op_type == 'DequantizeLinear':
            axis = [a.i for a in dequantize.attribute if a.name == 'axis']
            found[node.name] = (axis[0] if axis else None, int(np.prod(initializers[dequantize.input[1]].dims)),
                                initializers[dequantize.input[0]].data_type)
    return found


@needs_onnx
def test_onnx_int8_quantizes_the_convolutions_per_channel(frozen, onnx_path, tmp_path):
    import onnx
    from lib.export.onnx_export import quantize_onnx
    path = str(tmp_path / 'detector_int8.onnx')
    quantize_onnx(onnx_path, path, calibration())
    fp32, int8 = onnx.load(onnx_path), onnx.load(path)
    convs = [node for node in fp32.graph.node if node.op_type == 'Conv']
    weights = {tensor.name: tensor for tensor in fp32.graph.initializer}
    quantized = conv_weight_quantizers(int8)
    assert len(quantized) == len(convs) > 20
    for conv in convs:  # int8 weights, one scale per output channel (axis 0 of an ONNX Conv weight)
        axis, scales, data_type = quantized[conv.name]
        assert (axis, scales, data_type) == (0, weights[conv.input[1]].dims[0], onnx.TensorProto.INT8)
    # activations are quantized only where a convolution reads or writes them (onnxruntime runs a Conv in int8
    # when its output is quantized too); the box decoding and NMS read float
    producers = {name: node.op_type for node in int8.graph.node for name in node.output}
    readers = {}
    for node in int8.graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type)
    constants = {tensor.name for tensor in int8.graph.initializer}
    quantized = [(node.input[0], node.output[0]) for node in int8.graph.node
                 if node.op_type == 'QuantizeLinear' and node.input[0] not in constants]
    dequantized = {node.input[0]: node.output[0] for node in int8.graph.node if node.op_type == 'DequantizeLinear'}
    assert len(quantized) >= len(convs)
    for tensor, q in quantized:
        assert producers.get(tensor) == 'Conv' or 'Conv' in readers[dequantized[q]], tensor
    assert not [node.name for node in int8.graph.node if node.op_type in ('Softmax', 'Exp', 'NonMaxSuppression')
                and set(node.input) & set(dequantized.values())]
    metadata = [{p.key: p.value for p in model.metadata_props}['dsfd'] for model in (fp32, int8)]
    assert metadata[0] == metadata[1]
    assert_close_detections(detections(path, INPUT_SIZE), detections(frozen[1], INPUT_SIZE))


@needs_openvino
def test_openvino_int8_quantizes_the_convolutions(frozen, onnx_path, tmp_path):
    import openvino as ov
    from lib.export.openvino_export import convert_onnx_to_openvino
    path = str(tmp_path / 'detector_int8.xml')
    convert_onnx_to_openvino(onnx_path, path, 'int8', calibration())
    model = ov.Core().read_model(path)
    convs = [op for op in model.get_ops() if op.get_type_name() == 'Convolution']
    fed = {}  # op type -> inputs fed by a FakeQuantize
    for op in model.get_ops():
        if op.get_type_name() == 'FakeQuantize':
            for target in op.output(0).get_target_inputs():
                node = target.get_node()
                fed.setdefault(node.get_type_name(), set()).add(node.get_friendly_name())
    # every convolution's activation input is quantized; nothing else (decoding, NMS inputs) is (ShapeOf reads
    # only a tensor's shape)
    assert set(fed) <= {'Convolution', 'ShapeOf'} and len(fed.get('Convolution', ())) == len(convs) > 20
    import onnx
    metadata = {p.key: p.value for p in onnx.load(onnx_path).metadata_props}
    assert model.get_rt_info(['dsfd']).astype(str) == metadata['dsfd']
    assert_close_detections(detections(path, INPUT_SIZE), detections(frozen[1], INPUT_SIZE))


def assert_close_detections(got, expected):
    """int8 against fp32 on random weights (no accuracy to keep, so loosely: the AP check is the end-to-end
    test's): the same number of detections give or take a fifth, and most fp32 boxes found again (IoU >= 0.5)
    with a score within 0.1."""
    from lib.evaluation.box_overlaps import bbox_overlaps
    matched = total = 0
    for g, e in zip_same(got, expected):
        assert abs(len(g) - len(e)) <= max(3, 0.2 * len(e))
        if len(g) and len(e):
            overlaps = bbox_overlaps(e[:, :4].astype(np.float64), g[:, :4].astype(np.float64))
            best = overlaps.argmax(axis=1)
            matched += int(np.sum((overlaps.max(axis=1) >= 0.5) & (np.abs(g[best, 4] - e[:, 4]) <= 0.1)))
        total += len(e)
    assert total > 10 and matched >= 0.6 * total, (matched, total)


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
@needs_openvino
def test_bad_or_truncated_files_give_one_line(tmp_path, onnx_path, tflite_path, xml_path):
    for good in (onnx_path, tflite_path, xml_path, xml_path[:-4] + '.bin'):
        with open(good, 'rb') as f:
            data = f.read()
        for name, content in (('truncated', data[:len(data) // 3]), ('junk', b'\x07not a model' * 50),
                              ('empty', b'')):
            path = tmp_path / (name + good[good.rindex('.'):])
            path.write_bytes(content)
            if good.endswith('.bin'):  # a good .xml beside a bad .bin
                shutil.copy(xml_path, str(path)[:-4] + '.xml')
                path = tmp_path / (name + '.xml')
            with pytest.raises(UserError) as err:
                FaceDetector(str(path))
            assert str(path) in str(err.value) and '\n' not in str(err.value)
    for name, outputs, expected in (('foreign', ['y'], 'outputs y, expected boxes'),
                                    ('bare', ['boxes', 'scores', 'num_detections'], "lacks the 'dsfd' metadata")):
        path = tiny_ir(str(tmp_path / (name + '.xml')), outputs)
        with pytest.raises(UserError, match=expected) as err:
            FaceDetector(path)
        assert path in str(err.value) and '\n' not in str(err.value)
    shutil.copy(xml_path, str(tmp_path / 'alone.xml'))  # no .bin beside it
    with pytest.raises(UserError, match='alone.xml'):
        FaceDetector(str(tmp_path / 'alone.xml'))
    with pytest.raises(UserError, match='unknown model type'):
        FaceDetector(str(tmp_path / 'model.h5'))
    with pytest.raises(UserError, match='not found'):
        FaceDetector(str(tmp_path / 'missing.onnx'))


def tiny_ir(path, outputs):
    """An OpenVINO IR images -> ``outputs`` (each a ReLU), without our metadata."""
    import openvino as ov
    images = ov.opset13.parameter([-1, -1, -1, 3], ov.Type.f32, name='images')
    images.output(0).set_names({'images'})
    results = []
    for name in outputs:
        relu = ov.opset13.relu(images)
        relu.output(0).set_names({name})
        results.append(relu)
    ov.save_model(ov.Model(results, [images]), path)
    return path


def test_a_missing_optional_module_is_one_line():
    with pytest.raises(UserError, match='requirements-export.txt') as err:
        import_optional('no_such_module_xyz', 'ONNX export')
    assert '\n' not in str(err.value)


@pytest.mark.parametrize('top_k', [None, 60])
def test_host_nms_equals_the_graphs_combined_nms(top_k):
    import tensorflow.compat.v1 as tf
    rng = np.random.RandomState(0)
    corners = rng.uniform(-0.1, 1.1, (2, 300, 2, 2))
    boxes = np.concatenate([corners.min(axis=2), corners.min(axis=2) + rng.uniform(0.01, 0.3, (2, 300, 2))],
                           axis=2).astype(np.float32)
    boxes[1, :50] = boxes[1, :50, [2, 3, 0, 1]].T  # some boxes with swapped corners
    scores = rng.uniform(0, 1, (2, 300)).astype(np.float32)
    with tf.Graph().as_default(), tf.Session() as session:
        kept = tf.math.top_k(scores, top_k or 300).indices  # the frozen graph's pre-NMS top-k
        expected = session.run(tf.image.combined_non_max_suppression(
            tf.gather(boxes, kept, batch_dims=1)[:, :, None], tf.gather(scores, kept, batch_dims=1)[:, :, None],
            200, 200, iou_threshold=0.3, score_threshold=0.2, clip_boxes=True))
    got = batched_nms(boxes, scores, 0.3, 0.2, 200, top_k)
    assert list(expected[3]) == ([151, 141] if top_k is None else [52, 50])  # the cap dropped some
    np.testing.assert_array_equal(got[2], expected[3])
    np.testing.assert_allclose(got[1], expected[1], atol=1e-6)
    np.testing.assert_allclose(got[0], expected[0], atol=1e-6)


def run_graph(graph, feeds, fetches):
    import tensorflow.compat.v1 as tf
    with tf.Session(graph=graph) as session:
        return session.run(fetches, feeds)


def test_raw_graph_and_host_nms_give_the_frozen_graphs_detections(calm):
    """The raw graph undoes the graph's top-k (every anchor, in anchor order); the host keeps it again from the
    settings: the frozen graph's detections, which the cap changed."""
    from lib.export.deploy_graph import graph_settings, raw_detection_graph
    from lib.model.dsfd import INPUT_NAME, OUTPUT_NAMES
    import tensorflow.compat.v1 as tf
    settings = graph_settings(calm)
    assert settings['pre_nms_top_k'] == 60 and settings['max_detections'] == 50
    image = sample_images()[0][:, :, :3].astype(np.float32)
    image = np.pad(image, [(14, 14), (0, 0), (0, 0)], 'constant')[None]  # 128 x 128
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(calm, name='')
    expected = run_graph(graph, {INPUT_NAME + ':0': image}, [name + ':0' for name in OUTPUT_NAMES])
    graph, images, boxes, scores = raw_detection_graph(calm, INPUT_SIZE)
    boxes, scores = run_graph(graph, {images: image}, [boxes, scores])
    assert boxes.shape == (1, 1365, 4) and scores.shape == (1, 1365)
    assert (scores > settings['score_threshold']).sum() > 1000
    nms_settings = (settings['iou_threshold'], settings['score_threshold'], settings['max_detections'])
    got = batched_nms(boxes, scores, *(nms_settings + (settings['pre_nms_top_k'],)))
    assert got[2][0] == expected[2][0] > 10
    np.testing.assert_allclose(got[1], expected[1], atol=1e-6)
    np.testing.assert_allclose(got[0], expected[0], atol=1e-6)
    assert batched_nms(boxes, scores, *nms_settings)[2][0] == 50  # more without the cap


def test_network_graph_is_the_frozen_graphs_network(frozen):
    """Its outputs are the frozen graph's named raw head outputs; their softmax is the raw graph's scores."""
    from lib.export.deploy_graph import network_graph, raw_detection_graph
    from lib.model.dsfd import INPUT_NAME, NETWORK_OUTPUTS
    import tensorflow.compat.v1 as tf
    image = np.random.RandomState(1).uniform(0, 255, (1, 128, 128, 3)).astype(np.float32)
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(frozen[0], name='')
    expected = run_graph(graph, {INPUT_NAME + ':0': image}, [name + ':0' for name in NETWORK_OUTPUTS])
    graph, images, outputs = network_graph(frozen[0], INPUT_SIZE)
    assert [t.name for t in outputs] == [name + ':0' for name in NETWORK_OUTPUTS]
    assert not [op for op in graph.get_operations() if op.type in ('CombinedNonMaxSuppression', 'TopKV2')]
    deltas, logits = run_graph(graph, {images: image}, outputs)
    assert deltas.shape == (1, 1365, 4) and logits.shape == (1, 1365, 2)
    np.testing.assert_array_equal(deltas, expected[0])
    np.testing.assert_array_equal(logits, expected[1])
    graph, images, _, scores = raw_detection_graph(frozen[0], INPUT_SIZE)
    face = np.exp(logits[..., 1]) / np.exp(logits).sum(axis=-1)
    np.testing.assert_allclose(run_graph(graph, {images: image}, scores), face, rtol=1e-5, atol=1e-6)


def test_a_graph_frozen_before_the_top_k_keeps_every_anchor(tmp_path):
    """No pre_nms_top_k in it: the settings say None (no cap on the host), the raw graph is its NMS inputs, and
    the network alone cannot be cut out of it (one line)."""
    from lib.export.deploy_graph import graph_settings, network_graph, raw_detection_graph
    import tensorflow.compat.v1 as tf
    with tf.Graph().as_default() as graph:
        images = tf.placeholder(tf.float32, [None, None, None, 3], name='images')
        boxes = tf.reshape(tf.reduce_mean(images, axis=3) / 255., [tf.shape(images)[0], -1, 1, 1]) * [1., 1., 2., 2.]
        scores = tf.reshape(tf.reduce_max(images, axis=3) / 255., [tf.shape(images)[0], -1, 1])
        tf.image.combined_non_max_suppression(boxes, scores, 5, 5, 0.4, 0.1)
    settings = graph_settings(graph.as_graph_def())
    assert settings['pre_nms_top_k'] is None and settings['max_detections'] == 5
    graph, images, boxes, scores = raw_detection_graph(graph.as_graph_def(), (4, 6))
    image = np.random.RandomState(2).uniform(0, 255, (1, 4, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(run_graph(graph, {images: image}, scores), image.max(axis=3).reshape(1, 24) / 255.,
                               rtol=1e-6)
    with pytest.raises(UserError, match='network_deltas, network_logits .*re-freeze') as err:
        network_graph(graph.as_graph_def(), (4, 6))
    assert '\n' not in str(err.value)


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
    # (bad --onnx / --openvino kinds: rows of test_bad_inputs.py)
    code, err = auto_freeze('--ckpt_path', 'x', '--output_path', str(tmp_path), '--tflite=fp32,fp8')
    assert code == 2 and len(err) == 1 and 'fp8' in err[0]
    if not runtime_available('tf2onnx'):  # the reference environment: says where ONNX and OpenVINO are exported
        for flag in ('--onnx', '--openvino=fp32'):
            code, err = auto_freeze('--ckpt_path', 'x', '--output_path', str(tmp_path), flag)
            assert code == 2 and len(err) == 1 and 'modern environment' in err[0], (flag, err)
    assert not os.listdir(str(tmp_path))


@needs_onnx
@needs_openvino
def test_auto_freeze_writes_the_onnx_int8_and_openvino_files(frozen, tmp_path, capsys):
    import cv2
    from export_graphs import CONFIG_PATH
    from lib.common.outputs import MARKER
    config = tmp_path / 'config.py'
    config.write_text('exec(open(%r).read())\nconfig.MODEL.width_mult = 0.125\nconfig.TEST.score_thres = 0.05\n'
                      'config.TEST.max_detect = 100\n' % CONFIG_PATH)
    (tmp_path / 'calib').mkdir()
    for i, image in enumerate(sample_images()):
        cv2.imwrite(str(tmp_path / 'calib' / ('%d.png' % i)), image[:, :, ::-1])
    out = tmp_path / 'export'
    auto_freeze_tool().main(['--ckpt_path=%s' % os.path.join(os.path.dirname(frozen[1]), 'model.ckpt'),
                             '--output_path=%s' % out, '--config=%s' % config, '--onnx=int8', '--openvino=fp32',
                             '--input_size=128,128', '--calib_images=3', '--calib_source=%s' % (tmp_path / 'calib')])
    printed = capsys.readouterr().out
    written = sorted(name for name in os.listdir(str(out)) if name != MARKER)
    assert written == ['detector.pb', 'detector_fp32.bin', 'detector_fp32.xml', 'detector_int8.onnx']  # no temp
    for name in ('detector_int8.onnx', 'detector_fp32.xml + detector_fp32.bin', 'int8 calibration: 3 images'):
        assert name in printed
    # against the .pb of the same run (the module's frozen graph has another pre-NMS cap)
    assert_same_detections(detections(str(out / 'detector_fp32.xml'), None),
                           detections(str(out / 'detector.pb'), None))


def auto_freeze_tool():
    """The module tools/auto_freeze.py (its main and flag parsing, in this process)."""
    import importlib.util
    from conftest import ROOT
    spec = importlib.util.spec_from_file_location('_auto_freeze', os.path.join(ROOT, 'tools', 'auto_freeze.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_a_bare_onnx_flag_is_fp32():
    tool = auto_freeze_tool()
    args = tool.parse_args(['--ckpt_path=x', '--output_path=y', '--onnx', '--openvino=int8,fp32,int8'])
    assert [tool.export_kinds(flag, getattr(args, flag)) for flag in tool.EXPORT_FLAGS] == [
        ['fp32'], ['int8', 'fp32'], []]
    assert tool.export_kinds('onnx', tool.parse_args(['--ckpt_path=x', '--output_path=y']).onnx) == []
    from lib.export.onnx_export import onnx_name
    from lib.export.openvino_export import openvino_name
    assert [onnx_name('fp32'), onnx_name('int8'), openvino_name('int8')] == [
        'detector.onnx', 'detector_int8.onnx', 'detector_int8.xml']


def test_host_nms_stops_at_max_detections_above_256():
    # 400 disjoint boxes (a 20 x 20 grid), all above the threshold: exactly the 300 best are kept, best first.
    ys, xs = np.mgrid[0:20, 0:20] / 20.
    boxes = np.stack([ys.ravel(), xs.ravel(), ys.ravel() + .04, xs.ravel() + .04], 1).astype(np.float32)
    scores = np.linspace(.99, .5, 400).astype(np.float32)
    np.testing.assert_array_equal(nms(boxes, scores, .3, .2, 300), np.arange(300))
