"""Frozen ``detector.pb`` -> ``detector_<kind>.tflite`` (fp32, fp16 weights, or full-integer int8).

A TFLite file has a fixed input ``images`` [1, H, W, 3] float32 RGB 0..255 (anchors fold into constants) and
stops before NMS: outputs ``boxes`` [1, A, 4] normalised (ymin, xmin, ymax, xmax) and ``scores`` [1, A], so it
runs on the plain LiteRT interpreter; the host keeps the pre-NMS top-k and does NMS (lib.inference.nms) with the
settings kept in the file's metadata (deploy_graph.METADATA_KEY), as the frozen graph would. int8 is post-training
quantization calibrated on letterboxed images: convolutions int8, the elementwise and decoding ops float
(FLOAT_OPS); float input and outputs.
"""
import os

import numpy as np
import tensorflow.compat.v1 as tf

from lib.common.errors import UserError
from lib.common.io import atomic_path
from lib.common.optional import EXPORT_HINT
from lib.export.deploy_graph import (METADATA_KEY, calibration_inputs, graph_settings, metadata_json,
                                     raw_detection_graph)

KINDS = ('fp32', 'fp16', 'int8')
# Ops that stay float in an int8 file: one int8 scale per tensor cannot hold the decoded boxes (input pixels
# of every anchor, -320..580 at 192x192: 3.5 px a step), nor the FPN products and L2 norms without a loss;
# measured on the end-to-end model, easy AP 0.60 with every op int8 vs 0.87 with these float (fp32: 0.87).
# The convolutions, where the MACs are, are int8.
FLOAT_OPS = ('ADD', 'SUB', 'MUL', 'DIV', 'SOFTMAX', 'CONCATENATION', 'STRIDED_SLICE', 'PACK', 'RESHAPE', 'EXP',
             'MAXIMUM', 'MINIMUM', 'RSQRT', 'SQRT', 'SUM', 'MEAN', 'SQUARE', 'GATHER')


def tflite_name(kind):
    """The file name of a TFLite export of ``kind``."""
    return 'detector_%s.tflite' % kind


def _schema():
    """The TFLite flatbuffer schema module (shipped with TF 2.x and with ai-edge-litert)."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated
        except ImportError:
            raise UserError('reading TFLite metadata needs ai-edge-litert or TensorFlow 2.x: ' + EXPORT_HINT)
    return schema_py_generated


def with_metadata(model_bytes, name, text):
    """A TFLite flatbuffer with one more metadata entry ``name`` -> ``text``."""
    import flatbuffers  # a dependency of TF 2.x and ai-edge-litert
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(text.encode('utf-8'), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = name, len(model.buffers) - 1
    model.metadata = (model.metadata or []) + [entry]
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b'TFL3')
    return bytes(builder.Output())


def read_metadata(model_bytes, name):
    """The metadata string ``name`` of a TFLite flatbuffer, or None."""
    model = _schema().Model.GetRootAs(bytearray(model_bytes), 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode('utf-8') == name:
            return model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode('utf-8')
    return None


def check_converter():
    """A UserError unless this TensorFlow has the TFLite converter used here (TF 2.x)."""
    if not tf.__version__.startswith('2.'):
        raise UserError('TFLite export needs TensorFlow 2.x (this is %s): %s' % (tf.__version__, EXPORT_HINT))


def int8_model(converter, dataset):
    """Post-training int8 quantization of every op but FLOAT_OPS, calibrated on ``dataset``."""
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(FLOAT_OPS))
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset,
                                                         debug_options=options)
    return debugger.get_nondebug_quantized_model()


def convert_session(session, inputs, outputs, kind, dataset=None):
    """The TFLite flatbuffer (bytes, no metadata) of ``outputs`` of a session's graph fed at ``inputs``:
    fp32, fp16 weights, or int8 calibrated on ``dataset`` (a representative-dataset generator)."""
    converter = tf.lite.TFLiteConverter.from_session(session, list(inputs), list(outputs))
    if kind != 'fp32':
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == 'fp16':
        converter.target_spec.supported_types = [tf.float16]
    return int8_model(converter, dataset) if kind == 'int8' else converter.convert()


def tflite_model(graph_def, kind, input_size, calibration_images=None):
    """The TFLite flatbuffer (bytes) of a frozen detector GraphDef, with its metadata."""
    if kind not in KINDS:
        raise UserError('--tflite=%s: expected one of %s' % (kind, ', '.join(KINDS)))
    check_converter()
    if kind == 'int8' and not calibration_images:
        raise UserError('--tflite=int8 needs calibration images (--calib_images N > 0 readable images)')
    settings = graph_settings(graph_def)
    settings['input_size'] = [int(input_size[0]), int(input_size[1])]
    dataset = None
    if kind == 'int8':
        batches = calibration_inputs(calibration_images, input_size, settings['pixel_mean'])
        dataset = lambda: ([batch] for batch in batches)  # noqa: E731
    graph, images, boxes, scores = raw_detection_graph(graph_def, input_size)
    with tf.Session(graph=graph) as session:
        model = convert_session(session, [images], [boxes, scores], kind, dataset)
    return with_metadata(model, METADATA_KEY, metadata_json(settings))


def write_tflite(graph_def, output_path, kind, input_size, calibration_images=None):
    """Convert and write ``output_path`` atomically; returns its size in bytes."""
    model = tflite_model(graph_def, kind, input_size, calibration_images)
    with atomic_path(output_path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(model)
    return os.path.getsize(output_path)
