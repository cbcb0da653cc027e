"""`python mac.py` end to end on a tiny model: plan, dense checkpoint (selection), mask, slim, errors, sensitivity
(val loss, and AP on a tiny synthetic WIDER set)."""
import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

import mac

from conftest import zip_same
from lib.data.sample_list import write_sample_list
from lib.evaluation import protocol
from lib.data.synthetic import make_synthetic_wider
from lib.data.wider_mat import write_ground_truth
from lib.inference.detector import FaceDetector
from lib.export.freeze import freeze_checkpoint
from lib.config import load_config
from lib.common.errors import UserError
from lib.model.arch import ALL_GROUPS, PRUNABLE_LAYERS
from lib import checkpoint
from lib.pruning import sensitivity
from lib.checkpoint import mask_path
from lib.pruning.masks import write_mask
from lib.evaluation.subset import ValSubset
from lib.pruning.slimming import slim_checkpoint
from lib.common.image import read_image
from lib.evaluation.results import write_result
from lib.inference.wider import walk_images
from pruning_helpers import ROOT, dense_arch, random_dead, small_config, write_random_checkpoint

WIDTH = 0.125
AP_SIZE = 128  # the training config's DATA.hin / win: the input size the sensitivity AP runs at
TARGET = 0.3  # the MAC budget planned from the sensitivity run


def run_script(setup, *flags):
    """mac.py in a subprocess (what users run)."""
    command = [sys.executable, os.path.join(ROOT, 'mac.py'), '--config=' + setup['mac_config']] + list(flags)
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          cwd=setup['folder'], timeout=600)


def run_mac(setup, capsys, *flags):
    """mac.py's logic in this process (fast); returns what it printed. UserErrors propagate."""
    capsys.readouterr()
    mac.run(['--config=' + setup['mac_config']] + list(flags))
    return capsys.readouterr().out


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp('mac')
    train_config = folder / 'train_config.py'
    train_config.write_text(open(os.path.join(ROOT, 'pruned_train_config.py')).read() +
                            '\nconfig.MODEL.width_mult = %r\nconfig.DATA.val_txt_path = %r\n'
                            'config.DATA.hin = config.DATA.win = %d\n' % (WIDTH, str(folder / 'val.txt'), AP_SIZE))
    config = small_config(width_mult=WIDTH)
    arch = dense_arch(config)
    dead = random_dead(arch, fraction=0.5)
    values = write_random_checkpoint(arch, str(folder / 'model.ckpt'), dead)
    for name in values:  # boxes = anchors, so the random model's detections reach a non-zero AP
        if '/out_reg' in name:
            values[name] = np.zeros_like(values[name])
    checkpoint.write_checkpoint(values, str(folder / 'model.ckpt'))
    rng = np.random.RandomState(0)
    samples = []
    for i in range(3):
        path = str(folder / ('img%d.jpg' % i))
        cv2.imwrite(path, rng.randint(0, 255, (96, 128, 3)).astype(np.uint8))
        samples.append((path, np.array([[20, 20, 60, 70]], np.float32)))
    write_sample_list(str(folder / 'val.txt'), samples)
    mac_config = folder / 'mac_config.py'
    mac_config.write_text(open(os.path.join(ROOT, 'mac_config.py')).read() + '\n'.join([
        '', 'config.MODEL.trained_model = %r' % str(folder / 'model.ckpt'),
        'config.MODEL.train_config = %r' % str(train_config),
        'config.INPUT.hin = config.INPUT.win = 64', 'config.PRUNE.criterion = "weight"',
        'config.SENSITIVITY.ratios = [0.5, 0.75]', 'config.SENSITIVITY.num_images = 2',
        'config.SENSITIVITY.plot_path = %r' % str(folder / 'sens.png'), '']))
    return dict(folder=str(folder), mac_config=str(mac_config), arch=arch, dead=dead, config=config,
                train_config=str(train_config))


@pytest.fixture(scope='module')
def wider(tmp_path_factory):
    """A tiny synthetic WIDER root: 4 val images with their .mat ground truth."""
    root = str(tmp_path_factory.mktemp('wider'))
    val = make_synthetic_wider(root, num_train=0, num_val=4, seed=0, min_side=96, max_side=160, min_face=16,
                               max_face=64)['val']
    return dict(root=root, val=val, gt_dir=os.path.join(root, 'eval_tools', 'ground_truth'))


