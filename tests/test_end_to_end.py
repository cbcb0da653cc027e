"""The whole pipeline on a small synthetic set (demo.py with a test config): it learns, pruning pays, slim == hard-pruned."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, report_measurement, zip_same
from lib.config import load_config
from lib.common.io import read_json

E2E_CONFIG = '''import sys
sys.path.insert(0, {root!r})
from demo_config import config
config.DATA.root_path = {data!r}
config.DATA.train_txt_path = {data!r} + '/train.txt'
config.DATA.val_txt_path = {data!r} + '/val.txt'
config.DATA.hin = config.DATA.win = 160
config.TRAIN.lr_decay_every_step = [160]
'''

# easy / medium / hard AP measured by this test per TensorFlow major version (training is deterministic on a given
# CPU build: CI and the dev machine print the same values). A change beyond AP_MARGIN either way is a regression to
# find, or an improvement to measure and write here.
MEASURED_AP = {
    '1': {'standard': (0.8185, 0.5282, 0.4123), 'pruned': (0.8535, 0.5175, 0.3963)},  # TF 1.15.5
    '2': {'standard': (0.8844, 0.5640, 0.4383), 'pruned': (0.8375, 0.5435, 0.4088)},  # TF 2.21
}
AP_MARGIN = 0.04


def check_ap(model, ap):
    """Each of easy / medium / hard within AP_MARGIN of this environment's measured value."""
    import tensorflow.compat.v1 as tf
    expected = dict(zip_same(('easy', 'medium', 'hard'), MEASURED_AP[tf.__version__[0]][model]))
    off = {subset: (round(ap[subset], 4), value) for subset, value in expected.items()
           if abs(ap[subset] - value) > AP_MARGIN}
    assert not off, '%s model AP (now, measured) beyond %.2f: %s' % (model, AP_MARGIN, off)


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory):
    """Run demo.py end to end once: (summary.json, config path, output folder)."""
    folder = tmp_path_factory.mktemp('e2e')
    config_path = str(folder / 'e2e_config.py')
    with open(config_path, 'w') as f:
        f.write(E2E_CONFIG.format(root=ROOT, data=str(folder / 'data')))
    out = str(folder / 'run')
    command = [sys.executable, 'demo.py', '--config', config_path, '--out', out, '--train_images', '240',
               '--val_images', '40', '--standard_epochs', '7', '--prune_epochs', '2', '--seed', '1']
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=3600)
    log = result.stdout.decode('utf-8', 'replace')
    assert result.returncode == 0, log[-6000:]
    return read_json(os.path.join(out, 'summary.json')), config_path, out


def test_standard_model_learns(pipeline):
    ap = pipeline[0]['standard']['ap']
    report_measurement('end to end, standard model: easy %.4f, medium %.4f, hard %.4f AP' % (
        ap['easy'], ap['medium'], ap['hard']))
    check_ap('standard', ap)


def test_pruning_pays(pipeline):
    standard, pruned = pipeline[0]['standard'], pipeline[0]['pruned']
    removed = 1. - float(pruned['backbone_macs']) / standard['backbone_macs']
    report_measurement('end to end, pruned model: easy %.4f, medium %.4f, hard %.4f AP, %.1f%% of backbone MACs '
                       'removed, %.1f vs %.1f ms' % (pruned['ap']['easy'], pruned['ap']['medium'], pruned['ap']['hard'],
                                                    100 * removed, pruned['latency_ms'], standard['latency_ms']))
    assert removed >= 0.4, '%.1f%% of the backbone MACs removed' % (100 * removed)
    assert pruned['ap']['easy'] >= standard['ap']['easy'] - 0.05
    check_ap('pruned', pruned['ap'])
    assert pruned['params'] < standard['params'] and pruned['pb_bytes'] < standard['pb_bytes']


def test_demo_draws_its_detections(pipeline):
    import cv2
    picture = pipeline[0]['picture']
    assert picture == os.path.join(pipeline[2], 'detections.png')
    assert os.path.getsize(picture) < 300 * 1024 and cv2.imread(picture).shape[1] <= 480


