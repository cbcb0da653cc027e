"""Slimming: the slim model computes what the hard-pruned dense model computes (raw heads and NMS boxes)."""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from lib.anchors.generator import anchor_spec_from_config
from lib.checkpoint import arch_path, load_arch
from lib.model.arch import PRUNABLE_LAYERS
from lib.model.dsfd import build_inference_graph
from lib import checkpoint
from lib.pruning.selection import hard_prune_checkpoint, select_channels
from lib.pruning.slimming import slim_checkpoint
from pruning_helpers import dense_arch, random_dead, small_config, write_random_checkpoint


def run_model(config, arch, ckpt_prefix, images):
    """Raw head outputs of every shot and the NMS outputs of ``arch`` restored from ``ckpt_prefix``."""
    with tf.Graph().as_default():
        placeholder, outputs, endpoints = build_inference_graph(
            arch, anchor_spec_from_config(config.ANCHOR), config.ANCHOR.encode_scale, config.TEST,
            config.DATA.PIXEL_MEAN, config.DATA.PIXEL_STD)
        fetches = {'outputs': outputs, 'shots': dict(endpoints.shots)}
        with tf.Session() as session:
            tf.train.Saver(var_list=tf.global_variables()).restore(session, ckpt_prefix)
            return session.run(fetches, {placeholder: images})


def complement(arch, dead):
    return {name: sorted(set(range(arch.channels[name])) - set(dead[name])) for name in dead}


@pytest.fixture(scope='module')
def pruned(tmp_path_factory):
    """A width-0.25 random checkpoint with 40% of every prunable layer's filters dead, selected by weight;
    and a random 40% of live filters on every layer pruned, hard (zeroed) and slim (sliced from the source)."""
    config = small_config()
    arch = dense_arch(config)
    folder = tmp_path_factory.mktemp('slim')
    source = str(folder / 'model.ckpt')
    dead = random_dead(arch, seed=0)
    write_random_checkpoint(arch, source, dead)
    selected = select_channels(source, arch, 'weight', 1e-6, (0., 0., 0.), (1., 1., 1.))
    kept = complement(arch, random_dead(arch, seed=1))
    hard = hard_prune_checkpoint(source, kept, str(folder / 'hard.ckpt'))
    slim_arch = slim_checkpoint(source, kept, arch, str(folder / 'slim.ckpt'))
    return dict(config=config, arch=arch, dead=dead, selected=selected, kept=kept, source=source, hard=hard,
                slim=str(folder / 'slim.ckpt'), slim_arch=slim_arch)


def test_selection_finds_exactly_the_dead_filters(pruned):
    assert pruned['selected'] == complement(pruned['arch'], pruned['dead'])


def test_slim_arch_is_saved_and_smaller(pruned):
    assert load_arch(pruned['slim'], None) == pruned['slim_arch']
    for name in PRUNABLE_LAYERS:
        assert pruned['slim_arch'].channels[name] == len(pruned['kept'][name])
    slim = checkpoint.read_checkpoint(pruned['slim'])
    assert slim['global_step'] == 123
    kept_43 = len(pruned['kept']['vgg_16/conv4/conv4_3'])
    assert slim['vgg_16/conv5/conv5_1/weights'].shape[2] == kept_43
    assert slim['vgg_16/conv5/conv5_1/weights/Momentum'].shape[2] == kept_43
    assert slim['lateral/res1/weights'].shape[2] == kept_43
    assert slim['ssdout/out_cla1/weights'].shape[2] == kept_43
    kept_fc7 = len(pruned['kept']['fc7'])
    for name in ('merge/res2', 'fems3/eyes_1', 'fems3/eyes_2_1', 'ssdout/out_reg3', 'extra/extra_conv1'):
        assert slim[name + '/weights'].shape[2] == kept_fc7
    assert slim['fems3/eyes_2/weights'].shape == slim['fems3/eyes_3_1/weights'].shape  # both read eyes_2_1


def test_slim_model_equals_hard_pruned_model(pruned):
    config = pruned['config']
    images = np.random.RandomState(1).uniform(0, 255, size=(2, 128, 160, 3)).astype(np.float32)
    dense = run_model(config, pruned['arch'], pruned['hard'], images)
    slim = run_model(config, pruned['slim_arch'], pruned['slim'], images)
    unpruned = run_model(config, pruned['arch'], pruned['source'], images)
    assert np.abs(unpruned['shots']['second'][0] - dense['shots']['second'][0]).max() > 1e-2  # pruning matters
    for shot in ('first', 'second'):
        for dense_out, slim_out in zip(dense['shots'][shot], slim['shots'][shot]):
            assert np.abs(dense_out).max() > 1e-2  # the heads say something
            # 1e-4 of the outputs' range: float32 sums in another order (head outputs reach ~40 here)
            np.testing.assert_allclose(slim_out, dense_out, atol=1e-4 * max(1., np.abs(dense_out).max()), rtol=0)
    counts = dense['outputs']['num_detections']
    assert counts.min() > 0
    np.testing.assert_array_equal(slim['outputs']['num_detections'], counts)
    for i, count in enumerate(counts):
        np.testing.assert_allclose(slim['outputs']['boxes'][i, :count], dense['outputs']['boxes'][i, :count],
                                   atol=1e-4)


def test_hard_pruned_checkpoint_zeroes_exactly_the_pruned_filters(pruned):
    source = checkpoint.read_checkpoint(pruned['source'])
    hard = checkpoint.read_checkpoint(pruned['hard'])
    assert set(hard) == set(source)
    for scope in ('vgg_16/conv3/conv3_3', 'fc7', 'extra/extra_conv4'):
        name = scope
        pruned_channels = sorted(set(range(pruned['arch'].channels[name])) - set(pruned['kept'][name]))
        assert not hard[scope + '/weights'][..., pruned_channels].any()
        assert not hard[scope + '/biases'][pruned_channels].any()
        np.testing.assert_array_equal(hard[scope + '/weights'][..., pruned['kept'][name]],
                                      source[scope + '/weights'][..., pruned['kept'][name]])
    assert hard['global_step'] == 123


def test_no_arch_file_for_hard_pruned_dense_checkpoint(pruned):
    assert not os.path.exists(arch_path(pruned['hard']))
