"""Channel selection by weight and by activation, the keep-one rule, hard pruning, and clear errors."""
import logging

import cv2
import numpy as np
import pytest

from lib.common.errors import UserError
from lib import checkpoint
from lib.pruning.calibration import calibration_images
from lib.pruning.selection import (channel_scores, hard_prune_checkpoint, kept_from_scores, kept_top, l1_norms,
                                   select_channels)
from pruning_helpers import dense_arch, small_config, write_random_checkpoint

LAYER = 'vgg_16/conv4/conv4_2'


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    """Width 0.125: in conv4_2, channels 0-3 have zero weights and bias -1 (never fire, but norm 1);
    channels 4-5 are all zero; every channel of conv1_1 is zero."""
    config = small_config(width_mult=0.125)
    arch = dense_arch(config)
    folder = tmp_path_factory.mktemp('select')
    prefix = str(folder / 'model.ckpt')
    values = write_random_checkpoint(arch, prefix, dead={LAYER: [4, 5], 'vgg_16/conv1/conv1_1': list(range(8))},
                                     extra=False)
    values[LAYER + '/weights'][..., :4] = 0
    values[LAYER + '/biases'][:4] = -1.
    values['vgg_16/conv1/conv1_1/biases'][:] = 0
    values['vgg_16/conv1/conv1_1/biases'][2] = 1e-4
    checkpoint.write_checkpoint(values, prefix)
    image_dir = folder / 'images'
    image_dir.mkdir()
    rng = np.random.RandomState(0)
    for i in range(3):
        cv2.imwrite(str(image_dir / ('%d.png' % i)), rng.randint(0, 255, (100, 90, 3)).astype(np.uint8))
    return dict(config=config, arch=arch, prefix=prefix, folder=folder, image_dir=str(image_dir))


NORMALISATION = ((123.675, 116.28, 103.53), (1., 1., 1.))


def test_weight_criterion_keeps_negative_bias_channels(model, caplog):
    with caplog.at_level(logging.WARNING):
        kept = select_channels(model['prefix'], model['arch'], 'weight', 1e-3, *NORMALISATION)
    assert kept[LAYER] == [0, 1, 2, 3] + list(range(6, model['arch'].channels[LAYER]))
    assert kept['vgg_16/conv1/conv1_1'] == [2]  # all norms <= eps: the strongest one stays
    assert 'vgg_16/conv1/conv1_1' in caplog.text and 'keeping its strongest channel 2' in caplog.text
    assert kept['fc7'] == list(range(model['arch'].channels['fc7']))


def test_l1_criterion_ignores_biases(model):
    """conv4_2's channels 0-3 (zero weights, bias -1) score 0 by L1 where the L2 criterion keeps them."""
    kept = select_channels(model['prefix'], model['arch'], 'l1', 1e-3, *NORMALISATION)
    assert kept[LAYER] == list(range(6, model['arch'].channels[LAYER]))
    weights = checkpoint.read_checkpoint(model['prefix'])['fc7/weights']
    np.testing.assert_allclose(
        channel_scores(model['prefix'], model['arch'], 'l1', *NORMALISATION)['fc7'],
        np.abs(weights.astype(np.float64)).sum(axis=(0, 1, 2)), rtol=1e-5)


def test_activation_criterion_drops_channels_that_never_fire(model):
    mean, std = model['config'].DATA.PIXEL_MEAN, model['config'].DATA.PIXEL_STD
    images = calibration_images(model['image_dir'], 3, (64, 64), mean)
    kept = select_channels(model['prefix'], model['arch'], 'activation', 0., mean, std, images)
    assert not set(range(6)) & set(kept[LAYER])
    assert len(kept[LAYER]) > model['arch'].channels[LAYER] // 2


def test_activation_without_images_is_a_user_error(model):
    with pytest.raises(UserError, match='calibration images'):
        select_channels(model['prefix'], model['arch'], 'activation', 1e-3, *NORMALISATION, iter([]))


def test_kept_from_scores_threshold_is_inclusive():
    assert kept_from_scores({'fc7': np.array([0.5, 0.1, 0.2])}, eps=0.2) == {'fc7': [0]}


def test_missing_checkpoint(model):
    with pytest.raises(UserError, match='checkpoint not found'):
        select_channels(str(model['folder'] / 'nope.ckpt'), model['arch'], 'weight', 1e-3, *NORMALISATION)


def test_checkpoint_of_another_width(model):
    other = dense_arch(small_config(width_mult=0.25))
    with pytest.raises(UserError, match=r'does not fit the architecture: vgg_16/conv1/conv1_1/weights has shape'):
        select_channels(model['prefix'], other, 'weight', 1e-3, *NORMALISATION)


def test_hard_prune_zeroes_and_copies(model):
    out = hard_prune_checkpoint(model['prefix'], {'fc7': [1, 2]}, str(model['folder'] / 'hard.ckpt'))
    source, hard = checkpoint.read_checkpoint(model['prefix']), checkpoint.read_checkpoint(out)
    assert not hard['fc7/weights'][..., 3:].any() and not hard['fc7/weights'][..., 0].any()
    np.testing.assert_array_equal(hard['fc7/weights'][..., 1:3], source['fc7/weights'][..., 1:3])
    np.testing.assert_array_equal(hard['merge/res2/weights'], source['merge/res2/weights'])
    with pytest.raises(UserError, match='keeps channel 9999'):
        hard_prune_checkpoint(model['prefix'], {'fc7': [9999]}, str(model['folder'] / 'bad.ckpt'))


def test_l1_norms_sum_both_fpn_convs_and_kept_top_takes_the_largest():
    values = {'lateral/res0/weights': np.array([[[[1., -2., 0.5]]]]),
              'merge/res0/weights': np.array([[[[-1., 0., 0.25]]]]),
              'vgg_16/conv1/conv1_1/weights': np.ones((3, 3, 3, 2)) * np.array([1., -3.])}
    norms = l1_norms(values, ['fpn/res0', 'vgg_16/conv1/conv1_1'])
    np.testing.assert_allclose(norms['fpn/res0'], [2., 2., 0.75])
    np.testing.assert_allclose(norms['vgg_16/conv1/conv1_1'], [27., 81.])
    assert kept_top(norms, {'fpn/res0': 2, 'vgg_16/conv1/conv1_1': 1}) == {'fpn/res0': [0, 1],
                                                                           'vgg_16/conv1/conv1_1': [1]}