@pytest.fixture(scope='module')
def dense_pb(setup, tmp_path_factory):
    """The plain frozen graph of the dense checkpoint (the reference the sensitivity AP must agree with)."""
    path = str(tmp_path_factory.mktemp('pb') / 'detector.pb')
    freeze_checkpoint(os.path.join(setup['folder'], 'model.ckpt'), load_config(setup['train_config']), path)
    return path


def sensitivity_json(setup, tmp_path_factory, *flags):
    """mac.py --sensitivity (+ flags) in this process -> its JSON."""
    out = str(tmp_path_factory.mktemp('sens') / 'sens.json')
    mac.run(['--config=' + setup['mac_config'], '--sensitivity', '--json=' + out] + list(flags))
    return json.load(open(out))


@pytest.fixture(scope='module')
def plain_sensitivity(setup, tmp_path_factory):
    """mac.py --sensitivity, planning a 30% MAC budget from it too (plan.json in the setup folder)."""
    return sensitivity_json(setup, tmp_path_factory, '--target_macs=%r' % TARGET,
                            '--write_plan=' + os.path.join(setup['folder'], 'plan.json'))


@pytest.fixture(scope='module')
def wider_sensitivity(setup, wider, tmp_path_factory):
    return sensitivity_json(setup, tmp_path_factory, '--sensitivity_wider=' + wider['root'])


def reference_ap(pb_path, items, gt_dir, result_dir):
    """AP of the frozen graph on ``items`` at AP_SIZE, written and scored as tools/wider.py + evaluation.py do."""
    with FaceDetector(pb_path) as detector:
        detections = detector.detect_batch([read_image(item.path) for item in items], 0., (AP_SIZE, AP_SIZE))
    for item, boxes in zip_same(items, detections):
        write_result(result_dir, item.event, item.name, boxes)
    return protocol.evaluate(result_dir, gt_dir, progress=False)


def test_plan_width_one_oracle(setup, tmp_path):
    out = str(tmp_path / 'plan.json')
    result = run_script(setup, '--plan', '--input_size=640,640', '--json=' + out,
                     '--train_config=' + os.path.join(ROOT, 'pruned_train_config.py'),
                     '--pruned_ratio=' + repr([0.5] * 15))
    assert result.returncode == 0, result.stderr
    report = json.load(open(out))
    assert report['input_size'] == [640, 640]
    assert report['groups']['backbone']['macs_dense'] == 127585484800
    assert report['groups']['backbone']['macs_kept'] == 32073318400
    fc6 = next(layer for layer in report['layers'] if layer['name'] == 'fc6')
    assert (fc6['c_in'], fc6['c_out'], fc6['c_in_kept'], fc6['c_out_kept']) == (512, 1024, 256, 512)
    assert 'not counted: biases, ReLU, pooling' in result.stdout
    assert 'MACs removed' in result.stdout and '[FPN + FEM]' in result.stdout
    groups = report['groups']
    dense = groups['backbone']['macs_dense'] + groups['extras']['macs_dense']
    kept = groups['backbone']['macs_kept'] + groups['extras']['macs_kept']
    assert dense == 127822233600  # the original mac.py's denominator
    assert report['pruned_mac_pct'] == pytest.approx(100. * kept / dense)
    assert 'Pruned MAC : %f %%' % (100. * kept / dense) in result.stdout


