"""Where does the detector run fastest, and what does int8 cost in AP? Issue 27's measurement, in one run.

Runtimes (columns): the TF fp32 .pb, onnxruntime fp32 / int8 (QDQ), OpenVINO fp32 / int8 (NNCF), TFLite fp32 /
fp16 / int8; a column whose packages are missing is skipped with one line. Every latency is the median of --runs
timed runs after two warm-ups, --size x --size, --threads threads, interleaved: each repetition runs every
runtime on every model once, round-robin (the trained models' network alone and end to end in the same round), so
a change in the machine's speed, which drifts by tens of percent over minutes here, hits all cells alike.

1. Network only (the graph cut at the head's raw outputs, deploy_graph.network_graph, exported to each runtime):
   a random full-width network (--width_mult), dense and slimmed by --slim (default all:0.5: every prunable group
   keeps half its channels; its MAC fraction is printed), and the trained models of --trained.
2. End to end (FaceDetector.detect on one --size image, letterbox to boxes) on the standard and the pruned
   (slim) checkpoint of a demo.py run (--trained RUN --config its config), re-frozen with this code; the
   post-processing share is 1 - network-only / end-to-end per runtime. The .pb under stock TF 1.15 (.venv37) and
   intel TF 1.15 (.venv37-intel) are extra columns (run in their own process, so not interleaved).
3. easy / medium / hard AP of every int8 kind beside its fp32 on --ap_images synthetic val images made here
   (the demo's generator settings, seed --ap_seed), at the config's input size.

It prints markdown tables, the ratios issue 27 asks for and one verdict line per "Done when" bullet, and writes
them to --json. A full run (full width, 640x640, 2 threads, --runs 11) should take 20-25 minutes on 2 cores, most
of it exporting the full-width network (TFLite int8 calibrates without XNNPACK); to bound it: --skip 'TFLite fp16'
(or other columns), --random_calib_images, --ap_images, --no_random, or no --trained.

    python bench/bench_deploy.py --trained demo_run --config demo_config.py [--json bench_deploy.json]
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import main_entry, setup_tensorflow  # noqa: E402
from lib.common.errors import UserError  # noqa: E402

RUNTIMES = ('TF fp32', 'onnxruntime fp32', 'onnxruntime int8', 'OpenVINO fp32', 'OpenVINO int8', 'TFLite fp32',
            'TFLite fp16', 'TFLite int8')
# The Python modules each runtime family needs to export and run.
PACKAGES = {'TF': (), 'onnxruntime': ('tf2onnx', 'onnxruntime'), 'OpenVINO': ('tf2onnx', 'openvino', 'nncf'),
            'TFLite': ('ai_edge_litert',)}
INT8_PAIRS = (('onnxruntime int8', 'onnxruntime fp32'), ('OpenVINO int8', 'OpenVINO fp32'),
              ('TFLite int8', 'TFLite fp32'))
# "Done when": the runtimes whose post-processing share and slim-vs-dense speed are judged.
JUDGED_FAMILIES = ('TF', 'onnxruntime', 'OpenVINO')
LEVELS = ('easy', 'medium', 'hard')
DONE_WHEN = {'dense_openvino_int8': 3., 'slim_openvino_int8': 9., 'post_processing': 0.10, 'ap_gap': 0.01,
             'ap_images': 300}
# The .pb under other TensorFlow builds, each run by its own environment's Python (skipped when not installed).
OTHER_TENSORFLOWS = (('TF 1.15 .pb', '.venv37'), ('intel TF 1.15 .pb', '.venv37-intel'))
LATENCY_SCRIPT = """import sys, numpy as np; sys.path.insert(0, %r)
from lib.common.cli import setup_tensorflow; setup_tensorflow()
from lib.inference.detector import FaceDetector, latency_seconds
image = np.load(%r)
with FaceDetector(%r, threads=%d) as detector:
    print(1000. * float(np.median(latency_seconds(detector, [image], %d, warmup=1, input_size=%r))))
