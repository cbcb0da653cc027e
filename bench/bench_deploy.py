"""Where does the detector run fastest? One model on every runtime: TF .pb, onnxruntime, TFLite fp32/fp16/int8,
and the .pb under stock TF 1.15 and intel-tensorflow 1.15 when their environments (.venv37, .venv37-intel) exist.

For a trained small model (the standard and the pruned model of a demo run: --trained RUN, the folder demo.py
wrote, with its --config) and a random full-width network (dense, and slimmed at uniform ratio 0.5): latency of
FaceDetector.detect on one --size image with --threads threads (median of --runs after a warm-up) and the file
sizes; for the trained dense model also easy AP on the first --ap_images images of its synthetic val set, TFLite
fp32 vs int8 at the config's input size. int8 calibrates on --calib_images val images (random images for the
random network).

    python bench/bench_deploy.py [--trained demo_run --config demo_config.py] [--no_random] [--size=640]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import main_entry, setup_tensorflow  # noqa: E402

RUNTIMES = ('TF .pb', 'onnxruntime', 'TFLite fp32', 'TFLite fp16', 'TFLite int8')
# The .pb under other TensorFlow builds, each run by its own environment's Python (skipped when not installed).
OTHER_TENSORFLOWS = (('TF 1.15 .pb', '.venv37'), ('intel TF 1.15 .pb', '.venv37-intel'))
LATENCY_SCRIPT = """import sys, numpy as np; sys.path.insert(0, %r)
from lib.common.cli import setup_tensorflow; setup_tensorflow()
from lib.inference.detector import FaceDetector, latency_seconds
image = np.random.RandomState(0).randint(0, 256, %r + (3,)).astype(np.uint8)
with FaceDetector(%r, threads=%d) as detector:
    print(1000. * float(np.median(latency_seconds(detector, [image], %d, warmup=1, input_size=%r))))
