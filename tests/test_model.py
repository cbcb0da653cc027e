"""The DSFD graph: the original's names and shapes, the plain SSD, decoding, full-size builds, loss values, learning."""
import cv2
import numpy as np
import pytest
from easydict import EasyDict as edict

from conftest import tf, zip_same
from lib.anchors.generator import AnchorSpec, anchors_np
from lib.anchors.matcher import AnchorTargetAssigner, iou_matrix
from lib.model import dsfd, loss
from lib.model.arch import Architecture
from original_helpers import original_shapes

SPEC = AnchorSpec((4, 8, 16, 32, 64, 128), (16, 32, 64, 128, 256, 512), 1.5, 0.5)
TEST = edict(score_thres=0.05, iou_thres=0.3, max_detect=50, pre_nms_top_k=5000)
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]

# TF-slim's vgg_16 conv kernels: (name, [kh, kw, c_in, c_out]).
SLIM_VGG16 = [('vgg_16/conv%d/conv%d_%d' % (b, b, i), c_in, c_out) for b, i, c_in, c_out in [
    (1, 1, 3, 64), (1, 2, 64, 64), (2, 1, 64, 128), (2, 2, 128, 128), (3, 1, 128, 256), (3, 2, 256, 256),
    (3, 3, 256, 256), (4, 1, 256, 512), (4, 2, 512, 512), (4, 3, 512, 512), (5, 1, 512, 512), (5, 2, 512, 512),
    (5, 3, 512, 512)]]


def model_config(width_mult=1., fpn=True, dual_mode=True):
    return edict(width_mult=width_mult, fpn_dims=[256, 512, 512, 1024, 512, 256], fem_dims=512, fpn=fpn,
                 dual_mode=dual_mode, maxout=True, l2_norm=[10., 8., 5.])


def test_full_width_dsfd_is_the_originals_network(graph):
    """162 variables (81 convs) with the original's names and shapes; built only, never run."""
    arch = Architecture.from_model_config(model_config())
    dsfd.build_dsfd(tf.placeholder(tf.float32, [1, 640, 640, 3]), arch, MEAN, STD)
    variables = {v.op.name: v.get_shape().as_list() for v in tf.global_variables()}
    assert len(variables) == 162
    assert variables == original_shapes()
    assert variables['fems3/eyes_1/weights'] == [3, 3, 1024, 256]
    assert variables['merge/res0/weights'] == [1, 1, 512, 256]
    assert variables['dual/ssdout/out_reg3/weights'] == [3, 3, 512, 4]
    assert variables['ssdout/out_reg3/weights'] == [3, 3, 1024, 4]
    backbone = sum(int(np.prod(shape)) for name, shape in variables.items()
                   if name.rsplit('/', 1)[0] in ['fc6', 'fc7'] + [n for n, _, _ in SLIM_VGG16])
    assert backbone == 20483904


def test_plain_ssd_is_the_seeds_fpn_false_network(graph):
    """MODEL.fpn=False: heads on of0..of5 only, two anchors per pixel (8 offsets, 2 x 2 logits; max-out 6 + 2)."""
    arch = Architecture.from_model_config(model_config(fpn=False))
    endpoints = dsfd.build_dsfd(tf.placeholder(tf.float32, [1, 640, 640, 3]), arch, MEAN, STD)
    variables = {v.op.name: v.get_shape().as_list() for v in tf.global_variables()}
    expected = original_shapes(network='ssd')
    assert expected['ssdout/out_reg3/weights'] == [3, 3, 1024, 8] and expected['ssdout/out_cla1/weights'][3] == 4
    assert expected['ssdout/maxout0/positive/out_cla1/weights'][3] == 2
    assert len(variables) == 64 and variables == expected
    assert list(endpoints.shots) == ['first']
    box, logits = endpoints.shots['first']
    assert box.get_shape().as_list() == [1, 2 * 34125, 4] and logits.get_shape().as_list() == [1, 2 * 34125, 2]


@pytest.mark.parametrize('fpn, dual_mode', [(True, True), (True, False), (False, True)])
def test_inference_decodes_every_anchor_of_a_pixel(graph, fpn, dual_mode):
    """Zero head weights and biases predict zero offsets: the decoded boxes are the anchors themselves, both
    anchors of a pixel for a single-shot model (full then half size), the second shot's for DSFD."""
    arch = Architecture.from_model_config(model_config(width_mult=1. / 32, fpn=fpn, dual_mode=dual_mode))
    images = tf.placeholder(tf.float32, [1, 96, 64, 3])
    endpoints = dsfd.build_dsfd(images, arch, MEAN, STD)
    boxes, scores = dsfd.decode_last_shot(endpoints, arch, SPEC, 5., 10 ** 6)  # all, equal scores: in anchor order
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for v in tf.global_variables():
            if '/out_' in v.op.name:
                v.load(np.zeros(v.get_shape().as_list(), np.float32), sess)
        got, got_scores = sess.run([boxes, scores], {images: np.zeros([1, 96, 64, 3])})
    scales = (1.,) if dual_mode and fpn else (1., 0.5)
    np.testing.assert_allclose(got[0], anchors_np(96, 64, SPEC, scales))
    np.testing.assert_allclose(got_scores, 0.5)


