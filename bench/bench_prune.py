"""Does pruning pay on this CPU? Dense vs slim DSFD at uniform ratios: counted MACs and frozen-graph latency.

A random checkpoint of the configured model is hard-pruned at each ratio (the first C - floor(ratio * C)
channels of every prunable layer kept), slimmed and frozen with lib.freeze.freeze_checkpoint; each frozen
graph runs on one 640x640 image in this process with fixed threads (median of --runs after a warm-up).
Aim: speed-up >= 80% of the MAC ratio (dense MACs / kept MACs).

    python bench/bench_prune.py [--width_mult=1] [--size=640] [--runs=5] [--threads=2]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.helper.cli import main_entry, setup_tensorflow  # noqa: E402

tf = setup_tensorflow()

from lib.freeze import freeze_checkpoint  # noqa: E402
from lib.helper.config_check import load_config  # noqa: E402
from lib.model.arch import PRUNABLE_LAYERS, Architecture, load_arch  # noqa: E402
from lib.pruning import macs  # noqa: E402
from lib.pruning.registry import build_model_graph  # noqa: E402
from lib.pruning.selection import hard_prune_checkpoint  # noqa: E402
from lib.pruning.slimming import slim_checkpoint  # noqa: E402

RATIOS = (0.25, 0.5, 0.75)


def random_checkpoint(arch, prefix, seed=0):
    graph = build_model_graph(arch)[0]
    with graph.as_default():
        tf.set_random_seed(seed)
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            tf.train.Saver().save(session, prefix, write_meta_graph=False, write_state=False)


def latency(pb_path, image, runs, threads):
    """Median seconds of one detection run of the frozen graph (after one warm-up run)."""
    graph_def = tf.GraphDef()
    with open(pb_path, 'rb') as f:
        graph_def.ParseFromString(f.read())
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name='')
        config = tf.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
        with tf.Session(graph=graph, config=config) as session:
            fetches = ['boxes:0', 'num_detections:0']
            session.run(fetches, {'images:0': image})
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                _, count = session.run(fetches, {'images:0': image})
                times.append(time.perf_counter() - start)
    return float(np.median(times)), int(count[0])


@main_entry
def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=os.path.join(ROOT, 'pruned_train_config.py'))
    parser.add_argument('--width_mult', type=float, default=1.)
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    config = load_config(args.config)
    config.MODEL.width_mult = args.width_mult
    size = (args.size, args.size)
    dense = Architecture.from_model_config(config.MODEL)
    image = np.random.RandomState(0).randint(0, 256, (1, args.size, args.size, 3)).astype(np.uint8)
    work = tempfile.mkdtemp(prefix='bench_prune.')
    try:
        source = os.path.join(work, 'dense.ckpt')
        random_checkpoint(dense, source)
        models = [('dense', source)]
        for ratio in RATIOS:
            counts = macs.planned_kept(dense, dict.fromkeys(PRUNABLE_LAYERS, ratio))
            kept = {name: list(range(n)) for name, n in counts.items()}
            hard = hard_prune_checkpoint(source, kept, os.path.join(work, 'hard_%g.ckpt' % ratio))
            slim = os.path.join(work, 'slim_%g.ckpt' % ratio)
            slim_checkpoint(hard, kept, dense, slim)
            models.append(('slim %.2f' % ratio, slim))
        rows = []
        for label, ckpt in models:
            pb = os.path.join(work, label.replace(' ', '_') + '.pb')
            info = freeze_checkpoint(ckpt, config, pb)
            count = sum(c.macs for c in macs.count_arch(load_arch(ckpt, dense), size, config))
            seconds, detections = latency(pb, image, args.runs, args.threads)
            rows.append((label, count, seconds, info['file_size'], detections))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('DSFD width_mult=%g, %dx%d, TF %s, %d threads, median of %d runs (frozen graphs, incl. NMS)'
          % (args.width_mult, args.size, args.size, tf.__version__, args.threads, args.runs))
    print('%-10s %12s %10s %11s %9s %9s %10s %6s' % ('model', 'GMACs', 'MAC ratio', 'latency ms', 'speed-up',
                                                   'speed/MAC', '.pb MB', 'dets'))
    dense_macs, dense_seconds = rows[0][1], rows[0][2]
    for label, count, seconds, file_size, detections in rows:
        mac_ratio, speed_up = dense_macs / float(count), dense_seconds / seconds
        print('%-10s %12.2f %9.2fx %11.1f %8.2fx %8.0f%% %10.1f %6d' % (
            label, count / 1e9, mac_ratio, 1e3 * seconds, speed_up, 100. * speed_up / mac_ratio,
            file_size / 2. ** 20, detections))


if __name__ == '__main__':
    main()