def test_no_arguments_finds_the_best_checkpoint_of_the_pruned_run(setup, tmp_path, capsys, monkeypatch):
    """`python mac.py` after the README's training: ./face_detector_pruned/optimized/ first, then its epochs."""
    config = tmp_path / 'mac_config.py'  # the shipped defaults, only the tiny training config swapped in
    config.write_text(open(os.path.join(ROOT, 'mac_config.py')).read() +
                      '\nconfig.MODEL.train_config = %r\nconfig.INPUT.hin = config.INPUT.win = 64\n'
                      'config.PRUNE.criterion = "weight"\n' % setup['train_config'])
    monkeypatch.chdir(str(tmp_path))
    values = checkpoint.read_checkpoint(os.path.join(setup['folder'], 'model.ckpt'))
    with pytest.raises(UserError) as err:
        mac.run(['--config=' + str(config)])
    message = str(err.value)
    assert '\n' not in message and './face_detector_pruned/' in message and '--ckpt_path' in message
    run = tmp_path / 'face_detector_pruned'
    (run / 'optimized').mkdir(parents=True)
    with pytest.raises(UserError, match='no checkpoint in ./face_detector_pruned/optimized nor in'):
        mac.run(['--config=' + str(config)])
    checkpoint.write_checkpoint(values, str(run / 'epoch_2.ckpt'))
    capsys.readouterr()
    mac.run(['--config=' + str(config)])
    assert 'epoch_2.ckpt' in capsys.readouterr().out
    checkpoint.write_checkpoint(values, str(run / 'optimized' / 'epoch_1_val_loss_2.000.ckpt'))
    mac.run(['--config=' + str(config), '--eps=0'])
    out = capsys.readouterr().out
    assert 'optimized/epoch_1_val_loss_2.000.ckpt' in out and 'eps=0' in out and 'Pruned MAC : ' in out


def test_dense_checkpoint_selects_writes_mask_and_matches_slim(setup, tmp_path, capsys):
    out = str(tmp_path / 'dense.json')
    stdout = run_mac(setup, capsys, '--json=' + out, '--eps=1e-6', '--profile')
    assert "selected by the 'weight' criterion" in stdout
    assert 'profiler dense' in stdout and stdout.count('(+0.000%)') == 2  # native dilated convs: no padding
    dense_report = json.load(open(out))
    ckpt = os.path.join(setup['folder'], 'model.ckpt')
    mask = json.load(open(mask_path(ckpt)))['kept']
    arch = setup['arch']
    for name in PRUNABLE_LAYERS:
        assert len(mask[name]) == arch.channels[name] - len(setup['dead'][name])
    slim_arch = slim_checkpoint(ckpt, {k: v for k, v in mask.items()}, arch, str(tmp_path / 'slim.ckpt'))
    out_slim = str(tmp_path / 'slim.json')
    assert 'slim checkpoint' in run_mac(setup, capsys, '--ckpt_path=' + str(tmp_path / 'slim.ckpt'),
                                        '--json=' + out_slim)
    slim_report = json.load(open(out_slim))
    assert slim_report['total'] == dense_report['total']
    backbone = dense_report['groups']['backbone']
    assert 0.2 < backbone['macs_kept'] / float(backbone['macs_dense']) < 0.3
    conv = next(layer for layer in slim_report['layers'] if layer['name'] == 'vgg_16/conv2/conv2_1')
    assert conv['c_out_kept'] == slim_arch.channels['vgg_16/conv2/conv2_1']
    assert conv['macs_kept'] == 9 * conv['c_in_kept'] * conv['c_out_kept'] * 32 * 32


def test_plan_over_every_group_with_round_to(setup, tmp_path, capsys):
    """--plan 'all:0.3' reaches the FPN and FEM convs; --round_to=8 rounds every kept count up to a multiple of 8
    (never above the dense count)."""
    counts = {}
    for round_to in (1, 8):
        out = str(tmp_path / ('plan%d.json' % round_to))
        run_mac(setup, capsys, '--plan', '--pruned_ratio=all:0.3', '--round_to=%d' % round_to, '--json=' + out)
        counts[round_to] = {row['name']: (row['c_out'], row['c_out_kept'])
                            for row in json.load(open(out))['layers'] if row['group'] != 'heads'}
    for name in ('lateral/res1', 'merge/res1', 'fems0/eyes_2_1', 'fems5/eyes_3', 'fc7'):
        dense, kept = counts[1][name]
        assert kept == dense - int(0.3 * dense)
    for name, (dense, kept) in counts[8].items():
        assert counts[1][name][1] <= kept <= dense and (kept % 8 == 0 or kept == dense), name
    assert counts[8]['fc7'] == (128, 96) and counts[1]['fc7'] == (128, 90)


