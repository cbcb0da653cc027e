"""Slimming: the slim model computes what the hard-pruned dense model computes (raw heads and NMS boxes)."""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conftest import zip_same
from lib.anchors.generator import anchor_spec_from_config
from lib.checkpoint import arch_path, load_arch
from lib.model.arch import FEM_GROUPS, FPN_GROUPS, SOURCE_LAYERS
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
    """A width-0.25 random checkpoint with 40% of every pruning group's filters dead (backbone, extras, FPN, FEM),
    selected by weight; and a random 40% of live filters of every group pruned, hard (zeroed) and slim (sliced
    from the source)."""
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
    assert len(pruned['kept']) == len(pruned['arch'].groups) == 19 + 3 + 30
    for name in pruned['arch'].groups:
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
    assert slim['fems3/eyes_2/weights'].shape[2] == slim['fems3/eyes_3_1/weights'].shape[2] == \
        len(pruned['kept']['fems3/eyes_2_1'])  # both read eyes_2_1
    kept_p1 = len(pruned['kept']['fpn/res1'])
    for name in ('lateral/res1', 'merge/res1'):  # both factors of the product lose the channels
        assert slim[name + '/weights'].shape[3] == slim[name + '/biases'].shape[0] == kept_p1
    for name in ('merge/res0', 'fems1/eyes_1', 'fems1/eyes_2_1'):
        assert slim[name + '/weights'].shape[2] == kept_p1
    concat = sum(len(pruned['kept']['fems2/' + branch]) for branch in ('eyes_1', 'eyes_2', 'eyes_3'))
    assert slim['dual/ssdout/out_reg2/weights'].shape[2:] == (concat, 4)  # heads keep their outputs


def test_slim_model_equals_hard_pruned_model(pruned):
    config = pruned['config']
    images = np.random.RandomState(1).uniform(0, 255, size=(2, 128, 160, 3)).astype(np.float32)
    dense = run_model(config, pruned['arch'], pruned['hard'], images)
    slim = run_model(config, pruned['slim_arch'], pruned['slim'], images)
    unpruned = run_model(config, pruned['arch'], pruned['source'], images)
    assert np.abs(unpruned['shots']['second'][0] - dense['shots']['second'][0]).max() > 1e-2  # pruning matters
    for shot in ('first', 'second'):
        for dense_out, slim_out in zip_same(dense['shots'][shot], slim['shots'][shot]):
            assert np.abs(dense_out).max() > 1e-2  # the heads say something
            # 1e-4 of the outputs' range: float32 sums in another order (head outputs reach ~40 here)
            np.testing.assert_allclose(slim_out, dense_out, atol=1e-4 * max(1., np.abs(dense_out).max()), rtol=0)
    counts = dense['outputs']['num_detections']
    assert counts.min() > 0
    np.testing.assert_array_equal(slim['outputs']['num_detections'], counts)
    for i, count in enumerate(counts):
        np.testing.assert_allclose(slim['outputs']['boxes'][i, :count], dense['outputs']['boxes'][i, :count],
                                   atol=1e-4)


# Each coupling pruned alone: the groups whose channels cross it (slim == hard-pruned proves the slicing rule).
COUPLINGS = {
    'fpn_product': FPN_GROUPS,  # lateral/res{i} * up(merge/res{i}); read by merge/res{i-1} and the FEM
    'fem_concat_into_heads': [g for g in FEM_GROUPS if g.split('/')[1] in ('eyes_1', 'eyes_2', 'eyes_3')],
    'shared_eyes_2_1': [g for g in FEM_GROUPS if g.split('/')[1] in ('eyes_2_1', 'eyes_3_1')],
    'sources_into_heads_fpn_fem': SOURCE_LAYERS,  # first-shot heads, lateral/res*, merge/res2, fems3..5
}