def op_types(graph, op_type):
    return [op for op in graph.get_operations() if op.type == op_type]


def test_native_dilated_convs_equal_the_space_to_batch_pair(graph):
    """native_dilation builds the FEM's dilated convs as Conv2Ds with dilations (inference graphs), the default
    as tf.nn.convolution's SpaceToBatchND pair (training: TF 1.15's CPU has no gradient for the former); on a
    non-square input whose deeper maps have odd sides, both give the same outputs."""
    arch = Architecture.from_model_config(model_config(width_mult=1. / 16))
    images = tf.placeholder(tf.float32, [1, 96, 160, 3])
    pair = dsfd.build_dsfd(images, arch, MEAN, STD)
    dilated = [c for c in pair.recorder.convs if c.dilation > 1]
    assert len(dilated) == 6 * 2 and len(op_types(graph, 'SpaceToBatchND')) == len(dilated)
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
        native = dsfd.build_dsfd(images, arch, MEAN, STD, native_dilation=True)
    assert len(op_types(graph, 'SpaceToBatchND')) == len(dilated)
    rates = sorted(op.get_attr('dilations')[1] for op in op_types(graph, 'Conv2D') if op.get_attr('dilations')[1] > 1)
    assert rates == sorted(c.dilation for c in dilated)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        feed = {images: np.random.RandomState(0).uniform(0, 255, [1, 96, 160, 3])}
        want, got = sess.run([pair.shots['second'], native.shots['second']], feed)
    for a, b in zip_same(want, got):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * np.abs(a).max())


@pytest.mark.parametrize('fpn, dual_mode, shots', [(True, True, ['first', 'second']), (True, False, ['second']),
                                                   (False, True, ['first'])])
def test_full_width_graphs_build_at_640(graph, fpn, dual_mode, shots):
    arch = Architecture.from_model_config(model_config(fpn=fpn, dual_mode=dual_mode))
    images, outputs, endpoints = dsfd.build_inference_graph(arch, SPEC, 5., TEST, MEAN, STD, [1, 640, 640, 3])
    assert list(endpoints.shots) == shots
    anchors = 34125 * arch.anchors_per_pixel
    for box, logits in endpoints.shots.values():
        assert box.get_shape().as_list() == [1, anchors, 4] and logits.get_shape().as_list() == [1, anchors, 2]
    assert outputs['boxes'].name == 'boxes:0' and outputs['num_detections'].name == 'num_detections:0'
    for name in dsfd.ORIGINAL_NAMES:
        assert graph.get_operation_by_name(name)
    assert not op_types(graph, 'SpaceToBatchND')  # native dilated convs
    targets = {}
    for shot in shots:
        targets[shot + '_labels'] = tf.zeros([1, anchors], tf.int32)
        targets[shot + '_boxes'] = tf.zeros([1, anchors, 4])
    losses = loss.detection_losses(endpoints, targets, 3)
    assert set(losses) == {'cls_loss', 'box_loss'}
    assert loss.weight_decay(endpoints.recorder, 5e-4).get_shape().as_list() == []


