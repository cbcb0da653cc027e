"""Frozen ``detector.pb`` -> ``detector.onnx`` (tf2onnx): dynamic batch, height and width, NMS included.

The ONNX graph keeps this project's interface names only: input ``images`` [N, H, W, 3] float32 RGB 0..255,
outputs ``boxes`` [N, K, 4] normalised (ymin, xmin, ymax, xmax), ``scores`` [N, K], ``num_detections`` [N];
the pixel mean (padding) and NMS settings travel in the metadata (deploy_graph.METADATA_KEY).
"""
import os

from lib.common.io import atomic_path
from lib.common.optional import import_optional
from lib.export.deploy_graph import METADATA_KEY, graph_settings, metadata_json
from lib.model.dsfd import INPUT_NAME, OUTPUT_NAMES

OPSET = 17


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
