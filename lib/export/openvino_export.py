"""ONNX export -> OpenVINO IR ``detector_<kind>.xml`` + ``.bin``: fp32, or int8 by NNCF post-training quantization.

The IR is converted from the ONNX file (onnx_export), so it keeps its interface: input ``images`` [N, H, W, 3]
float32 RGB 0..255 with dynamic batch, height and width, NMS included, outputs ``boxes``, ``scores``,
``num_detections``; the ONNX metadata (deploy_graph.METADATA_KEY: pixel mean, NMS settings) goes into the IR's
rt_info. Weights stay f32 (OpenVINO would store fp16 by default). int8 quantizes the convolutions only (their inputs
and weights, per output channel), calibrated on letterboxed images: the elementwise ops, box decoding and NMS stay
float, as in the onnxruntime and TFLite int8 files (one int8 scale per tensor cannot hold decoded boxes).
"""
import logging
import os

from lib.common.errors import UserError
from lib.common.io import temp_dir, umask_mode
from lib.common.optional import import_optional
from lib.export.onnx_export import write_onnx

OPENVINO_KINDS = ('fp32', 'int8')
# Every op type NNCF may quantize besides Convolution (GroupConvolution included: none in this network).
FLOAT_OPS = ('Add', 'Subtract', 'Multiply', 'Divide', 'MaxPool', 'AvgPool', 'Concat', 'Interpolate', 'MatMul',
             'ReduceMax', 'ReduceMean', 'ReduceSum', 'ReduceL2', 'Softmax', 'Maximum', 'Minimum', 'Sqrt', 'Power',
             'Squeeze', 'Unsqueeze', 'Reshape', 'Transpose', 'Pad', 'Exp', 'Sigmoid', 'Relu', 'Clamp', 'Gather',
             'GatherND', 'GatherElements', 'TopK', 'NonMaxSuppression')


def openvino_name(kind):
    """The IR file name of an OpenVINO export of ``kind`` (its weights are the .bin of the same stem)."""
    return 'detector_%s.xml' % kind


def bin_path(xml_path):
    """The weights file OpenVINO reads beside ``xml_path``."""
    return os.path.splitext(xml_path)[0] + '.bin'


def int8_model(model, calibration):
    """NNCF post-training int8 of the convolutions of an OpenVINO model, calibrated on ``calibration``."""
    nncf = import_optional('nncf', 'OpenVINO int8 export')
    nncf.set_log_level(logging.WARNING)  # its INFO lists every op left float: hundreds of lines
    scope = nncf.IgnoredScope(types=list(FLOAT_OPS), validate=False)
    return nncf.quantize(model, nncf.Dataset(list(calibration)), preset=nncf.QuantizationPreset.PERFORMANCE,
                         subset_size=len(calibration), ignored_scope=scope)


def convert_onnx_to_openvino(onnx_path, xml_path, kind, calibration=None):
    """The ONNX model at ``onnx_path`` as an IR at ``xml_path`` (+ .bin), f32 weights, int8 quantized on
    ``calibration`` (float32 [1, H, W, 3] arrays); its metadata_props kept as rt_info. Both files are written to
    temporary names and renamed, the .bin first. Returns the size of the two files in bytes."""
    if kind not in OPENVINO_KINDS:
        raise UserError('--openvino=%s: expected one of %s' % (kind, ', '.join(OPENVINO_KINDS)))
    if kind == 'int8' and not calibration:
        raise UserError('--openvino=int8 needs calibration images (--calib_images N > 0 readable images)')
    ov = import_optional('openvino', 'OpenVINO export')
    onnx = import_optional('onnx', 'OpenVINO export')
    model = ov.convert_model(onnx_path)
    for entry in onnx.load(onnx_path, load_external_data=False).metadata_props:
        model.set_rt_info(entry.value, [entry.key])
    if kind == 'int8':
        model = int8_model(model, calibration)
    parent = os.path.dirname(os.path.abspath(xml_path))
    with temp_dir(parent, 'openvino') as work:
        tmp_xml = os.path.join(work, 'model.xml')
        ov.save_model(model, tmp_xml, compress_to_fp16=False)
        for path in (bin_path(tmp_xml), tmp_xml):
            os.chmod(path, umask_mode())
        os.replace(bin_path(tmp_xml), bin_path(xml_path))
        os.replace(tmp_xml, xml_path)
    return os.path.getsize(xml_path) + os.path.getsize(bin_path(xml_path))


def write_openvino(graph_def, xml_path, kind, calibration=None):
    """The frozen detector as an IR of ``kind`` (via a temporary ONNX file); returns the size of .xml + .bin."""
    with temp_dir(os.path.dirname(os.path.abspath(xml_path)), 'openvino') as work:
        onnx_path = os.path.join(work, 'detector.onnx')
        write_onnx(graph_def, onnx_path)
        return convert_onnx_to_openvino(onnx_path, xml_path, kind, calibration)
