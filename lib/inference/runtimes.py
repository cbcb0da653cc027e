"""One small backend per runtime behind FaceDetector, picked by the file's extension: ``.pb`` TensorFlow,
``.onnx`` onnxruntime, ``.xml`` OpenVINO (IR), ``.tflite`` LiteRT. Each takes a letterboxed float batch
[N, H, W, 3] and returns the frozen graph's outputs (boxes [N, K, 4] normalised ymin, xmin, ymax, xmax; scores [N, K]; num_detections [N]);
``pad_value`` is the pixel mean it pads with and ``input_size`` a fixed (H, W) or None (any multiple of 32)."""
import collections
import os

import numpy as np
import tensorflow.compat.v1 as tf

from lib.common.errors import UserError
from lib.common.optional import import_optional
from lib.export.deploy_graph import METADATA_KEY, parse_metadata
from lib.inference.nms import batched_nms
from lib.model.dsfd import INPUT_NAME, OUTPUT_NAMES

RAW_OUTPUTS = OUTPUT_NAMES[:2]  # a TFLite file stops at boxes and scores; NMS runs on the host


def _check_file(path):
    if not os.path.isfile(path):
        raise UserError('model file not found: %s (write one with tools/auto_freeze.py)' % path)


def _first_line(err):
    return (str(err).strip().split('\n') or [''])[0][:300]


def load_graph_def(pb_path):
    """Read a frozen ``.pb``; a UserError when it is missing or not a GraphDef with the detector's nodes."""
    _check_file(pb_path)
    graph_def = tf.GraphDef()
    try:
        with open(pb_path, 'rb') as f:
            graph_def.ParseFromString(f.read())
    except Exception as err:  # protobuf raises DecodeError and others for foreign files
        raise UserError('%s is not a frozen TensorFlow graph (%s)' % (pb_path, err))
    names = {node.name for node in graph_def.node}
    missing = [n for n in (INPUT_NAME,) + OUTPUT_NAMES if n not in names]
    if missing:
        raise UserError('%s lacks the nodes %s; expected a graph from tools/auto_freeze.py with input images:0 '
                        'and outputs boxes:0, scores:0, num_detections:0' % (pb_path, ', '.join(missing)))
    return graph_def


def graph_pad_value(session):
    """The RGB mean the session's graph subtracts, rounded (graphs built without ``pixel_mean`` pad with 0)."""
    try:
        return np.round(session.run(session.graph.get_tensor_by_name('pixel_mean:0')))
    except KeyError:
        return np.zeros(3)


def _check_names(path, kind, found, expected):
    if sorted(found) != sorted(expected):
        raise UserError('%s has %s %s, expected %s: export it with tools/auto_freeze.py'
                        % (path, kind, ', '.join(sorted(found)), ', '.join(expected)))


class TensorFlowRuntime(object):
    """A frozen GraphDef in its own session."""
    input_size = None

    def __init__(self, path, threads=None):
        graph_def = load_graph_def(path)
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.import_graph_def(graph_def, name='')
        session_config = tf.ConfigProto()
        if threads:
            session_config.intra_op_parallelism_threads = int(threads)
            session_config.inter_op_parallelism_threads = int(threads)
        self.session = tf.Session(graph=self.graph, config=session_config)
        self.input = self.graph.get_tensor_by_name(INPUT_NAME + ':0')
        self.outputs = [self.graph.get_tensor_by_name(name + ':0') for name in OUTPUT_NAMES]
        self.pad_value = graph_pad_value(self.session)

    def run(self, batch):
        return self.session.run(self.outputs, {self.input: batch})

    def close(self):
        self.session.close()


class OnnxRuntime(object):
    """An ``.onnx`` file from tools/auto_freeze.py --onnx on onnxruntime's CPU provider."""
    input_size = None

    def __init__(self, path, threads=None):
        _check_file(path)
        ort = import_optional('onnxruntime', 'running %s' % path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = options.inter_op_num_threads = int(threads)
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        except Exception as err:  # onnxruntime raises its own Fail / InvalidProtobuf / InvalidGraph
            raise UserError('%s is not a readable ONNX model (%s)' % (path, _first_line(err)))
        _check_names(path, 'inputs', [i.name for i in self.session.get_inputs()], [INPUT_NAME])
        _check_names(path, 'outputs', [o.name for o in self.session.get_outputs()], list(OUTPUT_NAMES))
        metadata = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in metadata:
            raise UserError('%s lacks the %r metadata: export it with tools/auto_freeze.py --onnx'
                            % (path, METADATA_KEY))
        self.pad_value = np.round(parse_metadata(metadata[METADATA_KEY], path)['pixel_mean'])

    def run(self, batch):
        return self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: np.asarray(batch, np.float32)})

    def close(self):
        self.session = None


def usable_cpus():
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)