def test_selection_rounds_kept_counts_up(setup, tmp_path, capsys):
    ckpt = str(tmp_path / 'model.ckpt')
    checkpoint.write_checkpoint(checkpoint.read_checkpoint(os.path.join(setup['folder'], 'model.ckpt')), ckpt)
    run_mac(setup, capsys, '--ckpt_path=' + ckpt, '--eps=1e-6', '--round_to=4')
    mask = json.load(open(mask_path(ckpt)))['kept']
    arch = setup['arch']
    for name in arch.groups:
        alive = arch.channels[name] - len(setup['dead'][name])
        assert len(mask[name]) % 4 == 0 or len(mask[name]) == arch.channels[name]
        assert alive <= len(mask[name]) < alive + 4
        assert set(mask[name]) >= set(range(arch.channels[name])) - set(setup['dead'][name])


def test_pruned_ratio_on_a_dense_checkpoint_keeps_the_top_l1_channels(setup, tmp_path, capsys):
    """One-shot L1 pruning: each group keeps exactly the --plan counts, its channels of largest filter L1 norm;
    the MACs are the plan's."""
    ckpt = str(tmp_path / 'model.ckpt')
    values = checkpoint.read_checkpoint(os.path.join(setup['folder'], 'model.ckpt'))
    checkpoint.write_checkpoint(values, ckpt)
    out, plan = str(tmp_path / 'l1.json'), str(tmp_path / 'plan.json')
    stdout = run_mac(setup, capsys, '--ckpt_path=' + ckpt, '--criterion=l1', '--pruned_ratio=all:0.5',
                     '--json=' + out)
    assert "'l1' criterion, each group's top channels at --pruned_ratio" in stdout
    mask = json.load(open(mask_path(ckpt)))
    assert mask['criterion'] == 'l1' and mask['pruned_ratio']['fc7'] == 0.5 and 'eps' not in mask
    arch = setup['arch']
    for name in ('vgg_16/conv1/conv1_1', 'vgg_16/conv4/conv4_3', 'fc7', 'extra/extra_conv2'):
        norms = np.abs(values[name + '/weights']).sum(axis=(0, 1, 2))
        count = arch.channels[name] - arch.channels[name] // 2
        assert mask['kept'][name] == sorted(np.argsort(-norms, kind='stable')[:count].tolist()), name
    run_mac(setup, capsys, '--plan', '--pruned_ratio=all:0.5', '--json=' + plan)
    assert json.load(open(out))['total'] == json.load(open(plan))['total']
    slim_checkpoint(ckpt, mask['kept'], arch, str(tmp_path / 'slim.ckpt'))
    with pytest.raises(UserError, match='slim already'):
        run_mac(setup, capsys, '--ckpt_path=' + str(tmp_path / 'slim.ckpt'), '--pruned_ratio=all:0.5')


def test_existing_mask_is_used(setup, tmp_path, capsys):
    ckpt = os.path.join(setup['folder'], 'model.ckpt')
    write_mask(mask_path(ckpt), {'fc7': [0]}, 'weight', 0.1, ckpt)
    out = str(tmp_path / 'mask.json')
    assert 'with mask' in run_mac(setup, capsys, '--json=' + out)
    fc7 = next(layer for layer in json.load(open(out))['layers'] if layer['name'] == 'fc7')
    assert fc7['c_out_kept'] == 1 and fc7['c_in_kept'] == fc7['c_in']


def test_activation_criterion_reads_val_list(setup, capsys):
    stdout = run_mac(setup, capsys, '--criterion=activation', '--eps=0', '--calib_images=2')
    assert "'activation' criterion" in stdout and 'val.txt' in stdout


def test_missing_checkpoint_is_one_line_from_the_script(setup):
    result = run_script(setup, '--ckpt_path=nowhere.ckpt')
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith('error: checkpoint not found: nowhere.ckpt')


