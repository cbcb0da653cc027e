"""Knowledge distillation from a frozen teacher DSFD inside the training graph (logit and box imitation as Chen et
al., NeurIPS 2017; feature imitation near the objects as Wang et al., CVPR 2019).

The teacher is built on the student's images under the scope ``teacher/``, in every tower. Its variables belong to
``TEACHER_COLLECTION`` only, never to GLOBAL_VARIABLES or TRAINABLE_VARIABLES: whatever lists the student's
variables (checkpoints, the initialiser, the optimizer, weight decay, sparsity, pruning, freezing) never sees them.
``restore_teacher`` loads them from the teacher's checkpoint at every start, a resume included, so a resumed run
computes the same teacher outputs. The feature term's adaptation convs (``distill/adapt{level}``, only where the
widths differ) are student variables of the training run alone: saved for exact resume, built by no other graph.
"""
import collections

import tensorflow.compat.v1 as tf

from lib.checkpoint import check_fits_arch, resolve_checkpoint, restore
from lib.common.errors import UserError
from lib.model.arch import FEM_LEVELS
from lib.model.dsfd import build_dsfd
from lib.model.loss import smooth_l1
from lib.train.restore import start_arch

TEACHER_SCOPE = 'teacher'
TEACHER_COLLECTION = 'teacher_variables'
ADAPT_SCOPE = 'distill'
FEM_OUTPUT_BRANCHES = ('eyes_1', 'eyes_2', 'eyes_3')  # concatenated in this order: the FEM's output
FEATURE_SHOT = 'second'  # the shot whose heads read the FEM outputs
ROLE = 'teacher checkpoint'

Teacher = collections.namedtuple('Teacher', 'checkpoint arch')
Teacher.__doc__ = """checkpoint: the teacher's checkpoint prefix; arch: its Architecture (own normalisation)."""


def resolve_teacher(path, student_arch, default_arch, pixel_mean, pixel_std, feature_weight):
    """The Teacher of ``path`` (a checkpoint prefix or a training folder, TRAIN.distill_teacher / --teacher); its
    architecture from its files (an original checkpoint's own, its .arch.json, else ``default_arch``). One
    UserError when it is missing, unreadable, does not fit its architecture, or cannot give per-anchor outputs
    aligned with the student's (other shots, so other anchors) or FEM outputs for ``feature_weight`` > 0."""
    prefix, _ = resolve_checkpoint(path, 'TRAIN.distill_teacher / --teacher expects a checkpoint prefix or a '
                                         'training folder')
    arch = start_arch(prefix, default_arch, ROLE)
    arch = arch.with_normalisation(*arch.normalisation(pixel_mean, pixel_std))
    check_fits_arch(prefix, arch)
    if arch.shots != student_arch.shots or arch.anchors_per_pixel != student_arch.anchors_per_pixel:
        raise UserError('teacher %s predicts the shots %s with %d anchor(s) per pixel, the student %s with %d: '
                        'distillation needs the same anchors; use a teacher of the same MODEL.fpn / dual_mode'
                        % (prefix, '+'.join(arch.shots), arch.anchors_per_pixel, '+'.join(student_arch.shots),
                           student_arch.anchors_per_pixel))
    if feature_weight > 0 and FEATURE_SHOT not in arch.shots:
        raise UserError('TRAIN.distill_feature_weight = %s imitates the FEM outputs, which a model without '
                        'MODEL.fpn does not have; set it to 0' % feature_weight)
    return Teacher(prefix, arch)


def _frozen_getter(getter, *args, **kwargs):
    """Create a teacher variable: not trainable, in TEACHER_COLLECTION only."""
    kwargs['trainable'] = False
    kwargs['collections'] = [TEACHER_COLLECTION]
    return getter(*args, **kwargs)


def build_teacher(images, teacher):
    """The teacher's Endpoints on ``images`` (uint8 RGB), under ``teacher/``; gradients stop at its outputs."""
    with tf.variable_scope(TEACHER_SCOPE, custom_getter=_frozen_getter), tf.name_scope(TEACHER_SCOPE + '/'):
        endpoints = build_dsfd(images, teacher.arch, teacher.arch.pixel_mean, teacher.arch.pixel_std)
    shots = collections.OrderedDict((shot, tuple(tf.stop_gradient(t) for t in outputs))
                                    for shot, outputs in endpoints.shots.items())
    features = {name: tf.stop_gradient(f) for name, f in endpoints.features.items()}
    return endpoints._replace(shots=shots, features=features)


def teacher_variables():
    """The teacher's variables of the default graph."""
    return tf.get_collection(TEACHER_COLLECTION)


