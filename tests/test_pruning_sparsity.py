"""Pruning losses and alive fractions on hand-made feature maps and filters with known answers."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from lib.model import layers
from lib.model.dsfd import Endpoints
from lib.pruning.sparsity import alive_fractions, filter_norms, layer_terms, num_targeted, pruning_loss


def _endpoints_with_features(arrays):
    """Endpoints whose features are the given [N, H, W, C] arrays (activation loss needs nothing else)."""
    features = {name: tf.constant(a, tf.float32) for name, a in arrays.items()}
    return Endpoints(features, [], {}, layers.LayerRecorder())


def _feature(maxima):
    """[2, 2, 2, C] ReLU output whose per-channel max over batch, H, W is ``maxima`` (one image holds the max)."""
    feature = np.zeros((2, 2, 2, len(maxima)), np.float32)
    feature[1, 0, 1] = maxima
    feature[0, 1, 1] = np.asarray(maxima) * 0.5
    return feature


def test_num_targeted_floors():
    assert [num_targeted(r, 10) for r in (0., 0.09, 0.1, 0.55, 0.99)] == [0, 0, 1, 5, 9]


def test_activation_loss_is_mean_of_lowest_maxima_summed_over_layers(graph):
    endpoints = _endpoints_with_features({'a': _feature([4., 1., 3., 2.]), 'b': _feature([5., 0., 7., 1., 6.])})
    loss = pruning_loss(endpoints, {'a': 0.5, 'b': 0.4}, 'activation', alpha=2.)
    with tf.Session() as session:
        # a: lowest 2 of [4, 1, 3, 2] -> mean 1.5; b: lowest 2 of [5, 0, 7, 1, 6] -> mean 0.5
        assert session.run(loss) == pytest.approx(2. * (1.5 + 0.5))


def test_activation_per_image_is_the_originals_mean_of_each_images_lowest_maxima(graph):
    feature = np.zeros((2, 2, 2, 4), np.float32)
    feature[0, 0, 0] = [4., 1., 3., 2.]   # image 0: lowest two maxima 1, 2 (channels 1, 3)
    feature[1, 1, 1] = [0., 6., 5., 8.]   # image 1: lowest two maxima 0, 5 (channels 0, 2)
    endpoints = _endpoints_with_features({'a': feature})
    with tf.Session() as session:
        per_image = session.run(pruning_loss(endpoints, {'a': 0.5}, 'activation_per_image', alpha=2.))
        batch = session.run(pruning_loss(endpoints, {'a': 0.5}, 'activation', alpha=2.))
    assert per_image == pytest.approx(2. * (1. + 2. + 0. + 5.) / 4.)
    assert batch == pytest.approx(2. * (4. + 5.) / 2.)  # batch maxima [4, 6, 5, 8]: lowest 4, 5


def test_zero_ratio_and_zero_alpha_add_nothing(graph):
    endpoints = _endpoints_with_features({'a': _feature([4., 1., 3., 2.]), 'b': _feature([5., 6.])})
    with tf.Session() as session:
        assert session.run(pruning_loss(endpoints, {'a': 0.5, 'b': 0.}, 'activation', 1.)) == pytest.approx(1.5)
        assert session.run(pruning_loss(endpoints, {'a': 0.5, 'b': 0.4}, 'activation', 0.)) == 0.
        assert session.run(pruning_loss(endpoints, {'a': 0.2, 'b': 0.4}, 'activation', 1.)) == 0.
    assert set(layer_terms(endpoints, {'a': 0.5, 'b': 0.}, 'activation')) == {'a'}


def _conv_endpoints(weights, biases):
    """A one-conv 'model': layer 'conv' is a 3x3 conv with the given weights [3, 3, cin, c] and biases."""
    recorder = layers.LayerRecorder()
    x = tf.zeros([1, 4, 4, weights.shape[2]])
    y = layers.conv2d(recorder, x, weights.shape[3], 3, 'conv', 'backbone', channel_group='conv')
    conv = recorder.convs[0]
    return Endpoints({'conv': y}, [], {}, recorder), conv


def test_group_lasso_sums_lowest_filter_group_norms(graph):
    weights = np.zeros((3, 3, 2, 4), np.float32)
    biases = np.zeros(4, np.float32)
    weights[0, 0, 0, 0], biases[0] = 3., 4.          # norm 5
    weights[1, 1, 1, 1] = 1.                          # norm 1
    weights[2, 2, 0, 2], weights[0, 1, 1, 2] = 2., 2.  # norm sqrt(8)
    biases[3] = 0.5                                   # norm 0.5
    endpoints, conv = _conv_endpoints(weights, biases)
    loss = pruning_loss(endpoints, {'conv': 0.5}, 'group_lasso', alpha=3.)
    grads = tf.gradients(loss, [conv.weights, conv.biases])
    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        conv.weights.load(weights, session)
        conv.biases.load(biases, session)
        norms, value, (grad_w, grad_b) = session.run([filter_norms(conv), loss, grads])
    np.testing.assert_allclose(norms, [5., 1., np.sqrt(8.), 0.5], rtol=1e-5)
    assert value == pytest.approx(3. * (1. + 0.5), rel=1e-5)
    # only the two weakest filters are pushed, along their own direction
    assert np.all(grad_w[..., [0, 2]] == 0) and np.all(grad_b[[0, 2]] == 0)
    assert grad_w[1, 1, 1, 1] == pytest.approx(3.) and grad_b[3] == pytest.approx(3.)


def test_unknown_kind_is_a_user_error(graph):
    from lib.common.errors import UserError
    endpoints = _endpoints_with_features({'a': _feature([1., 2.])})
    with pytest.raises(UserError, match='group_lasso'):
        pruning_loss(endpoints, {'a': 0.5}, 'l1', 1.)


def test_alive_fraction_counts_channels_above_threshold_anywhere_in_batch(graph):
    feature = np.zeros((2, 3, 3, 4), np.float32)
    feature[1, 2, 2, 0] = 0.1     # alive on one image only
    feature[0, 0, 0, 1] = 1e-7    # below the threshold: dead
    feature[:, :, :, 3] = 2.      # alive everywhere
    fractions = alive_fractions({'a': tf.constant(feature)})
    with tf.Session() as session:
        assert session.run(fractions['a']) == pytest.approx(0.5)


def test_activation_uses_largest_absolute_value_and_round_to_targets_fewer(graph):
    """An FPN product has no ReLU: a channel at -7 everywhere is strong. round_to=4 on 10 channels at ratio 0.5
    keeps 8 (5 rounded up), so only the lowest 2 are pushed."""
    feature = _feature([4., 1., 3., 2., 5., 6., 8., 9., 10., 0.5])
    feature[:, :, :, 1] = -7.
    endpoints = _endpoints_with_features({'p': feature})
    with tf.Session() as session:
        plain = session.run(pruning_loss(endpoints, {'p': 0.5}, 'activation', 1.))
        rounded = session.run(pruning_loss(endpoints, {'p': 0.5}, 'activation', 1., round_to=4))
        alive = session.run(alive_fractions({'p': tf.constant(feature)}))['p']
    assert plain == pytest.approx((0.5 + 2. + 3. + 4. + 5.) / 5.)  # |-7| is not among the lowest
    assert rounded == pytest.approx((0.5 + 2.) / 2.)
    assert alive == 1.
    assert [num_targeted(0.5, 10, r) for r in (1, 4, 8, 16)] == [5, 2, 2, 0]


def test_group_lasso_norm_spans_both_convs_of_a_group(graph):
    """Both FPN convs of a level share channels: a channel's norm is over both filters (3 and 4 -> 5)."""
    recorder = layers.LayerRecorder()
    x = tf.zeros([1, 4, 4, 2])
    for scope in ('lateral', 'merge'):
        layers.conv2d(recorder, x, 3, 1, scope, 'fpn_fem', activation=None, channel_group='fpn/res0')
    recorder.features['fpn/res0'] = recorder.convs[0].output * recorder.convs[1].output
    endpoints = Endpoints(recorder.features, [], {}, recorder)
    loss = pruning_loss(endpoints, {'fpn/res0': 0.34}, 'group_lasso', 1.)
    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        lateral, merge = recorder.convs
        lateral.weights.load(np.array([3., 0., 0., 0., 0., 10.], np.float32).reshape(1, 1, 2, 3), session)
        merge.weights.load(np.array([4., 1., 0., 0., 0., 0.], np.float32).reshape(1, 1, 2, 3), session)
        norms, value = session.run([filter_norms(lateral, merge), loss])
    np.testing.assert_allclose(norms, [5., 1., 10.], rtol=1e-5)
    assert value == pytest.approx(1., rel=1e-5)