@pytest.mark.parametrize('flags, message', [
    (['--input_size=65,64'], 'INPUT.hin = 65: expected a positive multiple of 32'),
    (['--input_size=640'], 'expected H,W'),
    (['--plan', '--pruned_ratio=[0.5, 2]'], '--pruned_ratio'),
    (['--pruned_ratio=all:0.5', '--eps=0'], 'does not go with --eps'),
    (['--plan', '--pruned_ratio=all:x'], "'all:<ratio>'"),
    (['--plan', "--pruned_ratio={'fems0/eyes_21': 0.5}"], 'did you mean fems0/eyes_2_1'),
    (['--plan', '--round_to=0'], '--round_to = 0: expected an integer >= 1'),
])
def test_user_errors(setup, capsys, flags, message):
    with pytest.raises(UserError, match=re.escape(message)):
        run_mac(setup, capsys, *flags)


def test_a_training_config_as_config_counts_with_it(setup, tmp_path, capsys):
    """mac.py --config=<a training config> (ours; the original's: test_original_config_files.py): it is the
    training config, the checkpoint is its MODEL.model_path's, mac.py's other settings are mac_config.py's."""
    run = tmp_path / 'run'
    run.mkdir()
    for name in os.listdir(setup['folder']):
        if name.startswith('model.ckpt.') and not name.endswith('mask.json'):
            with open(os.path.join(setup['folder'], name), 'rb') as f:
                (run / name).write_bytes(f.read())
    config = tmp_path / 'train_config.py'
    config.write_text(open(setup['train_config']).read() + '\nconfig.MODEL.model_path = %r\n' % str(run))
    flags = ['--input_size=64,64', '--criterion=weight']
    expected = run_mac(setup, capsys, '--ckpt_path=' + str(run / 'model.ckpt'), *flags)
    mac.run(['--config=' + str(config)] + flags)
    assert capsys.readouterr().out == expected and str(run / 'model.ckpt') in expected
    config.write_text(open(setup['train_config']).read() + '\nconfig.MODEL.model_path = %r\n' % str(tmp_path))
    message = 'no checkpoint in %s .*set config.MODEL.model_path in %s' % (tmp_path, config)
    with pytest.raises(UserError, match=message):
        mac.run(['--config=' + str(config)] + flags)


def test_mac_config_counts_accept_integral_floats(setup, tmp_path, capsys):
    """INPUT.hin = 64.0 is 64; a non-integral count is one line naming the field, before any work."""
    expected = run_mac(setup, capsys, '--plan')
    config = tmp_path / 'mac_config.py'
    config.write_text(open(setup['mac_config']).read() + '\nconfig.INPUT.hin = 64.0\nconfig.CALIB.num_images = 3.0\n')
    mac.run(['--config=' + str(config), '--plan'])
    assert capsys.readouterr().out == expected
    for field in ('CALIB.num_images', 'SENSITIVITY.num_images'):
        config.write_text(open(setup['mac_config']).read() + '\nconfig.%s = 2.5\n' % field)
        with pytest.raises(UserError) as err:
            mac.run(['--config=' + str(config), '--sensitivity'])
        assert str(err.value) == 'config.%s = 2.5: expected an integer >= 1' % field


def test_checkpoint_of_another_architecture(setup, tmp_path, capsys):
    other = dense_arch(small_config(width_mult=0.25))
    write_random_checkpoint(other, str(tmp_path / 'wide.ckpt'), extra=False)
    with pytest.raises(UserError, match='does not fit the architecture'):
        run_mac(setup, capsys, '--ckpt_path=' + str(tmp_path / 'wide.ckpt'))


def test_mask_with_unknown_layer(setup, tmp_path, capsys):
    write_random_checkpoint(setup['arch'], str(tmp_path / 'm.ckpt'), extra=False)
    with open(mask_path(str(tmp_path / 'm.ckpt')), 'w') as f:
        json.dump({'kept': {'vgg_16/conv9/conv9_9': [0]}}, f)
    with pytest.raises(UserError, match='unknown layers vgg_16/conv9/conv9_9'):
        run_mac(setup, capsys, '--ckpt_path=' + str(tmp_path / 'm.ckpt'))


