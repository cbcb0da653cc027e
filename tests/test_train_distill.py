"""Distillation from a frozen teacher (lib.train.distill, pruned_train.py --teacher): the three loss terms against
numpy on tiny cases; a teacher equal to the student adds nothing (zero loss, zero gradient on the student); the
teacher never trains and is absent from the student's variables and checkpoints; --teacher end to end (TensorBoard
scalars of each term, a resumed run equal to an uninterrupted one); a bad teacher is one line."""
import os
import sys

import numpy as np
import pytest

from conftest import tf
from lib.anchors.generator import anchor_spec_from_config
from lib.anchors.matcher import AnchorTargetAssigner
from lib.checkpoint import random_model_values, save_arch, write_checkpoint
from lib.common.errors import UserError
from lib.model.arch import FEM_LEVELS, PRUNABLE_LAYERS, Architecture
from lib.train import distill
from lib.train.graph import build_train_graph
from tests.train_helpers import ROOT, make_config, tiny_overrides, write_config_file, write_tiny_dataset

STUDENT_WIDTH, TEACHER_WIDTH = 0.0625, 0.125


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _smooth_l1(x):
    return np.where(np.abs(x) < 1, 0.5 * x ** 2, np.abs(x) - 0.5)


def test_score_and_box_terms_by_hand():
    """Two shots, batch 2, 5 anchors: sum of T^2 KL(teacher || student) over every anchor / positives; smooth-L1 of
    the offset differences on the positives only / positives; each shot its own positives."""
    rng = np.random.RandomState(0)
    temperature = 2.5
    arrays = {shot: [rng.randn(2, 5, 4).astype(np.float32) * 2, rng.randn(2, 5, 2).astype(np.float32) * 3,
                     rng.randn(2, 5, 4).astype(np.float32) * 2, rng.randn(2, 5, 2).astype(np.float32) * 3]
              for shot in ('first', 'second')}
    labels = {'first_labels': np.array([[1, 0, 0, -1, 1], [0, 0, 1, 0, 0]], np.int32),
              'second_labels': np.array([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], np.int32)}  # none: divided by 1
    expected_kl, expected_box = 0., 0.
    for shot, (s_box, s_cls, t_box, t_cls) in arrays.items():
        p_t, p_s = _softmax(t_cls / temperature), _softmax(s_cls / temperature)
        positives = labels[shot + '_labels'] == 1
        normaliser = max(positives.sum(), 1)
        expected_kl += temperature ** 2 * (p_t * (np.log(p_t) - np.log(p_s))).sum() / normaliser
        expected_box += _smooth_l1(s_box - t_box).sum(-1)[positives].sum() / normaliser
    with tf.Graph().as_default(), tf.Session() as session:
        student = {shot: (tf.constant(a[0]), tf.constant(a[1])) for shot, a in arrays.items()}
        teacher = {shot: (tf.constant(a[2]), tf.constant(a[3])) for shot, a in arrays.items()}
        targets = {name: tf.constant(value) for name, value in labels.items()}
        kl, box = session.run([distill.score_loss(student, teacher, targets, temperature),
                               distill.box_loss(student, teacher, targets)])
    assert expected_kl > 1. and expected_box > 1.
    assert kl == pytest.approx(expected_kl, rel=1e-5)
    assert box == pytest.approx(expected_box, rel=1e-5)


