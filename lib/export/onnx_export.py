"""Frozen ``detector.pb`` -> ``detector.onnx`` (tf2onnx): dynamic batch, height and width, NMS included; and
``detector_int8.onnx``, its static int8 quantization (onnxruntime, QDQ).

The ONNX graph keeps this project's interface names only: input ``images`` [N, H, W, 3] float32 RGB 0..255,
outputs ``boxes`` [N, K, 4] normalised (ymin, xmin, ymax, xmax), ``scores`` [N, K], ``num_detections`` [N];
the pixel mean (padding) and NMS settings travel in the metadata (deploy_graph.METADATA_KEY).
int8 quantizes the convolutions only (QUANTIZED_OPS: weights int8 per output channel, activations uint8 per
tensor, calibrated by min/max on letterboxed images); the elementwise ops, the box decoding and NMS stay float:
one int8 scale per tensor cannot hold decoded boxes in input pixels, and the convolutions hold the MACs.
"""
import os

import numpy as np

from lib.common.io import atomic_path, temp_dir, umask_mode
from lib.common.optional import import_optional
from lib.export.deploy_graph import METADATA_KEY, graph_settings, metadata_json
from lib.model.dsfd import INPUT_NAME, OUTPUT_NAMES

OPSET = 17
ONNX_KINDS = ('fp32', 'int8')
QUANTIZED_OPS = ('Conv',)


def onnx_name(kind):
    """The file name of an ONNX export of ``kind``: detector.onnx (fp32, the name a bare --onnx always wrote) or
    detector_int8.onnx."""
    return 'detector.onnx' if kind == 'fp32' else 'detector_%s.onnx' % kind


def rename_tensors(graph, renames):
    """Rename tensors of an ONNX GraphProto in place ({old: new}): graph inputs, outputs and node edges."""
    for value in list(graph.input) + list(graph.output):
        value.name = renames.get(value.name, value.name)
    for node in graph.node:
        for edges in (node.input, node.output):
            for i, name in enumerate(edges):
                edges[i] = renames.get(name, name)


def converter():
    """The tf2onnx module, or a UserError saying which environment exports ONNX."""
    return import_optional('tf2onnx', 'ONNX export')


def onnx_model(graph_def, opset=OPSET):
    """The ONNX ModelProto of a frozen detector GraphDef."""
    tf2onnx = converter()
    names = (INPUT_NAME,) + OUTPUT_NAMES
    model, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=[INPUT_NAME + ':0'],
                                              output_names=[name + ':0' for name in OUTPUT_NAMES], opset=opset)
    rename_tensors(model.graph, {name + ':0': name for name in names})
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata_json(graph_settings(graph_def))
    return model


def write_onnx(graph_def, output_path, opset=OPSET):
    """Convert and write ``output_path`` atomically; returns its size in bytes."""
    model = onnx_model(graph_def, opset)
    with atomic_path(output_path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(model.SerializeToString())
    return os.path.getsize(output_path)


def quantize_onnx(model_path, output_path, calibration):
    """Static QDQ int8 of the ONNX model at ``model_path`` (one float input ``images``) calibrated on
    ``calibration`` (float32 [1, H, W, 3] arrays), written atomically to ``output_path``; returns its size."""
    quantization = import_optional('onnxruntime.quantization', 'onnxruntime int8 export')

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: np.asarray(batch, np.float32)}

    with atomic_path(output_path) as tmp:
        quantization.quantize_static(
            model_path, tmp, Reader(), quant_format=quantization.QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTIZED_OPS), per_channel=True,
            activation_type=quantization.QuantType.QUInt8, weight_type=quantization.QuantType.QInt8,
            calibration_providers=['CPUExecutionProvider'])
        os.chmod(tmp, umask_mode())  # onnx.save replaces the file
    return os.path.getsize(output_path)


def write_onnx_int8(graph_def, output_path, calibration):
    """The detector as a static int8 ONNX file (write_onnx to a temp file, then quantize_onnx); returns its size."""
    with temp_dir(os.path.dirname(os.path.abspath(output_path)), 'onnx') as work:
        fp32 = os.path.join(work, 'fp32.onnx')
        write_onnx(graph_def, fp32)
        return quantize_onnx(fp32, output_path, calibration)