def test_sensitivity_table_and_plot(setup, plain_sensitivity):
    data = plain_sensitivity
    assert len(data['rows']) == 2 * len(setup['arch'].groups)  # every group: backbone, extras, FPN, FEM
    assert {row['layer'] for row in data['rows']} == set(ALL_GROUPS)
    assert 'baseline_ap_easy' not in data and 'ap_easy' not in data['rows'][0]  # no AP without a WIDER set
    assert os.path.getsize(os.path.join(setup['folder'], 'sens.png')) > 1000
    rows = {(row['layer'], row['ratio']): row for row in data['rows']}
    conv1 = rows['vgg_16/conv1/conv1_1', 0.5]
    assert conv1['kept'] == 4 and conv1['pruned'] == 4
    assert conv1['macs_saved'] == 9 * 3 * 4 * 64 * 64 + 9 * 4 * 8 * 64 * 64  # its own output + conv1_2's input
    # half the filters of every layer are already zero, so pruning the lowest-norm half changes nothing;
    # pruning 3/4 removes live filters
    for (layer, ratio), row in rows.items():
        if ratio == 0.5:
            assert row['val_loss'] == pytest.approx(data['baseline_val_loss'], rel=1e-5), layer
    assert any(abs(row['val_loss'] - data['baseline_val_loss']) > 1e-3 for row in data['rows'])


def test_budget_plan_file_is_accepted_by_plan_and_meets_the_target(setup, plain_sensitivity, tmp_path, capsys):
    """mac.py --sensitivity --target_macs=0.3 --write_plan=plan.json, then mac.py --plan --pruned_ratio=plan.json:
    the whole detector's MACs counted on the planned architecture are <= 30% of dense, and each group's predicted
    loss increase is read off its sensitivity curve."""
    plan = plain_sensitivity['budget']
    plan_file = os.path.join(setup['folder'], 'plan.json')
    ratios = json.load(open(plan_file))
    assert ratios == plan['pruned_ratio'] and set(ratios) == set(ALL_GROUPS)
    out = str(tmp_path / 'planned.json')
    stdout = run_mac(setup, capsys, '--plan', '--pruned_ratio=' + plan_file, '--json=' + out)
    assert 'plan:' in stdout
    total = json.load(open(out))['total']
    assert total['macs_kept'] <= TARGET * total['macs_dense'] and total['macs_dense'] == plan['dense_macs']
    assert total['macs_kept'] == plan['counted_macs'] == plan['macs']
    # the prediction is the measured curve: at a measured count, that row's val loss minus the baseline
    measured = {(row['layer'], row['kept']): row['val_loss'] - plain_sensitivity['baseline_val_loss']
                for row in plain_sensitivity['rows']}
    at_rows = [group for group, kept in plan['kept'].items() if (group, kept) in measured]
    assert len([group for group in at_rows if ratios[group] > 0]) >= 5
    for group in at_rows:
        assert plan['predicted'][group] == pytest.approx(measured[group, plan['kept'][group]], abs=1e-6), group
    assert plan['predicted_loss_increase'] == pytest.approx(sum(plan['predicted'].values()))


def test_write_plan_never_replaces_a_file_it_did_not_write(setup, tmp_path, capsys):
    foreign = tmp_path / 'mine.json'
    foreign.write_text('{}')
    with pytest.raises(UserError, match='mine.json exists and was not written by mac .*--overwrite'):
        run_mac(setup, capsys, '--sensitivity', '--target_macs=0.5', '--write_plan=' + str(foreign))
    assert foreign.read_text() == '{}'


def test_budget_needs_the_dense_checkpoint(setup, tmp_path, capsys):
    """Plan ratios are of the dense model: a slim checkpoint is refused before the sensitivity run."""
    ckpt = os.path.join(setup['folder'], 'model.ckpt')
    slim = str(tmp_path / 'slim.ckpt')
    slim_checkpoint(ckpt, {'fc7': [0, 1, 2]}, setup['arch'], slim)
    with pytest.raises(UserError, match='--target_macs plans ratios of the training config\'s dense model, but '
                                        'checkpoint .*slim.ckpt is slim'):
        run_mac(setup, capsys, '--ckpt_path=' + slim, '--sensitivity', '--target_macs=0.5')


