"""The original's checkpoints here: recognised, converted (tools/convert_checkpoint.py), frozen with the original's
tensor names, run the way its FaceDetector runs them, and restored as a pretrained model."""
import logging

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from export_graphs import checkpoint_outputs, tiny_config
from lib.export.freeze import freeze_checkpoint
from lib.common.errors import UserError
from lib.checkpoint import load_arch
from lib.model.arch import PRUNABLE_LAYERS, Architecture
from lib.train.restore import restore_variables, start_arch
from original_helpers import original_shapes, write_original_checkpoint
from tools import convert_checkpoint

# The original's DATA.PIXEL_MEAN / PIXEL_STD (its train_config.py), RGB order, written out here on purpose.
ORIGINAL_PIXEL_MEAN = (123., 116., 103.)
ORIGINAL_PIXEL_STD = (58., 57., 57.)

IMAGE = np.random.RandomState(3).randint(0, 256, (96, 128, 3)).astype(np.uint8)


def convert(ckpt, out, *flags):
    convert_checkpoint.main(['--ckpt_path', ckpt, '--output_path', out] + list(flags))


def face_detector_run(pb_path, image):
    """What the original's FaceDetector does with a .pb: a batch of two copies on tower_0/images:0 plus
    training_flag False; detections of the first copy."""
    with tf.Graph().as_default() as graph:
        graph_def = tf.GraphDef()
        with open(pb_path, 'rb') as f:
            graph_def.ParseFromString(f.read())
        tf.import_graph_def(graph_def, name='')
        with tf.Session() as session:
            boxes, labels, scores, count = session.run(
                ['tower_0/boxes:0', 'tower_0/labels:0', 'tower_0/scores:0', 'tower_0/num_detections:0'],
                {'tower_0/images:0': np.stack([image, image]), 'training_flag:0': False})
            mean = session.run('pixel_mean:0')
    assert labels.dtype == np.int64 and not labels.any()
    assert (count == count[0]).all()
    return boxes[0, :count[0]], scores[0, :count[0]], mean


