"""How a run starts (lib/train/start.py): the start record, resume vs a different pretrained model, --resume,
and continue_train's strict restore at step 0."""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from easydict import EasyDict as edict

from lib import checkpoint
from lib.common.errors import UserError
from lib.train.start import choose_start, read_start, record_start, restore_pretrained, start_path


def _model(model_path, pretrained=None, continue_train=False, resume=False):
    return edict(model_path=model_path, pretrained_model=pretrained, continue_train=continue_train, resume=resume,
                 decimate_imagenet_fc=True)


def _write_run_checkpoint(model_path, step):
    """An epoch checkpoint listed in model_path's `checkpoint` file, as training leaves it."""
    checkpoint.write_checkpoint({'global_step': np.int64(step)}, os.path.join(model_path, 'epoch_1.ckpt'))
    with open(os.path.join(model_path, 'checkpoint'), 'w') as f:
        f.write('model_checkpoint_path: "epoch_1.ckpt"\n')
    return os.path.join(model_path, 'epoch_1.ckpt')


@pytest.fixture
def pretrained(tmp_path):
    """Two readable checkpoints to start from: A and B."""
    paths = []
    for name in ('A', 'B'):
        prefix = str(tmp_path / name / 'model.ckpt')
        checkpoint.write_checkpoint({'w': np.ones(2, np.float32)}, prefix)
        paths.append(prefix)
    return paths


def test_same_command_resumes_other_pretrained_stops_resume_continues(tmp_path, pretrained):
    a, b = pretrained
    run = str(tmp_path / 'run')
    start = choose_start(_model(run, a), run)
    assert start.resume is None and start.pretrained == a and not start.strict
    assert read_start(run) == ''                                       # nothing written until training begins
    record_start(_model(run, a), run, start)
    assert read_start(run) == os.path.realpath(a)
    resume = _write_run_checkpoint(run, 7)
    assert choose_start(_model(run, a), run).resume == resume          # the same command again: resumes
    with pytest.raises(UserError) as err:
        choose_start(_model(run, b), run)
    message = str(err.value)
    assert '\n' not in message and os.path.realpath(a) in message and b in message
    assert '--model_path' in message and '--resume' in message
    with pytest.raises(UserError, match='started from'):
        choose_start(_model(run, None), run)                           # nothing vs A is different too
    start = choose_start(_model(run, b, resume=True), run)
    assert start.resume == resume and start.pretrained is None
    record_start(_model(run, b, resume=True), run, start)
    assert read_start(run) == os.path.realpath(a)                      # the record is not rewritten by a resume


def test_run_from_scratch_resumes_and_refuses_a_pretrained_model(tmp_path, pretrained):
    run = str(tmp_path / 'run')
    start = choose_start(_model(run), run)
    assert start == (None, None, False)
    record_start(_model(run), run, start)
    assert read_start(run) is None
    resume = _write_run_checkpoint(run, 3)
    assert choose_start(_model(run), run).resume == resume
    with pytest.raises(UserError, match='started from no pretrained model'):
        choose_start(_model(run, pretrained[0]), run)


def test_unrecorded_run_resumes_only_without_a_pretrained_model(tmp_path, pretrained):
    run = str(tmp_path / 'old')
    os.makedirs(run)
    resume = _write_run_checkpoint(run, 3)
    assert not os.path.exists(start_path(run))
    assert choose_start(_model(run), run).resume == resume
    with pytest.raises(UserError, match='an unrecorded start'):
        choose_start(_model(run, pretrained[0]), run)


def test_resume_without_a_run_and_continue_train_without_a_model_are_errors(tmp_path, pretrained):
    run = str(tmp_path / 'empty')
    with pytest.raises(UserError, match='--resume .* holds no checkpoint'):
        choose_start(_model(run, resume=True), run)
    with pytest.raises(UserError, match='continue_train .* not set'):
        choose_start(_model(run, continue_train=True), run)
    with pytest.raises(UserError, match='pretrained model not found'):
        choose_start(_model(run, str(tmp_path / 'missing.ckpt')), run)
    assert choose_start(_model(run, pretrained[0], continue_train=True), run).strict


def _restore_into(ckpt, model):
    """Build variables a [2] and b [3, 1], restore them as the trainer does, return their values."""
    with tf.Graph().as_default():
        variables = [tf.get_variable('a', [2], initializer=tf.zeros_initializer()),
                     tf.get_variable('b', [3, 1], initializer=tf.zeros_initializer())]
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            restore_pretrained(session, ckpt, variables, model)
            return session.run(variables)


def test_continue_train_restores_every_variable_or_names_the_missing_one(tmp_path):
    full, partial, misshaped = (str(tmp_path / n) for n in ('full.ckpt', 'partial.ckpt', 'misshaped.ckpt'))
    checkpoint.write_checkpoint({'a': np.array([1., 2.], np.float32), 'b': np.full((3, 1), 5., np.float32),
                                 'global_step': np.int64(40)}, full)
    checkpoint.write_checkpoint({'a': np.array([1., 2.], np.float32)}, partial)
    checkpoint.write_checkpoint({'a': np.array([1., 2.], np.float32), 'b': np.ones((1, 3), np.float32)}, misshaped)
    a, b = _restore_into(full, _model('', full, continue_train=True))
    assert a.tolist() == [1., 2.] and b.ravel().tolist() == [5., 5., 5.]
    with pytest.raises(UserError, match='variable b is missing'):
        _restore_into(partial, _model('', partial, continue_train=True))
    with pytest.raises(UserError, match=r'b has shape \[1, 3\], the model expects \[3, 1\]'):
        _restore_into(misshaped, _model('', misshaped, continue_train=True))
    a, b = _restore_into(partial, _model('', partial))               # without continue_train: lenient
    assert a.tolist() == [1., 2.] and b.ravel().tolist() == [0., 0., 0.]


def test_trainer_continue_train_starts_at_step_zero_from_every_variable(tmp_path):
    from lib.train.trainer import train
    from tests.train_helpers import make_config, tiny_overrides, write_tiny_dataset
    root = str(tmp_path)
    train_txt, val_txt = write_tiny_dataset(root, 4, name='train'), write_tiny_dataset(root, 2, seed=1, name='val')
    first = train(make_config(tiny_overrides(os.path.join(root, 'a'), train_txt, val_txt, TRAIN__epoch=1)))
    assert first['global_step'] == 2
    config = make_config(tiny_overrides(os.path.join(root, 'b'), train_txt, val_txt, TRAIN__epoch=1,
                                        MODEL__pretrained_model=first['last_checkpoint'],
                                        MODEL__continue_train=True, TRAIN__lr_value_every_step=[1e-12, 1e-12]))
    second = train(config)
    assert second['global_step'] == 2                                   # step 0 + one epoch, not 2 + 2
    before = tf.train.load_checkpoint(first['last_checkpoint'])
    after = tf.train.load_checkpoint(second['last_checkpoint'])
    for name in ('vgg_16/conv1/conv1_1/weights', 'vgg_16/conv5/conv5_3/biases'):
        np.testing.assert_allclose(after.get_tensor(name), before.get_tensor(name), atol=1e-6)
    assert read_start(config.MODEL.model_path) == os.path.realpath(first['last_checkpoint'])
