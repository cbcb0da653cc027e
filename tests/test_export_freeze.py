"""Freezing a dense checkpoint: the frozen graph (and SavedModel) reproduce the checkpoint session's outputs."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from export_graphs import ROOT, calm_frozen_graph, checkpoint_outputs, frozen_outputs, random_checkpoint, tiny_config
from lib.inference.detector import FaceDetector
from lib.checkpoint import resolve_checkpoint
from lib.export.freeze import freeze_checkpoint
from lib.common.errors import UserError

IMAGES = np.random.RandomState(1).randint(0, 256, (2, 96, 128, 3)).astype(np.uint8)


@pytest.fixture(scope='module')
def dense(tmp_path_factory):
    """A random width-0.125 checkpoint and its frozen graph."""
    folder = tmp_path_factory.mktemp('dense')
    config = tiny_config()
    ckpt = random_checkpoint(config, str(folder / 'model' / 'epoch_1.ckpt'))
    pb = str(folder / 'export' / 'detector.pb')
    info = freeze_checkpoint(ckpt, config, pb, saved_model_dir=str(folder / 'saved'))
    return config, ckpt, pb, info, str(folder / 'saved')


def assert_same_detections(expected, actual):
    np.testing.assert_array_equal(expected['num_detections'], actual['num_detections'])
    assert expected['num_detections'].min() > 0, 'the random model should detect something'
    np.testing.assert_allclose(expected['boxes'], actual['boxes'], atol=1e-5)
    np.testing.assert_allclose(expected['scores'], actual['scores'], atol=1e-5)


def test_frozen_graph_equals_checkpoint_outputs(dense):
    config, ckpt, pb, info, _ = dense
    assert info['input'] == 'images:0'
    assert info['outputs'] == ['boxes:0', 'scores:0', 'num_detections:0']
    assert info['file_size'] == os.path.getsize(pb) > 0
    expected = checkpoint_outputs(config, ckpt, IMAGES.astype(np.float32))
    actual = frozen_outputs(pb, IMAGES)  # uint8 fed to the float placeholder
    assert_same_detections(expected, actual)
    assert actual['boxes'].shape == (2, config.TEST.max_detect, 4)
    assert actual['num_detections'].dtype == np.int32


def test_frozen_graph_has_no_variables(dense):
    graph_def = tf.GraphDef()
    with open(dense[2], 'rb') as f:
        graph_def.ParseFromString(f.read())
    ops = {node.op for node in graph_def.node}
    assert not ops & {'VariableV2', 'VarHandleOp', 'Assign', 'RestoreV2'}
    assert [n.name for n in graph_def.node if n.op == 'Placeholder'] == ['images']


def test_saved_model_serving_signature_gives_the_same_outputs(dense):
    pb, saved = dense[2], dense[4]
    with tf.Graph().as_default() as graph:
        with tf.Session(graph=graph) as session:
            meta = tf.saved_model.loader.load(session, ['serve'], saved)
            signature = meta.signature_def['serving_default']
            outputs = {key: graph.get_tensor_by_name(value.name) for key, value in signature.outputs.items()}
            values = session.run(outputs, {signature.inputs['images'].name: IMAGES})
    assert sorted(values) == ['boxes', 'num_detections', 'scores']
    assert_same_detections(frozen_outputs(pb, IMAGES), values)


def test_detector_on_frozen_model_matches_the_padded_graph_run(dense):
    image = IMAGES[0, :70, :100]  # 70 x 100 -> padded to 96 x 128 with the graph's pixel mean, as in training
    with FaceDetector(dense[2], threads=1) as detector:
        dets = detector.detect(image, score_threshold=0.)
        np.testing.assert_array_equal(detector.pad_value, np.round(dense[0].DATA.PIXEL_MEAN))
    padded = np.empty((1, 96, 128, 3), np.uint8)
    padded[...] = np.round(dense[0].DATA.PIXEL_MEAN).astype(np.uint8)
    padded[0, :70, :100] = image
    raw = frozen_outputs(dense[2], padded)
    count = int(raw['num_detections'][0])
    pixels = raw['boxes'][0, :count] * [96, 128, 96, 128]
    xs, ys = np.clip(pixels[:, 1::2], 0, 100), np.clip(pixels[:, 0::2], 0, 70)
    expected = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1), raw['scores'][0, :count]], axis=1)
    expected = expected[(expected[:, 2] > expected[:, 0]) & (expected[:, 3] > expected[:, 1])]
    expected = expected[np.argsort(-expected[:, 4], kind='stable')]
    assert len(dets) == len(expected) > 0
    assert np.all(np.diff(dets[:, 4]) <= 0)
    np.testing.assert_allclose(dets, expected, atol=1e-3)


def other_python(name):
    """The Python of the environment ``name`` at the repo root, or None when it is not installed."""
    path = os.path.join(ROOT, name, 'bin', 'python')
    return path if os.path.isfile(path) else None


# The other TF (1.15 <-> 2.x), and Intel's TF 1.15 build (`make env-intel`, opt-in: skipped unless installed).
OTHER_ENVIRONMENTS = ['.venv311' if tf.__version__.startswith('1.') else '.venv37', '.venv37-intel']


@pytest.mark.parametrize('environment', OTHER_ENVIRONMENTS)
def test_frozen_graph_gives_the_same_detections_in_another_tensorflow(environment, tmp_path):
    """A graph frozen here gives the same detections under the other TF (1.15 <-> 2.x; `make test` builds both
    environments before either pass, so both directions run) and under intel-tensorflow 1.15 when installed."""
    python = other_python(environment)
    if python is None:
        pytest.skip('%s is not installed' % environment)
    pb = calm_frozen_graph(str(tmp_path))
    np.save(str(tmp_path / 'images.npy'), IMAGES)
    script = ("import sys, numpy as np; sys.path[:0] = [%r, %r]\n"
              "from lib.common.cli import setup_tensorflow; setup_tensorflow()\n"
              "from export_graphs import frozen_outputs\n"
              "out = frozen_outputs(%r, np.load(%r))\n"
              "np.savez(%r, **out)\n" % (ROOT, os.path.join(ROOT, 'tests'), pb,
                                          str(tmp_path / 'images.npy'), str(tmp_path / 'out.npz')))
    run = subprocess.run([python, '-c', script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    other, here = dict(np.load(str(tmp_path / 'out.npz'))), frozen_outputs(pb, IMAGES)
    assert {k: (v.shape, v.dtype) for k, v in other.items()} == {k: (v.shape, v.dtype) for k, v in here.items()}
    np.testing.assert_array_equal(other['num_detections'], here['num_detections'])
    assert here['num_detections'].min() > 0
    for image, count in enumerate(here['num_detections']):
        scores = here['scores'][image, :count]
        assert np.all(-np.diff(scores) > 1e-4) and scores.max() < 0.9999, scores  # no near ties to break
        np.testing.assert_allclose(other['scores'][image, :count], scores, atol=1e-5)
        np.testing.assert_allclose(other['boxes'][image, :count], here['boxes'][image, :count], atol=1e-4)


def test_restore_ignores_training_variables_and_rejects_a_wrong_architecture(dense, tmp_path):
    _, ckpt, _, _, _ = dense
    with pytest.raises(UserError, match='does not fit the architecture.*--slim'):
        freeze_checkpoint(ckpt, tiny_config(width=0.25), str(tmp_path / 'x.pb'))
    assert not os.path.exists(str(tmp_path / 'x.pb'))


def test_resolve_checkpoint_prefix_folder_and_errors(tmp_path):
    folder = tmp_path / 'ckpts'
    folder.mkdir()
    for name, age in (('epoch_1.ckpt', 100), ('epoch_2.ckpt', 50), ('epoch_10.ckpt', 200)):
        for suffix in ('.index', '.data-00000-of-00001'):
            path = str(folder / (name + suffix))
            open(path, 'w').close()
            os.utime(path, (time.time() - age, time.time() - age))
    prefix, how = resolve_checkpoint(str(folder))
    assert prefix == str(folder / 'epoch_2.ckpt') and '.index' in how
    (folder / 'checkpoint').write_text('model_checkpoint_path: "epoch_1.ckpt"\n')
    prefix, how = resolve_checkpoint(str(folder))
    assert prefix == str(folder / 'epoch_1.ckpt') and 'checkpoint' in how
    assert resolve_checkpoint(str(folder / 'epoch_10.ckpt'))[0] == str(folder / 'epoch_10.ckpt')
    assert resolve_checkpoint(str(folder / 'epoch_10.ckpt.index'))[0] == str(folder / 'epoch_10.ckpt')
    with pytest.raises(UserError, match='checkpoint not found'):
        resolve_checkpoint(str(folder / 'epoch_3.ckpt'))
    with pytest.raises(UserError, match='no checkpoint in'):
        resolve_checkpoint(str(tmp_path))


def test_resolve_checkpoint_training_folder_gives_its_best(tmp_path):
    run = tmp_path / 'run'
    (run / 'optimized').mkdir(parents=True)
    for path in (run / 'epoch_3.ckpt.index', run / 'optimized' / 'epoch_2_val_loss_1.500.ckpt.index'):
        path.write_text('')
    prefix, how = resolve_checkpoint(str(run))
    assert prefix == str(run / 'optimized' / 'epoch_2_val_loss_1.500.ckpt') and how.startswith('best checkpoint')
    (run / 'optimized' / 'epoch_2_val_loss_1.500.ckpt.index').unlink()
    assert resolve_checkpoint(str(run))[0] == str(run / 'epoch_3.ckpt')  # no best yet: the newest epoch
    with pytest.raises(UserError, match=r'no checkpoint in .*optimized \(expected .*\); set it here$'):
        resolve_checkpoint(str(tmp_path / 'run' / 'optimized'), hint='set it here')


def write_tiny_config(path):
    path.write_text("exec(open(%r).read())\nconfig.MODEL.width_mult = 0.125\nconfig.TEST.score_thres = 0.3\n"
                    "config.TEST.max_detect = 50\n" % os.path.join(ROOT, 'pruned_train_config.py'))
    return str(path)


def run_script(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'auto_freeze.py')] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, cwd=ROOT,
                          timeout=600)


def test_auto_freeze_cli_on_a_folder(dense, tmp_path):
    config, ckpt, pb, _, _ = dense
    result = run_script('--ckpt_path=%s' % os.path.dirname(ckpt), '--output_path=%s' % (tmp_path / 'export'),
                        '--config=%s' % write_tiny_config(tmp_path / 'tiny_config.py'))
    assert result.returncode == 0, result.stderr
    assert 'checkpoint: %s' % ckpt in result.stdout
    for name in ('images:0', 'boxes:0', 'scores:0', 'num_detections:0', 'MB'):
        assert name in result.stdout
    assert_same_detections(frozen_outputs(pb, IMAGES), frozen_outputs(str(tmp_path / 'export' / 'detector.pb'), IMAGES))


def test_auto_freeze_cli_errors(tmp_path):
    result = run_script('--ckpt_path=%s' % (tmp_path / 'nope.ckpt'), '--output_path=%s' % tmp_path)
    assert result.returncode == 2
    # TF 2.x's C++ start-up lines may precede it; the error itself is the one last line.
    assert result.stderr.splitlines()[-1].startswith('error: checkpoint not found')
    assert 'Traceback' not in result.stderr
    result = run_script('--ckpt_path=x', '--output_path=y', '--mask=m.json')
    assert result.returncode == 2 and '--slim' in result.stderr.splitlines()[-1]