def test_smooth_l1_and_ohem_by_hand(graph):
    # Two images, three anchors each: image 0 has one positive (anchor 0), anchor 2 is ignored nowhere.
    labels = np.array([[1, 0, 0], [0, 0, 0]], np.int32)
    logits = np.array([[[0., 2.], [0., 1.], [0., -1.]], [[0., 3.], [0., 0.], [0., -2.]]], np.float32)
    box_pred = np.zeros([2, 3, 4], np.float32)
    box_targets = np.zeros([2, 3, 4], np.float32)
    box_targets[0, 0] = [0.5, -2., 0., 1.]  # smooth-L1: 0.125 + 1.5 + 0 + 0.5
    box_targets[1, 2] = [3., 0., 0., 0.]  # a background anchor's box error: not part of the box loss
    cls_loss, box_loss = loss.shot_loss(tf.constant(box_pred), tf.constant(logits), tf.constant(labels),
                                        tf.constant(box_targets), neg_pos_ratio=3)
    with tf.Session() as sess:
        cls_value, box_value = sess.run([cls_loss, box_loss])
    np.testing.assert_allclose(box_value, 2.125, rtol=1e-6)

    def ce(logit, label):
        return np.log(np.exp(logit).sum()) - logit[label]
    # 1 positive -> the 3 hardest of the 5 negatives: logits [0,3], [0,1], [0,0] (background CE largest).
    negatives = sorted([ce(logits[i, j], 0) for i, j in [(0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]])[-3:]
    np.testing.assert_allclose(cls_value, ce(logits[0, 0], 1) + sum(negatives), rtol=1e-5)


def test_negatives_per_positive_is_a_real_ratio(graph):
    """floor(ratio x max(positives, 1)), as the original's OHEM casts ratio x positives: 3.0 and 3 are one count,
    2.5 is a ratio too, and a huge ratio stays within int32."""
    positives = tf.placeholder(tf.int32, [])
    counts = {ratio: loss.num_negatives(positives, ratio) for ratio in (3, 3.0, 2.5, 1e30)}
    with tf.Session() as sess:
        found = [[sess.run(counts[ratio], {positives: n}) for n in (0, 1, 3, 7)] for ratio in (3, 3.0, 2.5, 1e30)]
    assert found[:3] == [[3, 3, 9, 21], [3, 3, 9, 21], [2, 2, 7, 17]]
    assert found[3] == [2 ** 31 - 1] * 4


def test_weight_decay_is_half_the_squared_conv_weights_without_biases(graph):
    from lib.model.layers import ConvRecord
    weights = [np.array([[1., -2.], [0., 3.]], np.float32), np.array([0.5, 0.5, -1.], np.float32)]
    convs = [ConvRecord('c%d' % i, 'backbone', tf.constant(w), tf.constant([10., -20.]), None, None, 3, 1, 1, None)
             for i, w in enumerate(weights)]
    decay = loss.weight_decay(edict(convs=convs), 0.1)
    with tf.Session() as sess:
        value = sess.run(decay)
    np.testing.assert_allclose(value, 0.1 * 0.5 * (1 + 4 + 9 + 0.25 + 0.25 + 1), rtol=1e-6)  # biases excluded


def draw_faces(height, width, boxes, seed):
    """Skin-coloured ellipses with dark eyes and mouth on a noisy background."""
    rng = np.random.RandomState(seed)
    image = rng.randint(0, 80, size=(height, width, 3)).astype(np.uint8)
    for x1, y1, x2, y2 in boxes:
        cx, cy, ax, ay = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        cv2.ellipse(image, (int(cx), int(cy)), (int(ax), int(ay)), 0, 0, 360, (225, 180, 150), -1)
        for ex in (cx - ax * 0.4, cx + ax * 0.4):
            cv2.circle(image, (int(ex), int(cy - ay * 0.2)), max(1, int(ax * 0.15)), (30, 20, 20), -1)
        cv2.line(image, (int(cx - ax * 0.4), int(cy + ay * 0.45)), (int(cx + ax * 0.4), int(cy + ay * 0.45)),
                 (120, 30, 30), max(1, int(ay * 0.08)))
    return image


def test_small_dsfd_overfits_two_images(graph):
    size = 128
    faces = [np.array([[20, 30, 60, 84], [80, 10, 112, 52]], np.float32), np.array([[40, 40, 96, 112]], np.float32)]
    images_np = np.stack([draw_faces(size, size, boxes, seed) for seed, boxes in enumerate(faces)])
    arch = Architecture.from_model_config(model_config(width_mult=0.125))
    assigner = AnchorTargetAssigner((size, size), SPEC, arch.shots, 0.35, 5.)
    targets_np = [assigner(boxes) for boxes in faces]

    tf.set_random_seed(0)
    images = tf.placeholder(tf.float32, [None, None, None, 3], name='images')
    endpoints = dsfd.build_dsfd(images, arch, MEAN, STD)
    targets = {key: tf.constant(np.stack([t[key] for t in targets_np])) for key in targets_np[0]}
    losses = loss.detection_losses(endpoints, targets, 3)
    total = losses['cls_loss'] + losses['box_loss'] + loss.weight_decay(endpoints.recorder, 1e-5)
    train_op = tf.train.AdamOptimizer(2e-3).minimize(total)
    outputs = dsfd.detect(images, endpoints, arch, SPEC, 5., edict(TEST, max_detect=20))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run(total, {images: images_np})
        for _ in range(300):
            last, _ = sess.run([total, train_op], {images: images_np})
        found = sess.run(outputs, {images: images_np})
    assert last < first / 5, 'loss fell only from %.3f to %.3f' % (first, last)
    for index, boxes in enumerate(faces):
        count = found['num_detections'][index]
        detected = found['boxes'][index, :count][:, [1, 0, 3, 2]] * size  # -> x1, y1, x2, y2 pixels
        confident = detected[found['scores'][index, :count] > 0.5]
        assert len(confident), 'image %d: no detection above 0.5' % index
        assert (iou_matrix(boxes, confident).max(axis=1) > 0.5).all(), (boxes, confident)


def test_pre_nms_top_k_drops_only_the_lowest_scores(graph):
    """Fewer than k anchors over the threshold: the detections of every anchor, exactly. More: the uncapped
    detections that come from the k best anchors, i.e. a prefix of them; the rest scored under the k-th best."""
    tf.set_random_seed(0)  # the initial weights: an unseeded draw may tie two scores
    arch = Architecture.from_model_config(model_config(width_mult=1. / 32))
    images = tf.placeholder(tf.float32, [2, 64, 64, 3])
    endpoints = dsfd.build_dsfd(images, arch, MEAN, STD)
    scores = tf.nn.softmax(endpoints.shots['second'][1])[..., 1]
    thres = tf.placeholder(tf.float32, [])

    def detect(top_k):
        test = edict(TEST, score_thres=thres, max_detect=400, pre_nms_top_k=top_k)
        return dsfd.detect(images, endpoints, arch, SPEC, 5., test)
    every, some, few = detect(10 ** 6), detect(100), detect(10)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        feed = {images: np.random.RandomState(0).uniform(0, 255, (2, 64, 64, 3))}
        values = sess.run(scores, feed)
        assert values.shape == (2, 342) and len(np.unique(values)) == values.size  # no ties
        feed[thres] = np.sort(values.ravel())[-120]
        assert 10 < (values > feed[thres]).sum(axis=1).max() < 100
        every, some, few = sess.run([every, some, few], feed)
    for name in every:
        np.testing.assert_array_equal(some[name], every[name])
    for i in range(2):
        count = few['num_detections'][i]
        assert 0 < count < every['num_detections'][i]
        np.testing.assert_array_equal(few['boxes'][i, :count], every['boxes'][i, :count])
        np.testing.assert_array_equal(few['scores'][i, :count], every['scores'][i, :count])
        assert (every['scores'][i, count:] < np.sort(values[i])[-10]).all()


def test_architecture_carries_fpn_and_fem_group_counts():
    """Per-group counts of the FPN levels and FEM convs; an .arch.json written before they existed (19 layers)
    loads with their dense widths, and a pruned count survives the JSON round trip and builds that width."""
    arch = Architecture.from_model_config(model_config(width_mult=0.125))
    assert [arch.channels['fpn/res%d' % level] for level in range(3)] == [32, 64, 64]
    assert [arch.channels['fems4/' + b] for b in ('eyes_1', 'eyes_2_1', 'eyes_2', 'eyes_3_1', 'eyes_3')] == \
        [32, 32, 16, 16, 16]
    old = arch.to_dict()
    old['channels'] = {name: count for name, count in old['channels'].items()
                       if not name.startswith(('fpn/', 'fems'))}
    assert len(old['channels']) == 19 and Architecture.from_dict(old) == arch
    pruned = arch.with_channels({'fpn/res1': 5, 'fems2/eyes_2_1': 3})
    assert Architecture.from_dict(pruned.to_dict()) == pruned and pruned.is_slimmer_than(arch)
    assert pruned.structure() == arch.structure()
    assert arch.same_network(Architecture.from_dict(arch.to_dict())) and not pruned.same_network(arch)
    assert not arch.with_channels({'fpn/res1': 65}).same_network(arch)  # wider is another network too
    # Without fpn there is no FPN, FEM or second shot: their dims, counts and dual_mode are no part of the network
    # (an original single-shot checkpoint reads as dual_mode False; its config says True).
    plain = Architecture.from_model_config(model_config(width_mult=0.125, fpn=False))
    other = Architecture(dict(plain.channels, **{'fems0/eyes_1': 3}), [8, 8, 8], 24, fpn=False, dual_mode=False)
    assert other.same_network(plain) and plain.same_network(other) and other.structure() == plain.structure()
    assert not other.with_channels({'fc7': 3}).same_network(plain)
    assert not Architecture(plain.channels, [8, 8, 8], 24, fpn=False, maxout=False).same_network(plain)
    with tf.Graph().as_default():
        endpoints = dsfd.build_dsfd(tf.placeholder(tf.float32, [1, 64, 64, 3]), pruned, MEAN, STD)
        shapes = {conv.name: conv.weights.get_shape().as_list() for conv in endpoints.recorder.convs}
    assert shapes['lateral/res1'][3] == shapes['merge/res1'][3] == shapes['merge/res0'][2] == 5
    assert shapes['fems2/eyes_2_1'][3] == shapes['fems2/eyes_2'][2] == shapes['fems2/eyes_3_1'][2] == 3