@pytest.mark.parametrize('flags, message', [
    (['--target_macs=0.3'], '--target_macs plans from the sensitivity curves: add --sensitivity'),
    (['--sensitivity', '--target_macs=0'], '--target_macs=0: expected a fraction of the dense MACs, 0 < x <= 1'),
    (['--sensitivity', '--target_macs=1.5'], '0 < x <= 1'),
    (['--sensitivity', '--target_macs=nan'], '0 < x <= 1'),
    (['--sensitivity', '--target_macs=30%'], '--target_macs=30%: expected'),
    (['--write_plan=p.json'], '--write_plan is used by --target_macs only'),
    (['--sensitivity', '--target_macs=0.3', '--write_plan=p.txt'], 'expected a file name ending in .json'),
    (['--plan', '--pruned_ratio=nowhere.json'], "--pruned_ratio = 'nowhere.json': expected a JSON object"),
])
def test_budget_user_errors(setup, capsys, flags, message):
    with pytest.raises(UserError, match=re.escape(message)):
        run_mac(setup, capsys, *flags)


def test_sensitivity_ap_columns_and_dense_row_match_the_frozen_graph(wider, dense_pb, plain_sensitivity,
                                                                     wider_sensitivity, tmp_path):
    data = wider_sensitivity
    assert data['ap_images'] == 4 and data['ap_input_size'] == [AP_SIZE, AP_SIZE]
    for row in [data] + data['rows']:
        prefix = 'baseline_' if row is data else ''
        assert all(0. <= row[prefix + 'ap_' + s] <= 1. for s in ('easy', 'medium', 'hard'))
    reference = reference_ap(dense_pb, walk_images(os.path.join(wider['root'], 'WIDER_val')), wider['gt_dir'],
                             str(tmp_path / 'ref'))
    assert reference['hard'] > 0  # the check below is not 0 == 0
    for setting in ('easy', 'medium', 'hard'):
        assert data['baseline_ap_' + setting] == pytest.approx(reference[setting], abs=1e-9), setting
    # the val loss part is the same with or without the AP columns
    assert data['baseline_val_loss'] == pytest.approx(plain_sensitivity['baseline_val_loss'], rel=1e-6)
    assert [r['val_loss'] for r in data['rows']] == pytest.approx([r['val_loss'] for r in plain_sensitivity['rows']],
                                                                  rel=1e-6)
    assert any(row['ap_hard'] != data['baseline_ap_hard'] for row in data['rows'])


def test_sensitivity_ap_counts_only_the_images_run(wider, dense_pb, tmp_path):
    ap_set = ValSubset(wider['root'], 2, (AP_SIZE, AP_SIZE))
    assert len(ap_set.images) == 2
    with FaceDetector(dense_pb) as detector:
        measured = ap_set.average_precision(detector.detect_batch)
    write_ground_truth(str(tmp_path / 'gt2'), wider['val'][:2])  # the official files of just those two images
    items = [item for item in walk_images(os.path.join(wider['root'], 'WIDER_val'))
             if (item.event, item.name) in ap_set.images]
    reference = reference_ap(dense_pb, items, str(tmp_path / 'gt2'), str(tmp_path / 'ref'))
    assert measured == {s: pytest.approx(reference[s], abs=1e-9) for s in ('easy', 'medium', 'hard')}


def test_sensitivity_table_and_plot_with_ap(wider_sensitivity, tmp_path):
    lines = sensitivity.format_table(wider_sensitivity).splitlines()
    assert 'AP on 4 WIDER val images at 128x128' in lines[0]
    assert lines[1].endswith('val loss    AP easy  AP medium    AP hard')
    assert len(lines) == 2 + len(wider_sensitivity['rows'])
    sensitivity.plot(wider_sensitivity, str(tmp_path / 'sens.png'))
    assert cv2.imread(str(tmp_path / 'sens.png')).shape[:2] == (1200, 2000)  # 2 x 2 panels: loss, three APs


@pytest.mark.parametrize('flags, message', [
    (['--sensitivity', '--sensitivity_wider=nowhere'], 'eval_tools/ground_truth/wider_face_val.mat not found'),
    (['--sensitivity_wider=nowhere'], 'used by --sensitivity only'),
])
def test_sensitivity_wider_errors(setup, capsys, flags, message):
    with pytest.raises(UserError, match=re.escape(message)):
        run_mac(setup, capsys, *flags)