def restore_teacher(session, teacher):
    """Load the teacher's variables from its checkpoint (the names without ``teacher/``)."""
    names = {variable.op.name[len(TEACHER_SCOPE) + 1:]: variable for variable in teacher_variables()}
    restore(session, tf.train.Saver(var_list=names), teacher.checkpoint, ROLE)


def soft_kl(student_logits, teacher_logits, temperature):
    """T^2 KL(softmax(teacher / T) || softmax(student / T)) per anchor, summed over the classes: [N, A]."""
    teacher_log = tf.nn.log_softmax(teacher_logits / temperature)
    student_log = tf.nn.log_softmax(student_logits / temperature)
    return temperature ** 2 * tf.reduce_sum(tf.exp(teacher_log) * (teacher_log - student_log), axis=-1)


def _normaliser(labels):
    """The detection loss's: the number of positive anchors, at least 1."""
    return tf.maximum(tf.reduce_sum(tf.cast(tf.equal(labels, 1), tf.float32)), 1.)


def score_loss(student, teacher, targets, temperature):
    """soft_kl over every anchor of every shot, each shot divided by its number of positives (as the detection
    loss, so the weights compare)."""
    return tf.add_n([tf.reduce_sum(soft_kl(student[shot][1], teacher[shot][1], temperature))
                     / _normaliser(targets[shot + '_labels']) for shot in student])


def box_loss(student, teacher, targets):
    """smooth-L1(student - teacher box offsets) on the positive anchors, per shot over its positives."""
    total = []
    for shot in student:
        labels = targets[shot + '_labels']
        per_anchor = tf.reduce_sum(smooth_l1(student[shot][0] - teacher[shot][0]), axis=-1)
        total.append(tf.reduce_sum(tf.where(tf.equal(labels, 1), per_anchor, tf.zeros_like(per_anchor)))
                     / _normaliser(labels))
    return tf.add_n(total)


def fem_outputs(features, level):
    """The output of FEM ``level`` (its concat) from an Endpoints' features."""
    return tf.concat([features['fems%d/%s' % (level, branch)] for branch in FEM_OUTPUT_BRANCHES], axis=3)


def adapt(feature, width, level):
    """1x1 conv (no bias) from the student's FEM width to the teacher's; identity when they match."""
    if feature.get_shape().as_list()[-1] == width:
        return feature
    with tf.variable_scope('%s/adapt%d' % (ADAPT_SCOPE, level)):
        weights = tf.get_variable('weights', [1, 1, feature.get_shape().as_list()[-1], width],
                                  initializer=tf.glorot_uniform_initializer())
    return tf.nn.conv2d(feature, weights, [1, 1, 1, 1], 'SAME')


def feature_loss(student_features, teacher_features, labels, anchors_per_pixel):
    """Mean over the teacher's channels of (adapt(student) - teacher)^2 at the pixels holding a positive anchor of
    the FEM shot, summed over the six levels, divided by the number of such pixels (at least 1)."""
    total, pixels, offset = 0., 0., 0
    for level in range(FEM_LEVELS):
        target = fem_outputs(teacher_features, level)
        student = adapt(fem_outputs(student_features, level), target.get_shape().as_list()[-1], level)
        shape = tf.shape(target)
        count = shape[1] * shape[2] * anchors_per_pixel
        positive = tf.equal(labels[:, offset:offset + count], 1)
        near = tf.cast(tf.reduce_any(tf.reshape(positive, [-1, shape[1], shape[2], anchors_per_pixel]), axis=3),
                       tf.float32)
        total += tf.reduce_sum(near * tf.reduce_mean(tf.square(student - target), axis=3))
        pixels += tf.reduce_sum(near)
        offset += count
    return total / tf.maximum(pixels, 1.)


def distillation_losses(student, teacher, targets, train, anchors_per_pixel):
    """{'distill_cls_loss', 'distill_box_loss', 'distill_feature_loss'} (each times its TRAIN.distill_* weight;
    the feature term only when its weight is > 0) and their sum 'distill_loss'; ``student`` / ``teacher``:
    Endpoints, ``targets``: the tower's inputs."""
    losses = {'distill_cls_loss': train.distill_cls_weight * score_loss(student.shots, teacher.shots, targets,
                                                                        float(train.distill_temperature)),
              'distill_box_loss': train.distill_box_weight * box_loss(student.shots, teacher.shots, targets)}
    if train.distill_feature_weight > 0:
        losses['distill_feature_loss'] = train.distill_feature_weight * feature_loss(
            student.features, teacher.features, targets[FEATURE_SHOT + '_labels'], anchors_per_pixel)
    losses['distill_loss'] = tf.add_n(list(losses.values()))
    return losses
