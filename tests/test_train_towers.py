"""Two towers on two virtual CPU devices equal one tower: same loss, same weights after a step.

Virtual devices must be configured before the process's first Session, so the check runs in a child process
(this file executed as a script)."""
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child(directory):
    sys.path.insert(0, ROOT)
    from tests.train_helpers import two_virtual_cpus
    tf = two_virtual_cpus()
    from lib.anchors.generator import anchor_spec_from_config
    from lib.anchors.matcher import AnchorTargetAssigner
    from lib.data.loader import BatchLoader
    from lib.data.sample_list import read_sample_list
    from lib.config import validate_config
    from lib.model.arch import PRUNABLE_LAYERS, Architecture
    from lib.train.graph import build_train_graph
    from tests.train_helpers import make_config, tiny_overrides, write_tiny_dataset

    samples = write_tiny_dataset(directory, 2)
    config = make_config(tiny_overrides(directory, samples, samples, TRAIN__pruned_alpha=0.5, TRAIN__gradient_clip=0.,
                                        TRAIN__lr_value_every_step=[0.05, 0.05],
                                        TRAIN__pruned_ratio={'fc7': 0.5}))
    ratios = validate_config(config, PRUNABLE_LAYERS)
    arch = Architecture.from_model_config(config.MODEL)
    assigner = AnchorTargetAssigner((64, 64), anchor_spec_from_config(config.ANCHOR), arch.shots,
                                    config.ANCHOR.positive_iou, config.ANCHOR.encode_scale)
    with BatchLoader(read_sample_list(samples), 2, (64, 64), False, pixel_mean=(0, 0, 0), anchor_sizes=(16, 32, 64, 128, 256, 512),
                     target_fn=assigner) as loader:
        pair = next(iter(loader.epoch(0)))
    anchors = {shot: len(a) for shot, a in assigner.anchors.items()}
    start = os.path.join(directory, 'start.ckpt')

    def run(devices, batch, save_start=False):
        """(total loss, detection loss, fc7 weights after one step) of the towers on ``batch``."""
        with tf.Graph().as_default():
            graph = build_train_graph(config, arch, ratios, anchors, devices)
            saver = tf.train.Saver(graph.model_variables)
            with tf.Session(config=tf.ConfigProto(allow_soft_placement=True)) as session:
                session.run(tf.global_variables_initializer())
                if save_start:
                    saver.save(session, start, write_meta_graph=False)
                saver.restore(session, start)
                feed = {graph.inputs[k]: batch[k] for k in graph.inputs}
                losses, _ = session.run([graph.losses, graph.train_op], feed)
                fc7 = [v for v in graph.model_variables if v.op.name == 'fc7/weights'][0]
                return float(losses['total_loss']), float(losses['detection_loss']), session.run(fc7)

    def take(indices):
        return {k: pair[k][indices] for k in pair if k not in ('boxes', 'paths')}
    twice_first = take([0, 0])
    one_total, one_det, one_fc7 = run(['/cpu:0'], twice_first, save_start=True)
    two_total, two_det, two_fc7 = run(['/cpu:0', '/cpu:1'], twice_first)
    halves = [run(['/cpu:0'], take([i]))[0] for i in (0, 1)]
    split_total = run(['/cpu:0', '/cpu:1'], take([0, 1]))[0]
    fc7_start = tf.train.load_checkpoint(start).get_tensor('fc7/weights')
    print(json.dumps({'one': [one_total, one_det], 'two': [two_total, two_det],
                      'fc7_diff': float(np.abs(one_fc7 - two_fc7).max()),
                      'fc7_step': float(np.abs(one_fc7 - fc7_start).max()),
                      'halves_mean': float(np.mean(halves)), 'split': split_total}))


def test_two_towers_equal_one_tower(tmp_path):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), str(tmp_path)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    result = json.loads(out.stdout.decode().strip().splitlines()[-1])
    np.testing.assert_allclose(result['two'], result['one'], rtol=1e-4, atol=1e-4)
    assert result['fc7_step'] > 1e-5 and result['fc7_diff'] < 1e-3 * result['fc7_step']
    # distinct images: the towers' losses are averaged
    np.testing.assert_allclose(result['split'], result['halves_mean'], rtol=1e-4, atol=1e-4)


if __name__ == '__main__':
    _child(sys.argv[1])
