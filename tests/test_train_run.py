"""End-to-end training on a tiny drawn data set (width 0.125, 64 px): checkpoints, best-val naming, pruning
fine-tunes with both losses, NaN stop."""
import glob
import logging
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from lib.common.errors import UserError
from lib import checkpoint
from lib.train import checkpoints
from lib.train.trainer import train
from tests.train_helpers import make_config, tiny_overrides, write_tiny_dataset

TARGETS = {'vgg_16/conv4/conv4_1': 0.5, 'vgg_16/conv5/conv5_1': 0.5, 'fc7': 0.5}
UNTARGETED_BACKBONE = ['conv%d_%d' % (b, i) for b, n in ((2, 2), (3, 3), (4, 3), (5, 3)) for i in range(1, n + 1)
                       if 'conv%d_%d' % (b, i) not in ('conv4_1', 'conv5_1')] + ['fc6']


class _Records(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self, logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('train_data'))
    return root, write_tiny_dataset(root, 8, name='train'), write_tiny_dataset(root, 4, seed=1, name='val')


@pytest.fixture(scope='module')
def standard_run(data):
    """A standard 2-epoch training: (config, summary, log messages)."""
    root, train_txt, val_txt = data
    config = make_config(tiny_overrides(os.path.join(root, 'standard'), train_txt, val_txt))
    records = _Records()
    logger = logging.getLogger('lib.train')
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    try:
        summary = train(config)
    finally:
        logger.removeHandler(records)
    return config, summary, records.messages


def _scalars(model_path):
    """{tag: [(step, value)]} from the TensorBoard event files of a run."""
    values = {}
    for path in sorted(glob.glob(os.path.join(model_path, 'events.out.tfevents*'))):
        for event in tf.train.summary_iterator(path):
            for value in event.summary.value:
                values.setdefault(value.tag, []).append((event.step, value.simple_value))
    return values


def _filter_norms(prefix, layer_scope):
    reader = tf.train.load_checkpoint(prefix)
    weights, biases = reader.get_tensor(layer_scope + '/weights'), reader.get_tensor(layer_scope + '/biases')
    return np.sqrt(np.sum(np.square(weights), axis=(0, 1, 2)) + np.square(biases))


def test_epoch_and_optimized_checkpoints(standard_run):
    config, summary, messages = standard_run
    model_path = config.MODEL.model_path
    for epoch in (1, 2):
        prefix = os.path.join(model_path, 'epoch_%d.ckpt' % epoch)
        assert checkpoint.global_step(prefix) == 4 * epoch
        assert os.path.isfile(prefix + '.arch.json')
    logged = [re.search(r'epoch (\d+): val loss (\d+\.\d{3}) ', m) for m in messages]
    logged = {int(m.group(1)): m.group(2) for m in logged if m}
    assert sorted(logged) == [1, 2]
    best_epoch = min(logged, key=lambda e: float(logged[e]))
    names = [os.path.basename(p) for p in glob.glob(os.path.join(model_path, 'optimized', '*.index'))]
    assert 'epoch_%d_val_loss_%s.ckpt.index' % (best_epoch, logged[best_epoch]) in names
    assert summary['best_checkpoint'].endswith('epoch_%d_val_loss_%s.ckpt' % (best_epoch, logged[best_epoch]))
    assert '%.3f' % summary['best_val_loss'] == logged[best_epoch]
    scalars = _scalars(model_path)
    for tag in ('loss/total_loss', 'loss/cls_loss', 'loss/box_loss', 'loss/weight_decay', 'loss/pruning_loss',
                'learning_rate', 'alive/conv1_1', 'alive/fc7', 'alive/extra_conv4', 'loss/val_loss'):
        assert tag in scalars, tag
    assert [v for _, v in scalars['loss/pruning_loss']] == [0.] * 8


def test_tensorboard_reads_the_scalars_the_readme_names(standard_run):
    """TensorBoard's own reader finds every loss, the learning rate, the val loss and alive/<layer> for each
    prunable layer, one training value per step (log_interval 1) and one val loss per epoch."""
    from tensorboard.backend.event_processing import event_accumulator
    from lib.model.arch import PRUNABLE_LAYERS
    config, _, _ = standard_run
    reader = event_accumulator.EventAccumulator(config.MODEL.model_path)
    reader.Reload()
    tags = set(reader.Tags()['scalars'])
    per_step = ['loss/total_loss', 'loss/cls_loss', 'loss/box_loss', 'loss/weight_decay', 'loss/pruning_loss',
                'learning_rate'] + ['alive/' + layer.split('/')[-1] for layer in PRUNABLE_LAYERS]
    assert len(PRUNABLE_LAYERS) == 19 and not set(per_step + ['loss/val_loss']) - tags
    for tag in per_step:
        assert [event.step for event in reader.Scalars(tag)] == list(range(1, 9)), tag
    assert [event.step for event in reader.Scalars('loss/val_loss')] == [4, 8]
    assert [event.value for event in reader.Scalars('learning_rate')] == pytest.approx([0.001] * 8)
    for tag in per_step[-19:]:
        assert all(0. <= event.value <= 1. for event in reader.Scalars(tag)), tag
    assert all(event.value > 0. for event in reader.Scalars('loss/total_loss'))