"""


def family(runtime):
    return runtime.split()[0]


def available_runtimes(skip):
    """The RUNTIMES to measure: not in ``skip`` and with their packages installed (one line per skipped one)."""
    kept = []
    for runtime in RUNTIMES:
        missing = [m for m in PACKAGES[family(runtime)] if importlib.util.find_spec(m) is None]
        if runtime in skip:
            print('skipping %s (--skip)' % runtime)
        elif missing:
            print('skipping %s: %s not installed (requirements-export.txt)' % (runtime, ', '.join(missing)))
        else:
            kept.append(runtime)
    return kept


def other_tensorflows():
    """[(runtime name, python)] of the installed OTHER_TENSORFLOWS."""
    found = [(name, os.path.join(ROOT, venv, 'bin', 'python')) for name, venv in OTHER_TENSORFLOWS]
    return [(name, python) for name, python in found if os.path.isfile(python)]


def latency_elsewhere(python, pb, image_file, size, threads, runs):
    """Median ms of FaceDetector on the frozen graph ``pb`` in another environment (same image, same call)."""
    script = LATENCY_SCRIPT % (ROOT, image_file, pb, threads, runs, size)
    run = subprocess.run([python, '-c', script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, cwd=ROOT, timeout=3600)
    if run.returncode:
        raise RuntimeError('%s failed on %s:\n%s' % (python, pb, run.stderr[-2000:]))
    return float(run.stdout.split()[-1])


def pixel_mean(pb):
    """The RGB mean a frozen detector subtracts (its int8 calibration inputs are letterboxed with it)."""
    from lib.export.deploy_graph import graph_settings
    from lib.inference.runtimes import load_graph_def
    return graph_settings(load_graph_def(pb))['pixel_mean']


def file_bytes(path):
    """Bytes of a model file; an OpenVINO .xml counts with its .bin."""
    extra = os.path.splitext(path)[0] + '.bin' if path.endswith('.xml') else None
    return os.path.getsize(path) + (os.path.getsize(extra) if extra else 0)


# ------------------------------------------------------------------------------------------------- exports


def network_onnx(graph, images, outputs, path):
    """The network graph as ONNX (tf2onnx) with its input renamed ``images`` (what quantize_onnx expects)."""
    from lib.export.onnx_export import OPSET, converter, rename_tensors
    from lib.model.dsfd import INPUT_NAME
    model, _ = converter().convert.from_graph_def(graph.as_graph_def(), input_names=[images.name],
                                                  output_names=[t.name for t in outputs], opset=OPSET)
    rename_tensors(model.graph, {images.name: INPUT_NAME})
    with open(path, 'wb') as f:
        f.write(model.SerializeToString())


def export_network(graph_def, size, calibration, folder, runtimes):
    """{runtime: file} of the network alone (deploy_graph.network_graph) and the TF graph (graph, images,
    outputs) under 'TF fp32'; ``calibration`` is a list of letterboxed float32 [1, H, W, 3] inputs."""
    import tensorflow.compat.v1 as tf
    from lib.export.deploy_graph import network_graph
    from lib.export.tflite_export import convert_session
    os.makedirs(folder)
    graph, images, outputs = network_graph(graph_def, size)
    files = {'TF fp32': (graph, images, outputs)}
    with tf.Session(graph=graph) as session:
        for runtime in [r for r in runtimes if family(r) == 'TFLite']:
            kind = runtime.split()[1]
            dataset = (lambda: ([x] for x in calibration)) if kind == 'int8' else None
            files[runtime] = os.path.join(folder, 'network_%s.tflite' % kind)
            with open(files[runtime], 'wb') as f:
                f.write(convert_session(session, [images], outputs, kind, dataset))
    if not any(family(r) in ('onnxruntime', 'OpenVINO') for r in runtimes):
        return files
    onnx_path = os.path.join(folder, 'network.onnx')
    network_onnx(graph, images, outputs, onnx_path)
    if 'onnxruntime fp32' in runtimes:
        files['onnxruntime fp32'] = onnx_path
    if 'onnxruntime int8' in runtimes:
        from lib.export.onnx_export import quantize_onnx
        files['onnxruntime int8'] = os.path.join(folder, 'network_int8.onnx')
        quantize_onnx(onnx_path, files['onnxruntime int8'], calibration)
    for runtime in [r for r in runtimes if family(r) == 'OpenVINO']:
        from lib.export.openvino_export import convert_onnx_to_openvino
        kind = runtime.split()[1]
        files[runtime] = os.path.join(folder, 'network_%s.xml' % kind)
        convert_onnx_to_openvino(onnx_path, files[runtime], kind, calibration if kind == 'int8' else None)
    return files


def export_detector(pb, size, images, calibration, folder, runtimes):
    """{runtime: file} of the whole detector ``pb`` (what FaceDetector opens) at ``size`` (TFLite's fixed input);
    ``images`` are RGB calibration images (TFLite), ``calibration`` their letterboxed inputs (ONNX, OpenVINO)."""
    from lib.export.onnx_export import onnx_name, write_onnx
    from lib.export.tflite_export import tflite_name, write_tflite
    from lib.inference.runtimes import load_graph_def
    os.makedirs(folder)
    graph_def = load_graph_def(pb)  # importing a GraphDef adds default attrs to it: keep the file as it is
    files = {'TF fp32': pb}
    for runtime in runtimes:
        name, kind = runtime.split()
        if name == 'onnxruntime':
            files[runtime] = os.path.join(folder, onnx_name(kind))
        elif name == 'OpenVINO':
            from lib.export.openvino_export import openvino_name
            files[runtime] = os.path.join(folder, openvino_name(kind))
        elif name == 'TFLite':
            files[runtime] = os.path.join(folder, tflite_name(kind))
            write_tflite(graph_def, files[runtime], kind, size, images)
    if 'onnxruntime fp32' in files or 'onnxruntime int8' in files:
        fp32 = os.path.join(folder, onnx_name('fp32'))
        write_onnx(graph_def, fp32)
        if 'onnxruntime int8' in files:
            from lib.export.onnx_export import quantize_onnx
            quantize_onnx(fp32, files['onnxruntime int8'], calibration)
    for runtime in [r for r in files if family(r) == 'OpenVINO']:
        from lib.export.openvino_export import write_openvino
        kind = runtime.split()[1]
        write_openvino(graph_def, files[runtime], kind, calibration if kind == 'int8' else None)
    return files


# ------------------------------------------------------------------------------------------------- runners


def network_runner(runtime, target, threads):
    """A callable running the network export ``target`` of ``runtime`` on one float32 [1, H, W, 3] input."""
    name = family(runtime)
    if name == 'TF':
        import tensorflow.compat.v1 as tf
        graph, images, outputs = target
        session = tf.Session(graph=graph, config=tf.ConfigProto(intra_op_parallelism_threads=threads,
                                                                inter_op_parallelism_threads=threads))
        return lambda x: session.run(outputs, {images: x})
    if name == 'onnxruntime':
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = threads
        options.log_severity_level = 3
        session = ort.InferenceSession(target, options, providers=['CPUExecutionProvider'])
        return lambda x: session.run(None, {'images': x})
    if name == 'OpenVINO':
        import openvino as ov
        compiled = ov.Core().compile_model(target, 'CPU', {'INFERENCE_NUM_THREADS': threads,
                                                          'INFERENCE_PRECISION_HINT': 'f32'})
        request = compiled.create_infer_request()
        return lambda x: request.infer({0: x})
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=target, num_threads=threads)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]['index']

    def run(x):
        interpreter.set_tensor(index, x)
        interpreter.invoke()
    return run


def interleaved(calls, runs, warmup=2):
    """{key: [seconds of each of ``runs`` calls]}: ``warmup`` untimed calls each (an OpenVINO detector compiles a
    batch shape for itself the second time it sees it), then round-robin repetitions."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times = dict((key, []) for key in calls)
    for _ in range(runs):
        for key, call in calls.items():
            start = time.perf_counter()
            call()
            times[key].append(time.perf_counter() - start)
    return times


def median_ms(seconds):
    return 1000. * float(np.median(seconds))


# ------------------------------------------------------------------------------------------------- models


def random_models(args, work, size):
    """[(name, frozen .pb, MACs)] of a random network (--width_mult), dense and slimmed by --slim."""
    from lib import checkpoint
    from lib.config import check_pruned_ratio, dense_architecture, load_config
    from lib.export.freeze import freeze_checkpoint
    from lib.model.arch import PRUNABLE_LAYERS
    from lib.pruning import macs
    from lib.pruning.slimming import slim_checkpoint
    config = load_config(os.path.join(ROOT, 'pruned_train_config.py'))
    config.MODEL.width_mult = args.width_mult
    dense = dense_architecture(config)
    ratios = check_pruned_ratio(args.slim, PRUNABLE_LAYERS, field='--slim', groups=dense.groups)
    source = os.path.join(work, 'random', 'dense.ckpt')
    checkpoint.write_checkpoint(checkpoint.random_model_values(dense), source)
    kept = dict((name, list(range(n))) for name, n in macs.planned_kept(dense, ratios).items())
    slim = slim_checkpoint(source, kept, dense, os.path.join(work, 'random', 'slim.ckpt'))
    counts = macs.count_arch(dense, size, config)
    models = []
    for name, arch, ckpt in (('random dense', dense, source), ('random %s slim' % args.slim, slim,
                                                                 os.path.join(work, 'random', 'slim.ckpt'))):
        pb = os.path.join(work, 'random', name.split()[-1] + '.pb')
        freeze_checkpoint(ckpt, config, pb)
        models.append(('%s (w %g)' % (name, args.width_mult), pb, macs.total_macs(counts, arch.channels)))
    return models


def trained_models(args, work):
    """[(name, frozen .pb)] of the demo run's standard and pruned (slim) checkpoints, re-frozen here, and
    the config."""
    from lib.common.io import read_json
    from lib.config import dense_architecture, load_training_config
    from lib.export.freeze import freeze_checkpoint
    from lib.pruning.slimming import slim_checkpoint_for
    summary_path = os.path.join(args.trained, 'summary.json')
    if not os.path.isfile(summary_path):
        raise UserError('--trained=%s: %s not found; expected a folder written by demo.py' % (args.trained,
                                                                                            summary_path))
    summary = read_json(summary_path)
    config = load_training_config(args.config)
    models = []
    for name in ('standard', 'pruned'):
        ckpt = summary[name]['checkpoint']
        if not os.path.isfile(ckpt + '.index'):
            raise UserError('%s: %s checkpoint %s not found (run the bench from the folder demo.py ran in)'
                            % (summary_path, name, ckpt))
        if name == 'pruned':
            ckpt = slim_checkpoint_for(ckpt, dense_architecture(config), os.path.join(work, 'trained_slim'))
        pb = os.path.join(work, 'trained_%s.pb' % name)
        freeze_checkpoint(ckpt, config, pb)
        label = 'trained %s (w %g)' % ('dense' if name == 'standard' else 'slim', config.MODEL.width_mult)
        models.append((label, pb))
    return models, config


def ap_val_set(args, config, work):
    """A synthetic WIDER val set of --ap_images images (the demo's generator settings, seed --ap_seed)."""
    from demo import SYNTHETIC_SIZES
    from lib.data.synthetic import make_synthetic_wider
    root = os.path.join(work, 'ap_val')
    sizes = dict((flag.lstrip('-'), value) for flag, value in zip(SYNTHETIC_SIZES[::2], SYNTHETIC_SIZES[1::2]))
    make_synthetic_wider(root, 0, args.ap_images, seed=args.ap_seed, **sizes)
    return root


# ------------------------------------------------------------------------------------------------- sections


def network_calls(name, pb, size, calibration, folder, runtimes, args):
    """({runtime: call}, {runtime: file bytes or None}) of the network of ``pb`` alone on one random input."""
    from lib.inference.runtimes import load_graph_def
    print('%s: exporting the network' % name, flush=True)
    files = export_network(load_graph_def(pb), size, calibration, folder, runtimes)
    x = np.random.RandomState(0).uniform(0, 255, (1,) + size + (3,)).astype(np.float32)
    calls = dict((r, (lambda run: lambda: run(x))(network_runner(r, files[r], args.threads))) for r in runtimes)
    return calls, dict((r, None if r == 'TF fp32' else file_bytes(files[r])) for r in runtimes)


def detect_calls(name, pb, size, image, images, calibration, folder, runtimes, args, detectors):
    """({runtime: call}, {runtime: file bytes}, {runtime: file}) of FaceDetector.detect on ``image`` at ``size``;
    the detectors opened go into the list ``detectors`` (closed by the caller)."""
    from lib.inference.detector import FaceDetector
    print('%s: exporting the detector' % name, flush=True)
    files = export_detector(pb, size, images, calibration, folder, runtimes)
    calls = {}
    for runtime in runtimes:
        detectors.append(FaceDetector(files[runtime], threads=args.threads))
        calls[runtime] = (lambda d: lambda: d.detect(image, input_size=size))(detectors[-1])
    return calls, dict((r, file_bytes(files[r])) for r in runtimes), files


def timed(groups, args):
    """{table: {model: {runtime: {'ms', 'runs_ms', 'bytes'}}}} of ``groups`` ({(table, model): (calls, bytes)}),
    every call of every group interleaved in one round-robin: dense vs slim and network vs end to end compare
    within one stretch of the machine's time (its speed drifts by tens of percent over minutes)."""
    calls = dict(((table, model, runtime), call) for (table, model), (group, _) in groups.items()
                 for runtime, call in group.items())
    times = interleaved(calls, args.runs)
    tables = {}
    for (table, model), (group, sizes) in groups.items():
        rows = tables.setdefault(table, {}).setdefault(model, {})
        for runtime in group:
            seconds = times[(table, model, runtime)]
            rows[runtime] = {'ms': median_ms(seconds), 'runs_ms': [1000. * t for t in seconds],
                             'bytes': sizes[runtime]}
            print('  %-8s %-28s %-17s %9.1f ms' % (table, model, runtime, rows[runtime]['ms']), flush=True)
    return tables


def other_tensorflow_rows(pb, size, image, folder, args):
    """{runtime: {'ms', 'bytes'}} of the .pb under the other TensorFlows (their own processes, not interleaved)."""
    image_file = os.path.join(folder, 'image.npy')
    np.save(image_file, image)
    rows = {}
    for runtime, python in other_tensorflows():
        rows[runtime] = {'ms': latency_elsewhere(python, pb, image_file, size, args.threads, args.runs),
                         'bytes': file_bytes(pb)}
        print('  detect  %-17s %9.1f ms (own process)' % (runtime, rows[runtime]['ms']), flush=True)
    return rows


def measure_ap(name, pb, subset, images, folder, runtimes, args):
    """{runtime: {'easy', 'medium', 'hard'}} on ``subset`` at its input size, every fp32 and int8 runtime."""
    from lib.export.deploy_graph import calibration_inputs
    from lib.inference.detector import FaceDetector
    print('%s: AP on %d images' % (name, len(subset.images)), flush=True)
    kinds = [r for r in runtimes if r.endswith('fp32') or r.endswith('int8')]
    calibration = calibration_inputs(images, subset.input_size, pixel_mean(pb))
    files = export_detector(pb, subset.input_size, images, calibration, folder, kinds)
    aps = {}
    for runtime in kinds:
        with FaceDetector(files[runtime], threads=args.threads) as detector:
            ap = subset.average_precision(detector.detect_batch)
        aps[runtime] = dict((level, float(ap[level])) for level in LEVELS)
        print('  AP %-17s %s' % (runtime, ' '.join('%s %.4f' % (l, aps[runtime][l]) for l in LEVELS)), flush=True)
    return aps


# ------------------------------------------------------------------------------------------------- report


def ratio(a, b):
    return a / b if a and b else None


def markdown_table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
    lines += ['| ' + ' | '.join(str(cell) for cell in row) + ' |' for row in rows]
    return '\n'.join(lines)


def network_table(network, macs, runtimes, baseline):
    """Network-only ms (speed-up vs ``baseline`` ms, the dense TF fp32) and file MB per model and runtime."""
    rows, size_rows = [], []
    dense_macs = max(macs.values()) if macs else None
    for name, row in network.items():
        label = name
        if name in macs:
            label += ' (%.2f G MACs, %.1f%%)' % (macs[name] / 1e9, 100. * macs[name] / dense_macs)
        rows.append([label] + ['%.0f ms (%.1fx)' % (row[r]['ms'], baseline / row[r]['ms']) if baseline else
                               '%.0f ms' % row[r]['ms'] for r in runtimes])
        size_rows.append([name] + ['-' if row[r]['bytes'] is None else '%.2f' % (row[r]['bytes'] / 1e6)
                                   for r in runtimes])
    return (markdown_table(['network only'] + list(runtimes), rows),
            markdown_table(['network file MB'] + list(runtimes), size_rows))


def post_processing(end_to_end, network):
    """{model: {runtime: share}}: 1 - network-only / end-to-end, for the models measured both ways."""
    return dict((name, dict((r, 1. - network[name][r]['ms'] / row[r]['ms']) for r in row if r in network[name]))
                for name, row in end_to_end.items() if name in network)


def slim_speedups(rows):
    """{runtime: dense ms / slim ms} of the two models of ``rows`` (dense first), for runtimes in both."""
    if len(rows) != 2:
        return {}
    dense, slim = list(rows.values())
    return dict((r, dense[r]['ms'] / slim[r]['ms']) for r in dense if r in slim)


def ap_gaps(aps):
    """{model: {int8 runtime: {level: int8 AP - fp32 AP}}}."""
    return dict((name, dict((int8, dict((l, row[int8][l] - row[fp32][l]) for l in LEVELS))
                            for int8, fp32 in INT8_PAIRS if int8 in row and fp32 in row))
                for name, row in aps.items())


def verdicts(result):
    """One line per "Done when" bullet that this bench measures: met / not met / not measured, with numbers."""
    lines = []
    network = result['network']
    random_names = [n for n in network if n.startswith('random')]

    def speed(model_index, runtime, goal, label):
        if len(random_names) < 2 or runtime not in network[random_names[model_index]]:
            return '%s: not measured' % label
        value = result['network_baseline_ms'] / network[random_names[model_index]][runtime]['ms']
        return '%s: %s (%.2fx, goal >= %gx)' % (label, 'met' if value >= goal else 'NOT met', value, goal)
    lines.append(speed(0, 'OpenVINO int8', DONE_WHEN['dense_openvino_int8'],
                       'network, dense OpenVINO int8 vs dense TF fp32'))
    lines.append(speed(1, 'OpenVINO int8', DONE_WHEN['slim_openvino_int8'],
                       'network, %s slim (%.1f%% MACs) OpenVINO int8 vs dense TF fp32'
                       % (result['settings']['slim'], 100. * result.get('slim_mac_fraction', 0.))))
    shares = [(m, r, s) for m, row in result['post_processing'].items() for r, s in row.items()
              if family(r) in JUDGED_FAMILIES]
    if shares:
        worst = max(shares, key=lambda item: item[2])
        lines.append('end to end, post-processing <= %d%% on TF, onnxruntime, OpenVINO: %s (worst %.1f%%: %s %s)'
                     % (100 * DONE_WHEN['post_processing'],
                        'met' if worst[2] <= DONE_WHEN['post_processing'] else 'NOT met', 100. * worst[2],
                        worst[0], worst[1]))
    else:
        lines.append('end to end, post-processing share: not measured')
    slower = [(r, s) for r, s in result['slim_speedup_end_to_end'].items() if family(r) in JUDGED_FAMILIES]
    if slower:
        lines.append('end to end, slim faster than dense on TF, onnxruntime, OpenVINO: %s (%s)'
                     % ('met' if all(s > 1. for _, s in slower) else 'NOT met',
                        ', '.join('%s %.2fx' % item for item in slower)))
    else:
        lines.append('end to end, slim faster than dense: not measured')
    gaps = [(m, r, l, g) for m, row in result['ap_gaps'].items() for r, levels in row.items()
            for l, g in levels.items()]
    if gaps:
        worst = min(gaps, key=lambda item: item[3])
        met = worst[3] >= -DONE_WHEN['ap_gap'] and result['ap_images'] >= DONE_WHEN['ap_images']
        lines.append('int8 AP within %g of fp32 on >= %d images: %s (%d images; worst %+.4f: %s %s %s)'
                     % (DONE_WHEN['ap_gap'], DONE_WHEN['ap_images'], 'met' if met else 'NOT met',
                        result['ap_images'], worst[3], worst[0], worst[1], worst[2]))
    else:
        lines.append('int8 AP vs fp32: not measured')
    return lines


def report(result, runtimes):
    """The markdown text of ``result``."""
    settings = result['settings']
    out = ['%dx%d, %d threads, median of %d interleaved runs; TF %s; load before: %s, after: %s'
           % (settings['size'], settings['size'], settings['threads'], settings['runs'], settings['tf'],
              settings['load_before'], settings['load_after'])]
    if result['network']:
        times, sizes = network_table(result['network'], result['macs'], runtimes, result['network_baseline_ms'])
        out += ['', 'Network only (speed-up vs the dense random TF fp32 graph):', '', times, '', sizes]
    if result['end_to_end']:
        columns = list(next(iter(result['end_to_end'].values())))
        rows = []
        for name, row in result['end_to_end'].items():
            share = result['post_processing'].get(name, {})
            rows.append([name] + ['%.1f ms%s (%.2f MB)' % (row[r]['ms'], ', post %.0f%%' % (100. * share[r])
                                                            if r in share else '', row[r]['bytes'] / 1e6)
                                  for r in columns])
        out += ['', 'End to end (FaceDetector.detect, post-processing = 1 - network / end to end):', '',
                markdown_table(['detect'] + columns, rows)]
    for title, speedups in (('network, random', result['slim_speedup_network_random']),
                            ('network, trained', result['slim_speedup_network_trained']),
                            ('end to end, trained', result['slim_speedup_end_to_end'])):
        if speedups:
            out += ['', 'Slim vs dense (%s): ' % title + ', '.join('%s %.2fx' % item for item in speedups.items())]
    if result['ap']:
        rows = []
        for name, row in result['ap'].items():
            gaps = result['ap_gaps'].get(name, {})
            for runtime, ap in row.items():
                gap = gaps.get(runtime)
                rows.append([name, runtime] + ['%.4f%s' % (ap[l], ' (%+.4f)' % gap[l] if gap else '')
                                               for l in LEVELS])
        out += ['', 'AP on %d synthetic val images (int8 - fp32 in brackets):' % result['ap_images'], '',
                markdown_table(['model', 'runtime'] + list(LEVELS), rows)]
    out += ['', 'Done when:'] + ['- ' + line for line in result['verdicts']]
    return '\n'.join(out)


def load():
    return '%.2f %.2f %.2f' % os.getloadavg()


def tf_version():
    import tensorflow.compat.v1 as tf
    return tf.__version__


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--trained', default=None, help='a demo.py output folder (summary.json); omit to skip')
    parser.add_argument('--config', default=os.path.join(ROOT, 'demo_config.py'), help='the config of --trained')
    parser.add_argument('--no_random', action='store_true', help='skip the random network')
    parser.add_argument('--width_mult', type=float, default=1., help='width of the random network')
    parser.add_argument('--slim', default='all:0.5', help="the random slim model's plan, 'all:r'")
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=11, help='timed runs per runtime and model (median)')
    parser.add_argument('--calib_images', type=int, default=100, help='int8 calibration images, the last of the '
                        "demo's val set (as many as tools/auto_freeze.py's default: at most the val set)")
    parser.add_argument('--random_calib_images', type=int, default=4,
                        help='random calibration images of the random network (its timing needs no more)')
    parser.add_argument('--ap_images', type=int, default=300, help='synthetic val images for AP (0: no AP)')
    parser.add_argument('--ap_seed', type=int, default=27, help='seed of the AP val set (the demo uses 0)')
    parser.add_argument('--skip', default='', help='comma-separated runtimes not to measure, e.g. "TFLite fp16"')
    parser.add_argument('--no_other_tf', action='store_true', help='skip the TF 1.15 subprocess columns')
    parser.add_argument('--json', default='bench_deploy.json', help='where the results go (a new file)')
    args = parser.parse_args(argv)
    skip = [s.strip() for s in args.skip.split(',') if s.strip()]
    unknown = [s for s in skip if s not in RUNTIMES]
    if unknown:
        raise UserError('--skip=%s: unknown %s; expected some of %s' % (args.skip, ', '.join(unknown),
                                                                        ', '.join(RUNTIMES)))
    if 'TF fp32' in skip:
        raise UserError('--skip=%s: TF fp32 is the baseline of every ratio; it cannot be skipped' % args.skip)
    if min(args.runs, args.calib_images, args.random_calib_images, args.threads) < 1 or args.ap_images < 0:
        raise UserError('--runs, --calib_images, --random_calib_images and --threads must be >= 1, '
                        '--ap_images >= 0')
    args.skip = skip
    return args