@pytest.fixture(scope='module', params=['dsfd', 'ssd'])
def converted(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp('original_' + request.param)
    ckpt = str(folder / 'model.ckpt-1000')
    values = write_original_checkpoint(ckpt, network=request.param)
    out = str(folder / 'converted' / 'model.ckpt')
    convert(ckpt, out)
    return request.param, ckpt, out, values, folder


def test_conversion_keeps_the_model_variables_and_records_the_network(converted):
    network, ckpt, out, values, _ = converted
    reader = tf.train.load_checkpoint(out)
    assert set(reader.get_variable_to_shape_map()) == set(values)  # slots and global_step dropped
    assert len(values) == (162 if network == 'dsfd' else 64)
    for name in ('fc7/weights', 'vgg_16/conv1/conv1_1/biases', 'ssdout/out_reg3/weights'):
        np.testing.assert_array_equal(reader.get_tensor(name), values[name])
    arch = load_arch(out, None)
    config = tiny_config()
    config.MODEL.fpn = network == 'dsfd'
    expected = Architecture.from_model_config(config.MODEL).with_normalisation(ORIGINAL_PIXEL_MEAN, ORIGINAL_PIXEL_STD)
    if network == 'ssd':  # the FPN / FEM are never built: their widths (and groups) are the original's dense ones
        fields = expected.to_dict()
        fields.update(channels={name: fields['channels'][name] for name in PRUNABLE_LAYERS}, dual_mode=False,
                      fpn_dims=[256, 512, 512], fem_dims=512)
        expected = Architecture(**fields)
    assert arch == expected


def test_converted_and_frozen_equals_this_projects_graph_with_the_same_weights(converted):
    """Frozen from the converted checkpoint and fed like the original's FaceDetector, the detections equal those of
    this project's own graph restored straight from the original checkpoint with the original's normalisation."""
    network, ckpt, out, _, folder = converted
    config = tiny_config(score_thres=0.6, max_detect=500)
    pb = str(folder / 'export' / 'detector.pb')
    freeze_checkpoint(out, config, pb)
    boxes, scores, mean = face_detector_run(pb, IMAGE)
    np.testing.assert_array_equal(mean, ORIGINAL_PIXEL_MEAN)
    arch = load_arch(out, None)
    own = checkpoint_outputs(config, ckpt, IMAGE[None].astype(np.float32), arch)
    count = own['num_detections'][0]
    assert 5 < count < 500 and len(scores) == count
    np.testing.assert_allclose(scores, own['scores'][0, :count], atol=1e-5)
    np.testing.assert_allclose(boxes, own['boxes'][0, :count], atol=1e-5)
    # and the normalisation matters: the config's own (ImageNet mean, std 1) gives other detections
    other = checkpoint_outputs(config, ckpt, IMAGE[None].astype(np.float32), arch.with_normalisation(None, None))
    assert other['num_detections'][0] != count or np.abs(other['scores'][0, :count] - scores).max() > 1e-3


def test_conversion_report_and_refusals(converted, capsys):
    network, ckpt, out, values, folder = converted
    with pytest.raises(SystemExit):
        convert(ckpt, out)  # never overwrites
    assert 'exists already' in capsys.readouterr().err
    convert(ckpt, str(folder / 'again' / 'model.ckpt'), '--pixel_mean', '1', '2', '3', '--pixel_std', '4', '5', '6')
    printed = capsys.readouterr().out
    assert 'mapped:  %d model variables' % len(values) in printed and 'missing: 0' in printed
    assert 'unused:  %d checkpoint entries' % (len(values) + 1) in printed
    again = load_arch(str(folder / 'again' / 'model.ckpt'), None)
    assert again.pixel_mean == [1., 2., 3.] and again.pixel_std == [4., 5., 6.]


def test_missing_model_variable_is_one_line_naming_it(tmp_path, capsys):
    ckpt = str(tmp_path / 'model.ckpt-5')
    write_original_checkpoint(ckpt, drop=('fems2/eyes_3_1/weights',))
    with pytest.raises(SystemExit) as exit_info:
        convert(ckpt, str(tmp_path / 'out.ckpt'))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and 'model variable fems2/eyes_3_1/weights is missing' in err
    assert not (tmp_path / 'out.ckpt.index').exists()


def restore_into(arch, ckpt, caplog):
    """Build ``arch``'s model, restore it from ``ckpt`` as a pretrained model; (plan, {name: value})."""
    config = tiny_config()
    with tf.Graph().as_default():
        from lib.model.dsfd import build_dsfd
        build_dsfd(tf.placeholder(tf.float32, [1, 64, 64, 3]), arch, config.DATA.PIXEL_MEAN, config.DATA.PIXEL_STD)
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            with caplog.at_level(logging.WARNING):
                plan = restore_variables(session, ckpt, tf.global_variables())
            return plan, {v.op.name: session.run(v) for v in tf.global_variables()}


def test_original_checkpoint_as_pretrained_model(tmp_path, caplog):
    ckpt = str(tmp_path / 'model.ckpt-1000')
    values = write_original_checkpoint(ckpt)
    arch = start_arch(ckpt, None)
    assert arch.pixel_mean == list(ORIGINAL_PIXEL_MEAN) and arch.pixel_std == list(ORIGINAL_PIXEL_STD)
    assert arch.fpn and arch.dual_mode and arch.channels['fc7'] == 128
    plan, restored = restore_into(arch, ckpt, caplog)
    assert not plan.fresh and len(plan.matched) == 162
    assert len(plan.unused) == 163  # Momentum slots and global_step
    np.testing.assert_array_equal(restored['fems4/eyes_2/weights'], values['fems4/eyes_2/weights'])
    assert not caplog.records


def test_dsfd_checkpoint_without_some_heads_is_a_loud_warning(tmp_path, caplog):
    ckpt = str(tmp_path / 'model.ckpt-1')
    heads = ('dual/ssdout/out_reg2/weights', 'dual/ssdout/out_reg2/biases')
    write_original_checkpoint(ckpt, drop=heads)
    plan, _ = restore_into(Architecture.from_model_config(tiny_config().MODEL), ckpt, caplog)
    assert sorted(v.op.name for v in plan.fresh) == sorted(heads)
    warnings = ' '.join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert 'dual/ssdout/out_reg2/weights' in warnings and 'NOT in it' in warnings


def test_dsfd_checkpoint_of_another_network_is_an_error(tmp_path, caplog):
    """A plain SSD checkpoint into a DSFD: the FPN and FEM are missing, which is more than the heads."""
    ckpt = str(tmp_path / 'model.ckpt-1')
    write_original_checkpoint(ckpt, network='ssd')
    with pytest.raises(UserError, match='72 model variables beyond the heads are missing or mis-shaped there .fems0/eyes_1/biases'):
        restore_into(Architecture.from_model_config(tiny_config().MODEL), ckpt, caplog)


def test_helper_layout_is_the_models(graph):
    """The hand-written layout of the helper is the model's at this reduced width too."""
    from lib.original.checkpoint import model_shapes
    arch = Architecture.from_model_config(tiny_config().MODEL)
    assert {name: list(shape) for name, shape in model_shapes(arch).items()} == original_shapes(0.125)


def test_one_shot_fpn_checkpoint_is_recognised_as_one_shot():
    """The original's FPN model with dual_mode off: FPN, FEM and the second shot's heads only."""
    from lib.original.checkpoint import recognise_arch
    shapes = {name: shape for name, shape in original_shapes(0.125).items() if not name.startswith('ssdout/')}
    arch = recognise_arch('model.ckpt', shapes)
    assert (arch.fpn, arch.dual_mode, list(arch.shots)) == (True, False, ['second'])