"""


def other_tensorflows():
    """[(runtime name, python)] of the installed OTHER_TENSORFLOWS."""
    found = [(name, os.path.join(ROOT, venv, 'bin', 'python')) for name, venv in OTHER_TENSORFLOWS]
    return [(name, python) for name, python in found if os.path.isfile(python)]


def latency_elsewhere(python, pb, size, threads, runs):
    """Median ms of the frozen graph ``pb`` in another environment (same image, same measurement)."""
    script = LATENCY_SCRIPT % (ROOT, size, pb, threads, runs, size)
    run = subprocess.run([python, '-c', script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, cwd=ROOT, timeout=3600)
    if run.returncode:
        raise RuntimeError('%s failed on %s:\n%s' % (python, pb, run.stderr[-2000:]))
    return float(run.stdout.split()[-1])


def export_all(pb, folder, size, calibration):
    """{runtime: file} of one frozen model: the .pb itself, .onnx, and the three TFLite kinds at ``size``."""
    from lib.export.onnx_export import write_onnx
    from lib.export.tflite_export import KINDS, tflite_name, write_tflite
    from lib.inference.runtimes import load_graph_def
    graph_def = load_graph_def(pb)
    files = {'TF .pb': pb, 'onnxruntime': os.path.join(folder, 'detector.onnx')}
    write_onnx(graph_def, files['onnxruntime'])
    for kind in KINDS:
        files['TFLite ' + kind] = os.path.join(folder, tflite_name(kind))
        write_tflite(graph_def, files['TFLite ' + kind], kind, size, calibration)
    return files


def measure(files, size, threads, runs):
    """{runtime: (median ms, file bytes)}, the RUNTIMES here and the .pb under other_tensorflows()."""
    from lib.inference.detector import FaceDetector, latency_seconds
    image = np.random.RandomState(0).randint(0, 256, size + (3,)).astype(np.uint8)
    rows = {}
    for runtime in RUNTIMES:
        with FaceDetector(files[runtime], threads=threads) as detector:
            seconds = latency_seconds(detector, [image], runs, warmup=1, input_size=size)
        rows[runtime] = (1000. * float(np.median(seconds)), os.path.getsize(files[runtime]))
        print('  %-17s %9.1f ms %8.2f MB' % (runtime, rows[runtime][0], rows[runtime][1] / 1e6), flush=True)
    for runtime, python in other_tensorflows():
        rows[runtime] = (latency_elsewhere(python, files['TF .pb'], size, threads, runs), rows['TF .pb'][1])
        print('  %-17s %9.1f ms' % (runtime, rows[runtime][0]), flush=True)
    return rows


def trained_models(args, work):
    """[(name, .pb, calibration images)] of a demo run, and the int8 vs fp32 AP line."""
    from lib.common.image import read_image
    from lib.common.io import read_json
    from lib.config import load_config
    from lib.evaluation.subset import ValSubset
    from lib.export.tflite_export import write_tflite
    from lib.inference.detector import FaceDetector
    from lib.inference.runtimes import load_graph_def
    from lib.inference.wider import list_images
    summary = read_json(os.path.join(args.trained, 'summary.json'))
    config = load_config(args.config)
    val = list_images(os.path.join(config.DATA.root_path, 'WIDER_val'))
    calibration = [read_image(item.path) for item in val[-args.calib_images:]]
    own_size = (config.DATA.hin, config.DATA.win)
    graph_def = load_graph_def(summary['standard']['pb'])
    subset = ValSubset(config.DATA.root_path, args.ap_images, own_size)
    aps = {}
    for kind in ('fp32', 'int8'):
        path = os.path.join(work, 'ap_%s.tflite' % kind)
        write_tflite(graph_def, path, kind, own_size, calibration)
        with FaceDetector(path, threads=args.threads) as detector:
            aps[kind] = subset.average_precision(detector.detect_batch)['easy']
    ap_line = ('trained dense model, easy AP on %d synthetic val images at %dx%d: TFLite fp32 %.4f, int8 %.4f '
               '(gap %.4f)' % (len(subset.images), own_size[0], own_size[1], aps['fp32'], aps['int8'],
                               aps['fp32'] - aps['int8']))
    print(ap_line, flush=True)
    return [('trained dense (w %g)' % config.MODEL.width_mult, summary['standard']['pb'], calibration),
            ('trained slim (w %g)' % config.MODEL.width_mult, summary['pruned']['pb'], calibration)], ap_line


def random_models(args, work):
    """[(name, .pb, calibration images)] of a random full-width network, dense and slim at ratio 0.5."""
    from lib import checkpoint
    from lib.config import dense_architecture, load_config
    from lib.export.freeze import freeze_checkpoint
    from lib.model.arch import PRUNABLE_LAYERS
    from lib.pruning import macs
    from lib.pruning.selection import hard_prune_checkpoint
    from lib.pruning.slimming import slim_checkpoint
    config = load_config(os.path.join(ROOT, 'pruned_train_config.py'))
    config.MODEL.width_mult = args.width_mult
    dense = dense_architecture(config)
    source = os.path.join(work, 'random', 'dense.ckpt')
    checkpoint.write_checkpoint(checkpoint.random_model_values(dense), source)
    counts = macs.planned_kept(dense, dict.fromkeys(PRUNABLE_LAYERS, 0.5))
    kept = {name: list(range(n)) for name, n in counts.items()}
    hard = hard_prune_checkpoint(source, kept, os.path.join(work, 'random', 'hard.ckpt'))
    slim = os.path.join(work, 'random', 'slim.ckpt')
    slim_checkpoint(hard, kept, dense, slim)
    rng = np.random.RandomState(1)
    calibration = [rng.randint(0, 256, (480, 640, 3)).astype(np.uint8) for _ in range(args.calib_images)]
    models = []
    for name, ckpt in (('random dense', source), ('random slim 0.5', slim)):
        pb = os.path.join(work, name.split()[1], 'detector.pb')
        name += ' (w %g)' % args.width_mult
        freeze_checkpoint(ckpt, config, pb)
        models.append((name, pb, calibration))
    return models


def tf_version():
    import tensorflow.compat.v1 as tf
    return tf.__version__


@main_entry
def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--trained', default=None, help='a demo.py output folder (summary.json); omit to skip')
    parser.add_argument('--config', default=os.path.join(ROOT, 'demo_config.py'), help='the config of --trained')
    parser.add_argument('--no_random', action='store_true', help='skip the random full-width network')
    parser.add_argument('--width_mult', type=float, default=1., help='width of the random network')
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--calib_images', type=int, default=8)
    parser.add_argument('--ap_images', type=int, default=60)
    args = parser.parse_args()
    setup_tensorflow()
    size = (args.size, args.size)
    work = tempfile.mkdtemp(prefix='bench_deploy.')
    table, ap_line = [], None
    try:
        models = []
        if args.trained:
            trained, ap_line = trained_models(args, work)
            models += trained
        if not args.no_random:
            models += random_models(args, work)
        for index, (name, pb, calibration) in enumerate(models):
            print('%s: exporting' % name, flush=True)
            folder = os.path.join(work, 'export%d' % index)
            rows = measure(export_all(pb, folder, size, calibration), size, args.threads, args.runs)
            table.append((name, rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runtimes = list(RUNTIMES) + [name for name, _ in other_tensorflows()]
    print('\n%dx%d, %d threads, median of %d runs: latency ms (file MB); TF .pb is TF %s\n'
          % (size[0], size[1], args.threads, args.runs, tf_version()))
    print('| model | ' + ' | '.join(runtimes) + ' |')
    print('|' + ' --- |' * (len(runtimes) + 1))
    for name, rows in table:
        print('| %s | %s |' % (name, ' | '.join('%.0f (%.1f)' % (rows[r][0], rows[r][1] / 1e6) for r in runtimes)))
    if ap_line:
        print('\n' + ap_line)


if __name__ == '__main__':
    main()