@main_entry
def main():
    args = parse_args()
    from lib.common.io import write_json
    from lib.common.outputs import check_writable_file
    check_writable_file(args.json, '--json')
    if os.path.exists(args.json):
        raise UserError('--json=%s exists; choose a new file (the bench never overwrites a result)' % args.json)
    setup_tensorflow()
    from lib.common.image import read_image
    from lib.export.deploy_graph import calibration_inputs
    runtimes = available_runtimes(args.skip)
    size = (args.size, args.size)
    result = {'settings': {'size': args.size, 'threads': args.threads, 'runs': args.runs, 'slim': args.slim,
                           'width_mult': args.width_mult, 'calib_images': args.calib_images, 'tf': tf_version(),
                           'runtimes': runtimes, 'load_before': load()},
              'network': {}, 'macs': {}, 'end_to_end': {}, 'ap': {}, 'ap_images': 0, 'network_baseline_ms': None}
    work = tempfile.mkdtemp(prefix='bench_deploy.')
    try:
        if not args.no_random:
            random_images = [np.random.RandomState(i).randint(0, 256, (480, 640, 3)).astype(np.uint8)
                             for i in range(args.random_calib_images)]
            groups = {}
            for index, (name, pb, macs) in enumerate(random_models(args, work, size)):
                calibration = calibration_inputs(random_images, size, pixel_mean(pb))
                groups[('network', name)] = network_calls(name, pb, size, calibration,
                                                          os.path.join(work, 'net%d' % index), runtimes, args)
                result['macs'][name] = macs
            result['network'].update(timed(groups, args)['network'])
            names = list(result['macs'])
            result['network_baseline_ms'] = result['network'][names[0]]['TF fp32']['ms']
            result['slim_mac_fraction'] = result['macs'][names[1]] / float(result['macs'][names[0]])
        if args.trained:
            from lib.evaluation.subset import ValSubset
            models, config = trained_models(args, work)
            own_size = (config.DATA.hin, config.DATA.win)
            from lib.inference.wider import list_images
            val = list_images(os.path.join(config.DATA.root_path, 'WIDER_val'))
            images = [read_image(item.path) for item in val[-args.calib_images:]]  # calibration: the demo's val
            image = read_image(val[0].path)
            groups, detectors, detector_files = {}, [], {}
            for index, (name, pb) in enumerate(models):
                calibration = calibration_inputs(images, size, pixel_mean(pb))
                groups[('network', name)] = network_calls(name, pb, size, calibration,
                                                          os.path.join(work, 'tnet%d' % index), runtimes, args)
                calls, sizes, detector_files[name] = detect_calls(
                    name, pb, size, image, images, calibration, os.path.join(work, 'e2e%d' % index), runtimes,
                    args, detectors)
                groups[('detect', name)] = calls, sizes
            tables = timed(groups, args)
            for detector in detectors:
                detector.close()
            result['network'].update(tables['network'])
            result['end_to_end'] = tables['detect']
            if not args.no_other_tf:
                for index, (name, pb) in enumerate(models):
                    result['end_to_end'][name].update(other_tensorflow_rows(
                        detector_files[name]['TF fp32'], size, image, os.path.join(work, 'e2e%d' % index), args))
            if args.ap_images:
                subset = ValSubset(ap_val_set(args, config, work), args.ap_images, own_size)
                result['ap_images'] = len(subset.images)
                for index, (name, pb) in enumerate(models):
                    result['ap'][name] = measure_ap(name, pb, subset, images,
                                                    os.path.join(work, 'ap%d' % index), runtimes, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result['settings']['load_after'] = load()
    network = result['network']
    result['post_processing'] = post_processing(result['end_to_end'], network)
    result['slim_speedup_network_random'] = slim_speedups(dict((n, r) for n, r in network.items()
                                                               if n.startswith('random')))
    result['slim_speedup_network_trained'] = slim_speedups(dict((n, r) for n, r in network.items()
                                                                if n.startswith('trained')))
    result['slim_speedup_end_to_end'] = slim_speedups(result['end_to_end'])
    result['ap_gaps'] = ap_gaps(result['ap'])
    result['verdicts'] = verdicts(result)
    text = report(result, runtimes)
    result['markdown'] = text
    print('\n' + text)
    write_json(args.json, result)
    print('\nwrote %s' % args.json)


if __name__ == '__main__':
    main()