def test_slim_pb_equals_the_hard_pruned_checkpoint(pipeline, tmp_path):
    from lib.inference.detector import FaceDetector
    from lib.export.freeze import freeze_checkpoint
    from lib.checkpoint import mask_path
    from lib.pruning.masks import read_mask
    from lib.pruning.selection import hard_prune_checkpoint
    from lib.common.image import read_image
    from lib.inference.wider import list_images
    summary, config_path, _ = pipeline
    config = load_config(config_path)
    pruned_ckpt = summary['pruned']['checkpoint']
    hard = str(tmp_path / 'hard' / 'model.ckpt')
    hard_prune_checkpoint(pruned_ckpt, read_mask(mask_path(pruned_ckpt)), hard)
    hard_pb = str(tmp_path / 'hard.pb')
    freeze_checkpoint(hard, config, hard_pb)
    images = [read_image(item.path) for item in list_images(os.path.join(config.DATA.root_path, 'WIDER_val'))[:8]]
    size = (config.DATA.hin, config.DATA.win)
    with FaceDetector(summary['pruned']['pb']) as slim, FaceDetector(hard_pb) as dense:
        slim_dets = slim.detect_batch(images, score_threshold=0.3, input_size=size)
        dense_dets = dense.detect_batch(images, score_threshold=0.3, input_size=size)
    assert sum(len(d) for d in dense_dets) > 0
    for got, expected in zip_same(slim_dets, dense_dets):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-3)


def test_deploy_exports_of_the_trained_model(pipeline, tmp_path):
    """ONNX, OpenVINO and fp32 TFLite detections equal the .pb's; TFLite int8 easy AP within 0.05 of fp32, and
    onnxruntime and OpenVINO int8 easy, medium and hard AP within 0.03 of fp32 (synthetic val set)."""
    pytest.importorskip('onnxruntime', reason='requirements-export.txt (modern environment only)')
    pytest.importorskip('ai_edge_litert', reason='requirements-export.txt (modern environment only)')
    pytest.importorskip('openvino', reason='requirements-export.txt (modern environment only)')
    pytest.importorskip('nncf', reason='requirements-export.txt (modern environment only)')
    from lib.common.image import read_image
    from lib.evaluation.subset import ValSubset
    from lib.export.deploy_graph import calibration_inputs, graph_settings
    from lib.export.onnx_export import quantize_onnx, write_onnx
    from lib.export.openvino_export import convert_onnx_to_openvino
    from lib.export.tflite_export import write_tflite
    from lib.inference.detector import FaceDetector
    from lib.inference.runtimes import load_graph_def
    from lib.inference.wider import list_images
    summary, config_path, _ = pipeline
    config = load_config(config_path)
    size = (config.DATA.hin, config.DATA.win)
    graph_def = load_graph_def(summary['standard']['pb'])
    val = list_images(os.path.join(config.DATA.root_path, 'WIDER_val'))
    images = [read_image(item.path) for item in val[:8]]
    calibration_images = [read_image(item.path) for item in val[-20:]]
    calibration = calibration_inputs(calibration_images, size, graph_settings(graph_def)['pixel_mean'])
    paths = {kind: str(tmp_path / name) for kind, name in (
        ('onnx', 'detector.onnx'), ('onnx_int8', 'detector_int8.onnx'), ('openvino', 'detector_fp32.xml'),
        ('openvino_int8', 'detector_int8.xml'), ('fp32', 'detector_fp32.tflite'), ('int8', 'detector_int8.tflite'))}
    write_onnx(graph_def, paths['onnx'])
    quantize_onnx(paths['onnx'], paths['onnx_int8'], calibration)
    convert_onnx_to_openvino(paths['onnx'], paths['openvino'], 'fp32')
    convert_onnx_to_openvino(paths['onnx'], paths['openvino_int8'], 'int8', calibration)
    write_tflite(graph_def, paths['fp32'], 'fp32', size)
    write_tflite(graph_def, paths['int8'], 'int8', size, calibration_images)
    with FaceDetector(summary['standard']['pb']) as detector:
        expected = detector.detect_batch(images, 0.3, size)
    assert sum(len(d) for d in expected) > 0
    for kind in ('onnx', 'openvino', 'fp32'):
        with FaceDetector(paths[kind]) as detector:
            got = detector.detect_batch(images, 0.3, size)
        for g, e in zip_same(got, expected):
            assert g.shape == e.shape, kind
            np.testing.assert_allclose(g[:, 4], e[:, 4], atol=1e-4, err_msg=kind)
            np.testing.assert_allclose(g[:, :4], e[:, :4], atol=1e-3, err_msg=kind)
    subset = ValSubset(config.DATA.root_path, 40, size)
    aps = {}
    for kind in ('fp32', 'int8', 'onnx', 'onnx_int8', 'openvino_int8'):
        with FaceDetector(paths[kind]) as detector:
            aps[kind] = subset.average_precision(detector.detect_batch)
    report_measurement('end to end, TFLite easy AP: fp32 %.4f, int8 %.4f (gap %.4f)' % (
        aps['fp32']['easy'], aps['int8']['easy'], aps['fp32']['easy'] - aps['int8']['easy']))
    assert aps['int8']['easy'] >= aps['fp32']['easy'] - 0.05
    for kind in ('onnx_int8', 'openvino_int8'):  # fp32: the ONNX file (the OpenVINO fp32 one equals it)
        report_measurement('end to end, %s easy / medium / hard AP: %s (fp32 %s)' % (
            kind, ' / '.join('%.4f' % aps[kind][s] for s in ('easy', 'medium', 'hard')),
            ' / '.join('%.4f' % aps['onnx'][s] for s in ('easy', 'medium', 'hard'))))
        for subset_name in ('easy', 'medium', 'hard'):
            assert abs(aps[kind][subset_name] - aps['onnx'][subset_name]) <= 0.03, (kind, subset_name, aps)