@pytest.mark.parametrize('coupling', sorted(COUPLINGS))
def test_slim_equals_hard_pruned_for_each_coupling(pruned, coupling, tmp_path):
    config, arch = pruned['config'], pruned['arch']
    kept = complement(arch, random_dead(arch, fraction=0.5, seed=2, groups=COUPLINGS[coupling]))
    hard = hard_prune_checkpoint(pruned['source'], kept, str(tmp_path / 'hard.ckpt'))
    slim_arch = slim_checkpoint(pruned['source'], kept, arch, str(tmp_path / 'slim.ckpt'))
    assert all(slim_arch.channels[g] < arch.channels[g] for g in COUPLINGS[coupling])
    images = np.random.RandomState(3).uniform(0, 255, size=(1, 64, 96, 3)).astype(np.float32)
    dense = run_model(config, arch, hard, images)
    slim = run_model(config, slim_arch, str(tmp_path / 'slim.ckpt'), images)
    unpruned = run_model(config, arch, pruned['source'], images)
    assert np.abs(unpruned['shots']['second'][0] - dense['shots']['second'][0]).max() > 1e-3  # pruning matters
    for shot in ('first', 'second'):
        for dense_out, slim_out in zip_same(dense['shots'][shot], slim['shots'][shot]):
            np.testing.assert_allclose(slim_out, dense_out, atol=1e-4 * max(1., np.abs(dense_out).max()), rtol=0)


def test_fpn_channel_dead_in_one_factor_is_dead_in_the_product(tmp_path):
    """lateral/res1's filter 3 zeroed (merge/res1's alive): the activation criterion (largest |product|) prunes
    channel 3 of group fpn/res1, the weight criterion (norm over both convs) does not; both convs lose it."""
    config = small_config(width_mult=0.125, size=64)
    arch = dense_arch(config)
    source = str(tmp_path / 'model.ckpt')
    values = write_random_checkpoint(arch, source, extra=False)
    values['lateral/res1/weights'][..., 3] = 0
    values['lateral/res1/biases'][3] = 0
    checkpoint.write_checkpoint(values, source)
    images = [np.random.RandomState(4).uniform(0, 255, size=(64, 64, 3)).astype(np.float32)]
    by_activation = select_channels(source, arch, 'activation', 0., (0., 0., 0.), (1., 1., 1.), images)
    by_weight = select_channels(source, arch, 'weight', 1e-6, (0., 0., 0.), (1., 1., 1.))
    width = arch.channels['fpn/res1']
    assert by_activation['fpn/res1'] == [c for c in range(width) if c != 3]
    assert by_weight['fpn/res1'] == list(range(width))
    slim_arch = slim_checkpoint(source, {'fpn/res1': by_activation['fpn/res1']}, arch, str(tmp_path / 'slim.ckpt'))
    slim = checkpoint.read_checkpoint(str(tmp_path / 'slim.ckpt'))
    assert slim_arch.channels['fpn/res1'] == width - 1 == slim['merge/res1/weights'].shape[3]
    unpruned = run_model(config, arch, source, images[0][None])
    sliced = run_model(config, slim_arch, str(tmp_path / 'slim.ckpt'), images[0][None])
    for dense_out, slim_out in zip_same(unpruned['shots']['second'], sliced['shots']['second']):
        np.testing.assert_allclose(slim_out, dense_out, atol=1e-4 * max(1., np.abs(dense_out).max()), rtol=0)


def test_hard_pruned_checkpoint_zeroes_exactly_the_pruned_filters(pruned):
    source = checkpoint.read_checkpoint(pruned['source'])
    hard = checkpoint.read_checkpoint(pruned['hard'])
    assert set(hard) == set(source)
    for name, scope in (('vgg_16/conv3/conv3_3',) * 2, ('fc7',) * 2, ('extra/extra_conv4',) * 2,
                        ('fpn/res0', 'lateral/res0'), ('fpn/res0', 'merge/res0'), ('fems4/eyes_2_1',) * 2):
        pruned_channels = sorted(set(range(pruned['arch'].channels[name])) - set(pruned['kept'][name]))
        assert not hard[scope + '/weights'][..., pruned_channels].any()
        assert not hard[scope + '/biases'][pruned_channels].any()
        np.testing.assert_array_equal(hard[scope + '/weights'][..., pruned['kept'][name]],
                                      source[scope + '/weights'][..., pruned['kept'][name]])
    assert hard['global_step'] == 123


def test_no_arch_file_for_hard_pruned_dense_checkpoint(pruned):
    assert not os.path.exists(arch_path(pruned['hard']))