def _fem_features(rng, sizes, width):
    """{fems{l}/eyes_*: [1, h, w, c]} with eyes_1 half the width, eyes_2 and eyes_3 a quarter each."""
    features = {}
    for level, size in enumerate(sizes):
        for branch, share in zip(distill.FEM_OUTPUT_BRANCHES, (2, 4, 4)):
            features['fems%d/%s' % (level, branch)] = rng.randn(1, size, size, width // share).astype(np.float32)
    return features


def test_feature_term_by_hand():
    """Six levels (4x4 .. 1x1 maps), one anchor per pixel: the mean over channels of the squared difference of the
    concatenated FEM outputs at the pixels of positive anchors, summed, over the number of such pixels."""
    rng = np.random.RandomState(1)
    sizes = [4, 2, 2, 1, 1, 1]
    student, teacher = _fem_features(rng, sizes, 8), _fem_features(rng, sizes, 8)
    labels = (rng.rand(1, sum(s * s for s in sizes)) < 0.3).astype(np.int32)
    labels[0, 0] = -1
    total, pixels, offset = 0., 0, 0
    for level, size in enumerate(sizes):
        def concat(features):
            return np.concatenate([features['fems%d/%s' % (level, b)] for b in distill.FEM_OUTPUT_BRANCHES], 3)
        near = (labels[0, offset:offset + size * size] == 1).reshape(size, size)
        total += ((concat(student) - concat(teacher)) ** 2).mean(-1)[0][near].sum()
        pixels += near.sum()
        offset += size * size
    with tf.Graph().as_default(), tf.Session() as session:
        loss = session.run(distill.feature_loss({k: tf.constant(v) for k, v in student.items()},
                                                {k: tf.constant(v) for k, v in teacher.items()},
                                                tf.constant(labels), 1))
    assert pixels > 2
    assert loss == pytest.approx(total / pixels, rel=1e-5)


def test_feature_term_adapts_a_narrower_student():
    """A student of 4 FEM channels imitates an 8-channel teacher through one 1x1 conv per level
    (distill/adapt{l}/weights [1, 1, 4, 8]), trainable; equal widths need none."""
    rng = np.random.RandomState(2)
    sizes = [2, 1, 1, 1, 1, 1]
    student, teacher = _fem_features(rng, sizes, 4), _fem_features(rng, sizes, 8)
    labels = np.ones((1, sum(s * s for s in sizes)), np.int32)
    with tf.Graph().as_default():
        distill.feature_loss({k: tf.constant(v) for k, v in student.items()},
                             {k: tf.constant(v) for k, v in teacher.items()}, tf.constant(labels), 1)
        shapes = {v.op.name: v.get_shape().as_list() for v in tf.trainable_variables()}
    assert shapes == {'distill/adapt%d/weights' % level: [1, 1, 4, 8] for level in range(FEM_LEVELS)}


def _config(directory, **extra):
    samples = os.path.join(directory, 'train.txt')
    return make_config(tiny_overrides(directory, samples, samples, MODEL__width_mult=STUDENT_WIDTH, **extra))


def _teacher_checkpoint(directory, width, seed, name='teacher', **fields):
    """A random model of ``width`` (MODEL fields changed by ``fields``) written as a checkpoint with its
    .arch.json; returns (prefix, {name: value})."""
    model = make_config({}).MODEL
    model.width_mult = width
    model.update(fields)
    arch = Architecture.from_model_config(model)
    values = random_model_values(arch, seed=seed)
    prefix = os.path.join(directory, name, 'teacher.ckpt')
    os.makedirs(os.path.dirname(prefix))
    write_checkpoint(values, prefix)
    save_arch(prefix, arch)
    return prefix, values


def _batch(config, arch, directory):
    """A real batch of two tiny images with their anchor targets."""
    from lib.data.loader import BatchLoader
    from lib.data.sample_list import read_sample_list
    data = config.DATA
    assigner = AnchorTargetAssigner((data.hin, data.win), anchor_spec_from_config(config.ANCHOR), arch.shots,
                                    config.ANCHOR.positive_iou, config.ANCHOR.encode_scale)
    samples = read_sample_list(write_tiny_dataset(directory, 2, seed=3))
    with BatchLoader(samples, 2, (data.hin, data.win), False, target_fn=assigner, process_num=0,
                     pixel_mean=data.PIXEL_MEAN, anchor_sizes=config.ANCHOR.sizes) as loader:
        batch = next(iter(loader.epoch(0)))
    return batch, {shot: len(anchors) for shot, anchors in assigner.anchors.items()}


def _graph(config, arch, anchors_per_shot, teacher):
    ratios = {group: 0. for group in arch.groups}
    return build_train_graph(config, arch, ratios, anchors_per_shot, [None], teacher=teacher)


def test_teacher_equal_to_student_adds_nothing_and_never_trains(tmp_path):
    """Teacher = the student's own checkpoint: every distillation term is 0, its gradient on every student variable
    is 0 (cls, box and feature terms; up to float32 rounding) and total_loss is the loss without a teacher; the
    teacher's variables are in no student collection (so in no checkpoint), untouched by three training steps.
    Another teacher's weights restored in their place give positive terms that pull every class head (weights and
    biases of 2 shots x 7 convs)."""
    directory = str(tmp_path)
    config = _config(directory, TRAIN__distill_feature_weight=1., TRAIN__weight_decay_factor=0.)
    arch = Architecture.from_model_config(config.MODEL).with_normalisation(config.DATA.PIXEL_MEAN,
                                                                            config.DATA.PIXEL_STD)
    prefix, values = _teacher_checkpoint(directory, STUDENT_WIDTH, seed=5)
    teacher = distill.resolve_teacher(os.path.dirname(prefix), arch, arch, config.DATA.PIXEL_MEAN,
                                      config.DATA.PIXEL_STD, 1.)
    batch, anchors_per_shot = _batch(config, arch, directory)
    assert batch['second_labels'].max() == 1
    with tf.Graph().as_default(), tf.Session() as session:
        graph = _graph(config, arch, anchors_per_shot, teacher)
        feed = {placeholder: batch[name] for name, placeholder in graph.inputs.items()}
        student = tf.trainable_variables()
        frozen = distill.teacher_variables()
        assert len(frozen) == len(values) and all(v.op.name.startswith('teacher/') for v in frozen)
        assert not set(frozen) & set(tf.global_variables() + tf.trainable_variables() + tf.local_variables())
        assert [v.op.name for v in student] == list(values)
        session.run(tf.global_variables_initializer())
        tf.train.Saver(var_list=student).restore(session, prefix)
        distill.restore_teacher(session, teacher)
        terms = ['distill_cls_loss', 'distill_box_loss', 'distill_feature_loss']
        grads = tf.gradients(graph.losses['distill_loss'], student)
        reference = tf.gradients(graph.losses['detection_loss'], student)
        assert all(g is not None for g in grads)
        losses, grad_values, reference_values = session.run([graph.losses, grads, reference], feed)
        assert [losses[t] for t in terms] == [0., 0., 0.]
        # zero up to rounding: the KL's gradient p_s - p_t sum(p_t), sum(p_t) = 1 within float32
        assert max(np.abs(g).max() for g in grad_values) < 1e-4 * max(np.abs(g).max() for g in reference_values)
        assert losses['total_loss'] == pytest.approx(losses['detection_loss'] + losses['pruning_loss'], rel=1e-6)
        before = session.run(frozen)
        for _ in range(3):
            session.run(graph.train_op, feed)
        after, moved = session.run([frozen, student])
        assert all(np.array_equal(a, b) for a, b in zip(before, after))
        assert all(np.array_equal(a, values['/'.join(v.op.name.split('/')[1:])]) for a, v in zip(after, frozen))
        assert any(not np.array_equal(m, values[v.op.name]) for m, v in zip(moved, student))

        # another teacher of the same architecture pulls the student: positive terms, gradient on every class head
        other, _ = _teacher_checkpoint(directory, STUDENT_WIDTH, seed=6, name='other')
        distill.restore_teacher(session, teacher._replace(checkpoint=other))
        classes = [i for i, v in enumerate(student) if '/out_cla' in v.op.name]
        losses, grad_values = session.run([graph.losses, grads], feed)
        assert all(losses[t] > 0 for t in terms)
        assert losses['total_loss'] == pytest.approx(losses['detection_loss'] + losses['pruning_loss']
                                                     + losses['distill_loss'], rel=1e-5)
        assert len(classes) == 28 and all(np.abs(grad_values[i]).max() > 0 for i in classes)


def _run_cli(argv):
    sys.path.insert(0, ROOT)
    import pruned_train
    return pruned_train.main(argv)


def _scalars(model_path):
    from tensorboard.backend.event_processing import event_accumulator
    reader = event_accumulator.EventAccumulator(model_path)
    reader.Reload()
    return {tag: [event.value for event in reader.Scalars(tag)] for tag in reader.Tags()['scalars']}


def test_teacher_flag_end_to_end_and_exact_resume(tmp_path):
    """pruned_train.py --teacher=FOLDER with a wider teacher and the feature term: TensorBoard has every term per
    step, the checkpoints hold the adaptation convs and no teacher variable; 1 epoch then a re-run to 2 epochs ends
    with the same weights and optimizer state as 2 epochs at once (the teacher restored at the resume)."""
    directory = str(tmp_path)
    samples = write_tiny_dataset(directory, 4)
    prefix, _ = _teacher_checkpoint(directory, TEACHER_WIDTH, seed=9)
    finals = {}
    for name, epochs in (('once', [2]), ('resumed', [1, 2])):
        overrides = tiny_overrides(os.path.join(directory, name), samples, samples, MODEL__width_mult=STUDENT_WIDTH,
                                   TRAIN__distill_feature_weight=0.5)
        for epoch in epochs:
            overrides[('TRAIN', 'epoch')] = epoch
            config_path = write_config_file(os.path.join(directory, name + '_config.py'), overrides)
            _run_cli(['--config', config_path, '--teacher', os.path.dirname(prefix)])
        model_path = os.path.join(directory, name, 'model')
        reader = tf.train.load_checkpoint(os.path.join(model_path, 'epoch_2.ckpt'))
        finals[name] = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}
    scalars = _scalars(os.path.join(directory, 'once', 'model'))
    for term in ('distill_cls_loss', 'distill_box_loss', 'distill_feature_loss', 'distill_loss'):
        assert len(scalars['loss/' + term]) == 4 and all(v > 0 for v in scalars['loss/' + term]), term
    names = set(finals['once'])
    assert not [n for n in names if n.startswith('teacher')]
    assert {'distill/adapt%d/weights' % level for level in range(FEM_LEVELS)} <= names
    assert names == set(finals['resumed'])
    assert all(np.array_equal(finals['once'][n], finals['resumed'][n]) for n in names)