def test_max_to_keep_bounds_epoch_checkpoints(data):
    root, train_txt, val_txt = data
    config = make_config(tiny_overrides(os.path.join(root, 'keep'), train_txt, val_txt, TRAIN__epoch=3,
                                        MODEL__max_to_keep=2, TRAIN__batch_size=4))
    train(config)
    kept = sorted(os.path.basename(p) for p in glob.glob(os.path.join(config.MODEL.model_path, 'epoch_*')))
    assert kept == ['epoch_%d.ckpt.%s' % (e, s) for e in (2, 3) for s in ('arch.json', 'data-00000-of-00001', 'index')]
    state = tf.train.get_checkpoint_state(config.MODEL.model_path)
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ['epoch_2.ckpt', 'epoch_3.ckpt']


def _fine_tune(data, standard_run, name, kind, alpha):
    root, train_txt, val_txt = data
    pretrained = standard_run[1]['last_checkpoint']
    config = make_config(tiny_overrides(os.path.join(root, name), train_txt, val_txt, TRAIN__epoch=3,
                                        TRAIN__pruned_alpha=alpha, TRAIN__pruned_loss=kind,
                                        TRAIN__pruned_ratio=TARGETS, TRAIN__gradient_clip=0.,
                                        MODEL__pretrained_model=pretrained))
    summary = train(config)
    return pretrained, summary, _scalars(config.MODEL.model_path)


def test_activation_fine_tune_kills_targeted_channels(data, standard_run):
    _, _, scalars = _fine_tune(data, standard_run, 'activation', 'activation', alpha=1.)
    pruning = [v for _, v in scalars['loss/pruning_loss']]
    assert len(pruning) == 12 and pruning[0] > 1.
    assert np.mean(pruning[-4:]) < 0.1 * pruning[0]

    def dead(layer):  # mean dead fraction over the last epoch's steps
        return 1. - np.mean([v for _, v in scalars['alive/' + layer][-4:]])
    targeted = np.mean([dead(layer.split('/')[-1]) for layer in TARGETS])
    untargeted = np.mean([dead(layer) for layer in UNTARGETED_BACKBONE])
    assert targeted > untargeted + 0.05, (targeted, untargeted)


def test_group_lasso_shrinks_targeted_filters_only(data, standard_run):
    pretrained, summary, scalars = _fine_tune(data, standard_run, 'group_lasso', 'group_lasso', alpha=20.)
    pruning = [v for _, v in scalars['loss/pruning_loss']]
    assert pruning[-1] < 0.5 * pruning[0]

    def lowest_half(prefix, scope):
        norms = np.sort(_filter_norms(prefix, scope))
        return norms[:len(norms) // 2].mean()
    after = summary['last_checkpoint']
    for scope in ('vgg_16/conv4/conv4_1', 'vgg_16/conv5/conv5_1', 'fc7'):
        assert lowest_half(after, scope) < 0.5 * lowest_half(pretrained, scope), scope
    for scope in ('vgg_16/conv4/conv4_2', 'vgg_16/conv5/conv5_2', 'fc6'):
        assert lowest_half(after, scope) > 0.8 * lowest_half(pretrained, scope), scope


def test_nan_loss_stops_with_step_and_last_good_checkpoint(data, standard_run):
    root, train_txt, val_txt = data
    model_path = os.path.join(root, 'nan')
    shutil.copytree(standard_run[0].MODEL.model_path, model_path)
    # resumes after epoch 2 (step 8); from step 8 on the learning rate explodes the weights
    config = make_config(tiny_overrides(root, train_txt, val_txt, TRAIN__epoch=3, MODEL__model_path=model_path,
                                        TRAIN__lr_value_every_step=[0.001, 1e30], TRAIN__lr_decay_every_step=[8],
                                        TRAIN__gradient_clip=0.))
    with pytest.raises(UserError) as err:
        train(config)
    message = str(err.value)
    assert re.search(r'total_loss=(nan|inf)', message) and 'training stopped' in message
    assert int(re.search(r'at global step (\d+)', message).group(1)) in (9, 10, 11)
    good = os.path.join(model_path, 'epoch_2.ckpt')
    assert good in message
    assert not glob.glob(os.path.join(model_path, 'epoch_3.ckpt*'))
    assert checkpoints.newest_checkpoint(model_path) == (good, 8)
