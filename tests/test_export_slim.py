"""Freezing a pruned model: the slim .pb reproduces the hard-pruned dense model's detections."""
import os
import subprocess
import sys

import numpy as np
import pytest

from export_graphs import ROOT, checkpoint_outputs, frozen_outputs, random_checkpoint, tiny_config
from lib.export.freeze import freeze_checkpoint
from lib.pruning.slimming import slim_checkpoint_for
from lib.common.errors import UserError
from lib.checkpoint import arch_path, mask_path
from lib.config import dense_architecture
from lib.model.arch import PRUNABLE_LAYERS, Architecture
from lib.pruning.masks import write_mask
from lib.pruning.selection import hard_prune_checkpoint

IMAGES = np.random.RandomState(2).randint(0, 256, (2, 96, 128, 3)).astype(np.uint8)


@pytest.fixture(scope='module')
def pruned(tmp_path_factory):
    """A random width-0.25 checkpoint with random biases, a mask keeping ~60% of every layer, its slim freeze."""
    folder = tmp_path_factory.mktemp('slim')
    config = tiny_config(width=0.25)
    dense_arch = Architecture.from_model_config(config.MODEL)
    ckpt = random_checkpoint(config, str(folder / 'model' / 'epoch_3.ckpt'), bias_std=0.05)
    rng = np.random.RandomState(0)
    kept = {name: sorted(rng.choice(dense_arch.channels[name], max(1, int(dense_arch.channels[name] * 0.6)),
                                    replace=False).tolist()) for name in PRUNABLE_LAYERS}
    write_mask(mask_path(ckpt), kept, 'weight', 0., ckpt)
    slim_ckpt = slim_checkpoint_for(ckpt, dense_arch, str(folder / 'export' / 'slim'))
    slim_pb = str(folder / 'export' / 'detector.pb')
    info = freeze_checkpoint(slim_ckpt, config, slim_pb)
    hard = hard_prune_checkpoint(ckpt, kept, str(folder / 'hard' / 'hard.ckpt'))
    return config, ckpt, kept, slim_ckpt, slim_pb, info, hard, folder


def test_slim_frozen_graph_equals_the_hard_pruned_model(pruned):
    config, _, _, _, slim_pb, _, hard, _ = pruned
    expected = checkpoint_outputs(config, hard, IMAGES.astype(np.float32))
    actual = frozen_outputs(slim_pb, IMAGES)
    np.testing.assert_array_equal(expected['num_detections'], actual['num_detections'])
    assert actual['num_detections'].min() > 0
    np.testing.assert_allclose(expected['boxes'], actual['boxes'], atol=1e-3)
    np.testing.assert_allclose(expected['scores'], actual['scores'], atol=1e-4)


def test_slim_checkpoint_is_smaller_and_carries_its_architecture(pruned):
    config, ckpt, kept, slim_ckpt, _, info, _, folder = pruned
    assert os.path.isfile(arch_path(slim_ckpt))
    assert slim_checkpoint_for(slim_ckpt, dense_architecture(config), str(folder / 'unused')) == slim_ckpt  # already slim
    dense_pb = str(folder / 'dense.pb')
    dense_size = freeze_checkpoint(ckpt, config, dense_pb)['file_size']
    assert info['file_size'] < 0.6 * dense_size


def test_slim_without_a_mask_is_a_user_error(pruned, tmp_path):
    config, _, _, _, _, _, hard, _ = pruned
    with pytest.raises(UserError, match='mask file not found.*--mask'):
        slim_checkpoint_for(hard, dense_architecture(config), str(tmp_path))


def test_auto_freeze_slim_cli_with_a_mask_flag(pruned, tmp_path):
    _, ckpt, kept, _, slim_pb, _, _, _ = pruned
    moved_mask = str(tmp_path / 'chosen.mask.json')
    write_mask(moved_mask, kept, 'weight', 0., ckpt)
    config_path = tmp_path / 'config.py'
    config_path.write_text("exec(open(%r).read())\nconfig.MODEL.width_mult = 0.25\nconfig.TEST.score_thres = 0.3\n"
                           "config.TEST.max_detect = 50\n" % os.path.join(ROOT, 'pruned_train_config.py'))
    out = tmp_path / 'out'
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'auto_freeze.py'), '--ckpt_path=%s' % ckpt,
                             '--output_path=%s' % out, '--slim', '--mask=%s' % moved_mask,
                             '--config=%s' % config_path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, cwd=ROOT,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert 'slim checkpoint: %s' % (out / 'slim' / 'epoch_3.ckpt') in result.stdout
    expected, actual = frozen_outputs(slim_pb, IMAGES), frozen_outputs(str(out / 'detector.pb'), IMAGES)
    np.testing.assert_array_equal(expected['num_detections'], actual['num_detections'])
    np.testing.assert_allclose(expected['boxes'], actual['boxes'], atol=1e-5)