def _one_line(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        _run_cli(argv)
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_bad_teacher_is_one_line_before_training(tmp_path, capsys):
    """Missing, not a checkpoint, an unreadable .arch.json, weights of another architecture, other shots (so other
    anchors), the feature term without FEM: one line each, nothing trained."""
    directory = str(tmp_path)
    samples = write_tiny_dataset(directory, 2)
    model_path = os.path.join(directory, 'model')
    config_path = write_config_file(os.path.join(directory, 'config.py'), tiny_overrides(
        directory, samples, samples, MODEL__width_mult=STUDENT_WIDTH))
    base = ['--config', config_path, '--model_path', model_path, '--teacher']
    missing = os.path.join(directory, 'nothing.ckpt')
    assert _one_line(base + [missing], capsys).startswith('error: checkpoint not found: %s' % missing)
    empty = os.path.join(directory, 'empty')
    os.makedirs(empty)
    assert _one_line(base + [empty], capsys).startswith('error: no checkpoint in %s' % empty)
    prefix, _ = _teacher_checkpoint(directory, TEACHER_WIDTH, seed=1, name='broken')
    with open(prefix + '.arch.json', 'w') as f:
        f.write('{"channels": ')
    assert _one_line(base + [prefix], capsys).startswith('error: %s.arch.json is not a valid architecture file'
                                                         % prefix)
    os.remove(prefix + '.arch.json')  # now read as the config's dense model, which its weights do not fit
    assert 'error: checkpoint %s does not fit the architecture' % prefix in _one_line(base + [prefix], capsys)
    single, _ = _teacher_checkpoint(directory, TEACHER_WIDTH, seed=1, name='single', dual_mode=False)
    assert _one_line(base + [single], capsys) == (
        'error: teacher %s predicts the shots second with 2 anchor(s) per pixel, the student first+second with 1: '
        'distillation needs the same anchors; use a teacher of the same MODEL.fpn / dual_mode' % single)
    ssd, _ = _teacher_checkpoint(directory, TEACHER_WIDTH, seed=1, name='ssd', fpn=False)
    with open(config_path, 'a') as f:
        f.write('config.MODEL.fpn = False\nconfig.TRAIN.distill_feature_weight = 1.\n')
    assert _one_line(base + [ssd], capsys) == (
        'error: TRAIN.distill_feature_weight = 1.0 imitates the FEM outputs, which a model without MODEL.fpn does '
        'not have; set it to 0')
    assert not os.path.exists(os.path.join(model_path, 'checkpoint'))


def test_config_fields_default_for_old_configs():
    """A config written before distillation loads with it off; a negative weight or T <= 0 is one line."""
    from lib.config import validate_config
    config = make_config({})
    for field in ('distill_teacher', 'distill_cls_weight', 'distill_temperature', 'distill_box_weight',
                  'distill_feature_weight'):
        del config.TRAIN[field]
    validate_config(config, PRUNABLE_LAYERS)
    assert (config.TRAIN.distill_teacher, config.TRAIN.distill_cls_weight, config.TRAIN.distill_temperature,
            config.TRAIN.distill_box_weight, config.TRAIN.distill_feature_weight) == (None, 1., 2., 1., 0.)
    config.TRAIN.distill_temperature = 0
    with pytest.raises(UserError, match=r'^config.TRAIN.distill_temperature = 0: expected a finite number in \(0'):
        validate_config(config, PRUNABLE_LAYERS)
