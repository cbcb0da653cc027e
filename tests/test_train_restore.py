"""Restoring from a fake TF-slim ImageNet vgg_16.ckpt (real names and ImageNet shapes) and from a missing path."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from lib.common.errors import UserError
from lib.model import layers, vgg
from lib.model.arch import BACKBONE_LAYERS, Architecture
from lib.train.restore import decimate, decimation_indices, restore_variables
from tests.train_helpers import make_config

IMAGENET_FC = {'vgg_16/fc6': [7, 7, 512, 4096], 'vgg_16/fc7': [1, 1, 4096, 4096], 'vgg_16/fc8': [1, 1, 4096, 1000]}


def _imagenet_shapes():
    """{name: shape} of TF-slim's vgg_16.ckpt (conv1_1 .. conv5_3, fc6 .. fc8, global_step)."""
    shapes, cin = {}, 3
    for name, channels in BACKBONE_LAYERS.items():
        if name.startswith('vgg_16/conv'):
            shapes[name + '/weights'], shapes[name + '/biases'] = [3, 3, cin, channels], [channels]
            cin = channels
    for scope, shape in IMAGENET_FC.items():
        shapes[scope + '/weights'], shapes[scope + '/biases'] = shape, [shape[-1]]
    return shapes


@pytest.fixture(scope='module')
def fake_vgg16(tmp_path_factory):
    """(checkpoint prefix, {name: array}) of a fake ImageNet vgg_16.ckpt with random values."""
    rng = np.random.default_rng(0)
    values = {name: rng.standard_normal(shape, dtype=np.float32) for name, shape in _imagenet_shapes().items()}
    prefix = str(tmp_path_factory.mktemp('imagenet') / 'vgg_16.ckpt')
    with tf.Graph().as_default():
        variables = {name: tf.get_variable(name, value.shape, initializer=tf.zeros_initializer())
                     for name, value in values.items()}
        step = tf.train.get_or_create_global_step()
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            for name, variable in variables.items():
                variable.load(values[name], session)
            tf.train.Saver(list(variables.values()) + [step]).save(session, prefix, write_meta_graph=False)
    return prefix, values


def test_decimation_indices_follow_ssd():
    np.testing.assert_array_equal(decimation_indices(7, 3), [0, 3, 6])
    np.testing.assert_array_equal(decimation_indices(4096, 1024)[:4], [0, 4, 8, 12])
    assert decimate(np.arange(24).reshape(2, 12), [2, 3]).tolist() == [[0, 4, 8], [12, 16, 20]]


def test_imagenet_restore_copies_convs_and_decimates_fc(fake_vgg16, graph):
    prefix, values = fake_vgg16
    arch = Architecture.from_model_config(make_config({('MODEL', 'width_mult'): 1.}).MODEL)
    recorder = layers.LayerRecorder()
    features = vgg.vgg16(recorder, tf.zeros([1, 32, 32, 3]), arch)
    vgg.extras(recorder, features['fc7'], arch)
    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        plan = restore_variables(session, prefix, tf.global_variables(), decimate_fc=True)
        restored = {v.op.name: v for v in tf.global_variables()}
        conv5_3 = session.run(restored['vgg_16/conv5/conv5_3/weights'])
        conv1_1 = session.run(restored['vgg_16/conv1/conv1_1/biases'])
        fc6, fc6_b, fc7 = session.run([restored['fc6/weights'], restored['fc6/biases'],
                                       restored['fc7/weights']])
    assert len(plan.matched) == 26 and len(plan.decimated) == 4
    assert len(plan.fresh) == 8  # the extras' weights and biases
    assert plan.unused == ['global_step', 'vgg_16/fc8/biases', 'vgg_16/fc8/weights']
    np.testing.assert_array_equal(conv5_3, values['vgg_16/conv5/conv5_3/weights'])
    np.testing.assert_array_equal(conv1_1, values['vgg_16/conv1/conv1_1/biases'])
    assert fc6.shape == (3, 3, 512, 1024) and fc7.shape == (1, 1, 1024, 1024)
    np.testing.assert_array_equal(fc6, values['vgg_16/fc6/weights'][::3, ::3, :, ::4])
    np.testing.assert_array_equal(fc6_b, values['vgg_16/fc6/biases'][::4])
    np.testing.assert_array_equal(fc7, values['vgg_16/fc7/weights'][:, :, ::4, ::4])


def test_without_decimation_fc_stays_fresh(fake_vgg16, graph):
    arch = Architecture.from_model_config(make_config({('MODEL', 'width_mult'): 1.}).MODEL)
    vgg.vgg16(layers.LayerRecorder(), tf.zeros([1, 32, 32, 3]), arch)
    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        plan = restore_variables(session, fake_vgg16[0], tf.global_variables(), decimate_fc=False)
    assert not plan.decimated
    assert sorted(v.op.name for v in plan.fresh) == ['fc6/biases', 'fc6/weights', 'fc7/biases', 'fc7/weights']


def test_missing_checkpoint_is_a_user_error(tmp_path, graph):
    tf.get_variable('w', [1])
    with tf.Session() as session:
        with pytest.raises(UserError, match='pretrained model not found: .*nope.ckpt'):
            restore_variables(session, str(tmp_path / 'nope.ckpt'), tf.global_variables())
        (tmp_path / 'garbage.ckpt').write_bytes(b'not a checkpoint at all')
        with pytest.raises(UserError, match='pretrained model .*garbage.ckpt: not a readable checkpoint'):
            restore_variables(session, str(tmp_path / 'garbage.ckpt'), tf.global_variables())