class OpenVINORuntime(object):
    """An OpenVINO IR (``.xml`` + ``.bin``) from tools/auto_freeze.py --openvino on the CPU plugin, pinned to f32
    arithmetic (on a CPU with BF16 the plugin would otherwise pick bf16 for fp32 files by itself).

    The IR has dynamic shapes, which the plugin runs at about half the speed of a model compiled for one shape. A
    batch shape seen a second time is compiled for that shape (about 2 s at full width) and kept, the
    ``static_shapes`` most recently used ones: a fixed letterbox size compiles once, WIDER's varied sizes mostly
    run dynamic. 0 turns this off.
    """
    input_size = None
    SEEN_SHAPES = 256

    def __init__(self, path, threads=None, static_shapes=4):
        _check_file(path)
        ov = import_optional('openvino', 'running %s' % path)
        self.core = ov.Core()
        self.properties = {'INFERENCE_PRECISION_HINT': 'f32'}
        if threads:
            self.properties['INFERENCE_NUM_THREADS'] = int(threads)
        try:
            self.source = self.core.read_model(path)
            self.model = self.core.compile_model(self.source, 'CPU', self.properties)
        except Exception as err:  # OpenVINO raises RuntimeError with multi-line reports for foreign files
            raise UserError('%s is not a readable OpenVINO IR with its .bin beside it (%s)'
                            % (path, _first_line(err) or type(err).__name__))
        _check_names(path, 'inputs', [i.get_any_name() for i in self.source.inputs], [INPUT_NAME])
        _check_names(path, 'outputs', [o.get_any_name() for o in self.source.outputs], list(OUTPUT_NAMES))
        if not self.source.has_rt_info([METADATA_KEY]):
            raise UserError('%s lacks the %r metadata: export it with tools/auto_freeze.py --openvino'
                            % (path, METADATA_KEY))
        text = self.source.get_rt_info([METADATA_KEY]).astype(str)
        self.pad_value = np.round(parse_metadata(text, path)['pixel_mean'])
        self.request = self.model.create_infer_request()
        self.static_shapes = static_shapes
        self.seen = collections.OrderedDict()  # recent batch shapes (at most SEEN_SHAPES), in order of use
        self.compiled = collections.OrderedDict()  # shape -> infer request of the model compiled for it

    def _request_for(self, shape):
        """The infer request of ``shape``'s own compiled model when it has (or now earns) one, else the dynamic."""
        if shape in self.compiled:
            self.compiled.move_to_end(shape)
            return self.compiled[shape]
        if not self.static_shapes:
            return self.request
        if shape not in self.seen:
            self.seen[shape] = True
            if len(self.seen) > self.SEEN_SHAPES:
                self.seen.popitem(last=False)
            return self.request
        del self.seen[shape]
        model = self.source.clone()
        model.reshape({INPUT_NAME: list(shape)})
        self.compiled[shape] = self.core.compile_model(model, 'CPU', self.properties).create_infer_request()
        if len(self.compiled) > self.static_shapes:
            self.compiled.popitem(last=False)
        return self.compiled[shape]

    def run(self, batch):
        batch = np.asarray(batch, np.float32)
        results = self._request_for(batch.shape).infer({INPUT_NAME: batch})
        by_name = {port.get_any_name(): value for port, value in results.items()}
        return [by_name[name] for name in OUTPUT_NAMES]

    def close(self):
        self.request = self.model = self.source = None
        self.compiled.clear()


class LiteRTRuntime(object):
    """A ``.tflite`` file from tools/auto_freeze.py --tflite: fixed input size, raw boxes and scores, NMS here.
    ``threads`` None means every usable CPU, as TensorFlow and onnxruntime do: LiteRT's own default (-1) gives
    its XNNPACK delegate, where the convolutions run, no thread pool at all."""

    def __init__(self, path, threads=None):
        _check_file(path)
        from lib.export.tflite_export import read_metadata
        interpreter_module = import_optional('ai_edge_litert.interpreter', 'running %s' % path)
        with open(path, 'rb') as f:
            model = f.read()
        threads = int(threads) if threads else usable_cpus()
        try:
            self.interpreter = interpreter_module.Interpreter(model_content=model, num_threads=threads)
            self.interpreter.allocate_tensors()  # the interpreter verifies the flatbuffer before we read it
            text = read_metadata(model, METADATA_KEY)
        except UserError:
            raise
        except Exception as err:  # flatbuffers and the interpreter raise assorted errors on foreign bytes
            raise UserError('%s is not a readable TFLite model (%s)' % (path, _first_line(err) or type(err).__name__))
        if text is None:
            raise UserError('%s lacks the %r metadata: export it with tools/auto_freeze.py --tflite'
                            % (path, METADATA_KEY))
        self.settings = parse_metadata(text, path)
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        _check_names(path, 'inputs', [i['name'] for i in inputs], [INPUT_NAME])
        _check_names(path, 'outputs', [o['name'] for o in outputs], list(RAW_OUTPUTS))
        self.input_index = inputs[0]['index']
        self.output_index = {o['name']: o['index'] for o in outputs}
        self.input_size = tuple(int(v) for v in inputs[0]['shape'][1:3])
        self.pad_value = np.round(self.settings['pixel_mean'])

    def run(self, batch):
        boxes, scores = [], []
        for image in np.asarray(batch, np.float32):
            self.interpreter.set_tensor(self.input_index, image[None])
            self.interpreter.invoke()
            boxes.append(self.interpreter.get_tensor(self.output_index[RAW_OUTPUTS[0]])[0])
            scores.append(self.interpreter.get_tensor(self.output_index[RAW_OUTPUTS[1]])[0])
        return batched_nms(np.stack(boxes), np.stack(scores), self.settings['iou_threshold'],
                           self.settings['score_threshold'], self.settings['max_detections'],
                           self.settings.get('pre_nms_top_k'))  # files written before it: every anchor

    def close(self):
        self.interpreter = None


RUNTIMES = {'.pb': TensorFlowRuntime, '.onnx': OnnxRuntime, '.xml': OpenVINORuntime, '.tflite': LiteRTRuntime}


def open_runtime(path, threads=None):
    """The backend for ``path`` by its extension; a UserError for any other."""
    extension = os.path.splitext(str(path))[1].lower()
    if extension not in RUNTIMES:
        raise UserError('%s: unknown model type %r; expected a .pb (tools/auto_freeze.py), .onnx (--onnx), '
                        '.xml (--openvino) or .tflite (--tflite) file' % (path, extension))
    return RUNTIMES[extension](str(path), threads)
