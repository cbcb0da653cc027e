"""The training graph: input placeholders, towers (DSFD + losses), the optimizer with the LR schedule, summaries."""
import collections

import tensorflow.compat.v1 as tf

from lib.model.dsfd import build_dsfd
from lib.model.loss import detection_losses, weight_decay
from lib.train.distill import ADAPT_SCOPE, build_teacher, distillation_losses
from lib.pruning.sparsity import alive_fractions, pruning_loss
from lib.train.checkpoints import TrainState
from lib.train.schedule import learning_rate
from lib.train.summaries import train_summaries
from lib.train.towers import build_towers

TrainGraph = collections.namedtuple(
    'TrainGraph', 'inputs global_step learning_rate losses val_loss alive train_op summary state model_variables')
TrainGraph.__doc__ = """inputs: {'images', '<shot>_labels', '<shot>_boxes'} placeholders fed from loader batches;
losses: tower-averaged {'cls_loss', 'box_loss', 'detection_loss', 'weight_decay', 'pruning_loss', 'total_loss'},
with a teacher also the 'distill_*' terms of lib.train.distill;
val_loss: the detection loss of a whole fed batch (any size, even with towers);
alive: {pruning group: live-channel fraction} of the first tower; model_variables: what a pretrained model restores
(not the distillation's adaptation convs, which start fresh)."""


def input_placeholders(input_size, anchors_per_shot):
    """uint8 images [B, H, W, 3] and per shot labels int32 [B, A] and encoded boxes float32 [B, A, 4]."""
    height, width = input_size
    inputs = {'images': tf.placeholder(tf.uint8, [None, height, width, 3], name='images')}
    for shot, num_anchors in anchors_per_shot.items():
        inputs[shot + '_labels'] = tf.placeholder(tf.int32, [None, num_anchors], name=shot + '_labels')
        inputs[shot + '_boxes'] = tf.placeholder(tf.float32, [None, num_anchors, 4], name=shot + '_boxes')
    return inputs


def model_detection_losses(inputs, arch, config):
    """Build one DSFD on ``inputs``; return ({'cls_loss', 'box_loss', 'detection_loss'}, endpoints)."""
    endpoints = build_dsfd(inputs['images'], arch, config.DATA.PIXEL_MEAN, config.DATA.PIXEL_STD)
    losses = detection_losses(endpoints, inputs, config.ANCHOR.neg_pos_ratio)
    losses['detection_loss'] = losses['cls_loss'] + losses['box_loss']
    return losses, endpoints


def tower_losses(inputs, arch, ratios, config, teacher=None):
    """One tower: detection + weight decay + pruning (+ distillation from ``teacher``, a lib.train.distill.Teacher)
    losses ('total_loss'), and {group: alive fraction}."""
    train = config.TRAIN
    losses, endpoints = model_detection_losses(inputs, arch, config)
    losses['weight_decay'] = weight_decay(endpoints.recorder, train.weight_decay_factor)
    losses['pruning_loss'] = pruning_loss(endpoints, ratios, train.pruned_loss, train.pruned_alpha,
                                          train.round_to)
    losses['total_loss'] = losses['detection_loss'] + losses['weight_decay'] + losses['pruning_loss']
    if teacher is not None:
        losses.update(distillation_losses(endpoints, build_teacher(inputs['images'], teacher), inputs, train,
                                          arch.anchors_per_pixel))
        losses['total_loss'] += losses['distill_loss']
    return losses, alive_fractions(endpoints.features)


def clip_gradients(grads_and_vars, clip_norm):
    """Clip by global norm (clip_norm 0 leaves them as they are)."""
    if not clip_norm:
        return grads_and_vars
    grads, variables = zip(*grads_and_vars)
    clipped, _ = tf.clip_by_global_norm(list(grads), clip_norm)
    return list(zip(clipped, variables))


def make_optimizer(train, lr):
    """Momentum (the reference recipe) or Adam (converges faster when small models train from scratch)."""
    if train.optimizer == 'adam':
        return tf.train.AdamOptimizer(lr)
    return tf.train.MomentumOptimizer(lr, train.momentum)


def build_train_graph(config, arch, ratios, anchors_per_shot, devices, wrap_optimizer=None, teacher=None):
    """The whole training graph in the default graph; ``devices`` holds one entry per tower.
    ``wrap_optimizer`` (optimizer -> optimizer) adds cross-process synchronisation (lib.train.distributed);
    ``teacher`` (lib.train.distill.Teacher) adds the distillation losses, the teacher frozen in every tower."""
    train = config.TRAIN
    inputs = input_placeholders((config.DATA.hin, config.DATA.win), anchors_per_shot)
    global_step = tf.train.get_or_create_global_step()
    lr = learning_rate(global_step, train.lr_decay_every_step, train.lr_value_every_step)
    optimizer = make_optimizer(train, lr)
    optimizer = wrap_optimizer(optimizer) if wrap_optimizer else optimizer
    grads_and_vars, losses, alive = build_towers(
        lambda tower_inputs: tower_losses(tower_inputs, arch, ratios, config, teacher), inputs, devices, optimizer)
    model_variables = [v for v in tf.trainable_variables() if not v.op.name.startswith(ADAPT_SCOPE + '/')]
    val_loss = losses['detection_loss']
    if len(devices) > 1:  # the towers split the batch; val batches may not divide, so one more copy takes it whole
        with tf.device(devices[0]), tf.variable_scope(tf.get_variable_scope(), reuse=True), tf.name_scope('val'):
            val_loss = model_detection_losses(inputs, arch, config)[0]['detection_loss']
    train_op = optimizer.apply_gradients(clip_gradients(grads_and_vars, train.gradient_clip), global_step)
    state = TrainState()
    summary = train_summaries(losses, lr, alive)
    return TrainGraph(inputs, global_step, lr, losses, val_loss, alive, train_op, summary, state, model_variables)