def test_the_pre_nms_cap_drops_only_the_lowest_detections_of_the_trained_model(pipeline, tmp_path):
    """The default TEST.pre_nms_top_k keeps 5,000 of the 34,125 anchors at 640x640 (15%); at this test's 160x160
    (2,138 anchors) the graph keeps all. At the same share, 313, the cap may bind on this briefly trained model (all
    its detections are kept: score threshold 0), and it can only drop each image's lowest detections: NMS is greedy
    in score order, so the capped detections are a prefix of the uncapped ones, and the AP moves by little."""
    from lib.evaluation.protocol import average_precision
    from lib.evaluation.subset import ValSubset
    from lib.export.freeze import freeze_checkpoint
    from lib.inference.detector import FaceDetector
    summary, config_path, _ = pipeline
    config = load_config(config_path)
    config.TEST.pre_nms_top_k = 313
    capped = str(tmp_path / 'capped.pb')
    freeze_checkpoint(summary['standard']['checkpoint'], config, capped)
    subset = ValSubset(config.DATA.root_path, 40, (config.DATA.hin, config.DATA.win))
    found = {}
    for name, pb in (('every anchor', summary['standard']['pb']), ('capped', capped)):
        with FaceDetector(pb) as detector:
            found[name] = subset.detections(detector.detect_batch)
    assert sum(len(d) for d in found['capped'].values()) > 40
    for image, detections in found['every anchor'].items():
        kept = found['capped'][image]
        np.testing.assert_array_equal(kept, detections[:len(kept)])
    aps = {name: average_precision(found[name], subset.gt) for name in found}
    report_measurement('end to end, pre-NMS cap 313 of 2,138 anchors: easy / medium / hard AP %s (every anchor %s)' % (
        ' / '.join('%.4f' % aps['capped'][s] for s in ('easy', 'medium', 'hard')),
        ' / '.join('%.4f' % aps['every anchor'][s] for s in ('easy', 'medium', 'hard'))))
    for subset_name in ('easy', 'medium', 'hard'):
        assert abs(aps['capped'][subset_name] - aps['every anchor'][subset_name]) <= 0.02, aps


def readme_commands():
    """Every `python <script>` the README shows, plus the make targets of its quick start."""
    with open(os.path.join(ROOT, 'README.md')) as f:
        text = f.read()
    scripts = sorted(set(re.findall(r'^\s*python ((?:tools/|bench/)?[\w/]+\.py)', text, re.M)))
    targets = sorted(set(re.findall(r'^make (\w+)', text, re.M)))
    return scripts, targets


def test_readme_commands_exist_and_answer_help():
    scripts, targets = readme_commands()
    assert {'pruned_train.py', 'mac.py', 'tools/auto_freeze.py', 'tools/wider.py',
            'tools/ap_eval/evaluation.py', 'tools/prepare_wider_data.py'} <= set(scripts)
    for script in scripts:
        result = subprocess.run([sys.executable, script, '--help'], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=600)
        output = result.stdout.decode('utf-8', 'replace')
        assert result.returncode == 0 and 'usage:' in output, '%s --help:\n%s' % (script, output[-2000:])
    with open(os.path.join(ROOT, 'Makefile')) as f:
        makefile = f.read()
    assert set(targets) == {'demo', 'test'}
    for target in targets:
        assert re.search(r'^%s:' % target, makefile, re.M), 'make %s is not a Makefile target' % target
