"""Every entry point on bad inputs, as a table: each row runs one entry point (``pruned_train.py``, ``mac.py``,
``demo.py``, ``tools/*.py`` through their ``main``, in this process, or ``FaceDetector``) and states the outcome:

- ``error(entry, argv, expected)``: exit status != 0 and exactly one line on stderr that contains ``expected`` (it
  names the file or flag), or for FaceDetector one UserError line;
- ``interrupt(entry, argv, expected)``: Ctrl-C (a KeyboardInterrupt when it reads its config) gives exit 130 and one
  line: ``interrupted (Ctrl-C); `` + ``expected`` (what the job kept and how to resume);
- ``warning(entry, argv, expected, check)``: it succeeds, ``expected`` is in what it printed or logged, and
  ``check(paths)`` asserts the right result.

Always: no traceback (any exception but the entry point's own exit fails the row) and every input file unchanged
(hashed before and after). Placeholders in argv and expected: {in} the inputs folder (data, configs, checkpoint,
detector, WIDER folder, bad files), {out} a fresh folder per row, {afile} a plain file (a path under it cannot be
written, even by root), {pid} the process holding {out}/model's training lock in rows with ``hold=True``.
``readonly`` folders are made unwritable to the start checks (root ignores permission bits); ``full_disk`` makes
lib.common.io's writes fail with ENOSPC. ``absent``: paths a row must not leave behind. Adding a class of bad input is adding rows.
"""
import collections
import errno
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import lib.config
from conftest import report_measurement
from export_graphs import fake_detector_pb, random_checkpoint, tiny_config
from lib.common import io, outputs
from lib.common.errors import UserError
from lib.train.claim import LOCK_FILE
from test_evaluation import write_gt
from tests.train_helpers import ROOT, tiny_overrides, write_config_file, write_tiny_dataset

Row = collections.namedtuple('Row', 'entry argv expected kind check readonly absent hold full_disk')


def error(entry, argv, expected, readonly=(), absent=(), hold=False, full_disk=False):
    return Row(entry, argv, expected, 'error', None, readonly, absent, hold, full_disk)


def interrupt(entry, argv, expected):
    """Ctrl-C while the entry point reads its config: exit 130, one line saying what is kept."""
    return Row(entry, argv, 'interrupted (Ctrl-C); ' + expected, 'interrupt', None, (), (), False, False)


def warning(entry, argv, expected, check):
    return Row(entry, argv, expected, 'warning', check, (), (), False, False)


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


TRAIN = ['--config={in}/config.py', '--model_path={out}/model']
MAC = ['--train_config={in}/config.py', '--input_size=64,64']
FREEZE = ['--config={in}/config.py', '--ckpt_path={in}/ckpt/model.ckpt']

ROWS = {
    # missing input files: named
    'train/missing config': error('pruned_train', ['--config={in}/nope.py'], '{in}/nope.py'),
    'train/missing pretrained': error('pruned_train', TRAIN + ['--pretrained_model={in}/nope.ckpt'],
                                      '{in}/nope.ckpt', absent=['{out}/model']),
    'train/missing train list': error('pruned_train', ['--config={in}/config_no_list.py', '--model_path={out}/m'],
                                      '{in}/nope.txt', absent=['{out}/m']),
    'mac/missing checkpoint': error('mac', MAC + ['--ckpt_path={in}/nope.ckpt'], '{in}/nope.ckpt'),
    'mac/missing config': error('mac', ['--config={in}/nope.py'], '{in}/nope.py'),
    'freeze/missing checkpoint': error('tools/auto_freeze', ['--config={in}/config.py', '--ckpt_path={in}/nope.ckpt',
                                                             '--output_path={out}/export'], '{in}/nope.ckpt',
                                       absent=['{out}/export']),
    'freeze/missing mask': error('tools/auto_freeze', FREEZE + ['--output_path={out}/export', '--slim',
                                                                '--mask={in}/nope.mask.json'], '{in}/nope.mask.json'),
    'convert/missing checkpoint': error('tools/convert_checkpoint', ['--ckpt_path={in}/nope.ckpt',
                                                                     '--output_path={out}/c.ckpt'], '{in}/nope.ckpt'),
    'wider/missing model': error('tools/wider', ['--model={in}/nope.pb', '--data_dir={in}/wider/WIDER_val',
                                                 '--result={out}/r', '--no_progress'], '{in}/nope.pb'),
    'wider/missing data': error('tools/wider', ['--model={in}/detector.pb', '--data_dir={in}/nope',
                                                '--result={out}/r'], '{in}/nope'),
    'vis/missing images': error('tools/vis', ['--model={in}/detector.pb', '--images={in}/nope', '--out={out}/v'],
                                '{in}/nope'),
    'vis/missing model': error('tools/vis', ['--model={in}/nope.pb', '--images={in}/data/val', '--out={out}/v'],
                               '{in}/nope.pb'),
    'evaluation/missing pred': error('tools/ap_eval/evaluation', ['--pred={in}/nope', '--gt={in}/gt'], '{in}/nope'),
    'prepare/missing wider root': error('tools/prepare_wider_data', ['--wider_root={in}/nope',
                                                                     '--out_dir={out}/lists'], '{in}/nope'),
    'demo/missing config': error('demo', ['--config={in}/nope.py', '--out={out}/demo'], '{in}/nope.py'),
    'FaceDetector/missing model': error('FaceDetector', ['{in}/nope.pb'], '{in}/nope.pb'),
    'FaceDetector/not a model': error('FaceDetector', ['{in}/garbage.pb'], '{in}/garbage.pb'),
    'FaceDetector/not an IR': error('FaceDetector', ['{in}/garbage.xml'], '{in}/garbage.xml'),
    'FaceDetector/unknown kind': error('FaceDetector', ['{in}/config.py'], '{in}/config.py'),
    # bad flag values: named
    'train/bad pruned_ratio': error('pruned_train', TRAIN + ['--pruned_ratio=lots'], '--pruned_ratio'),
    'train/bad batch flag': error('pruned_train', TRAIN + ['--batch_size=0'], 'batch_size',
                                  absent=['{out}/model']),
    'mac/bad input_size': error('mac', MAC + ['--input_size=64x64'], '--input_size=64x64'),
    'mac/target without sensitivity': error('mac', MAC + ['--ckpt_path={in}/ckpt/model.ckpt', '--target_macs=0.5'],
                                            '--target_macs'),
    'mac/bad target': error('mac', MAC + ['--sensitivity', '--target_macs=2'], '--target_macs=2'),
    'freeze/bad tflite kind': error('tools/auto_freeze', FREEZE + ['--output_path={out}/e', '--tflite=fp64'],
                                    '--tflite=fp64'),
    'freeze/bad openvino kind': error('tools/auto_freeze', FREEZE + ['--output_path={out}/e', '--openvino=fp16'],
                                      '--openvino=fp16'),
    'freeze/bad onnx kind': error('tools/auto_freeze', FREEZE + ['--output_path={out}/e', '--onnx=int4'],
                                  '--onnx=int4'),
    'freeze/mask without slim': error('tools/auto_freeze', FREEZE + ['--output_path={out}/e',
                                                                     '--mask={in}/ckpt/x.json'], '--mask'),
    'convert/zero std': error('tools/convert_checkpoint', ['--ckpt_path={in}/ckpt/model.ckpt', '--output_path={out}/c',
                                                           '--pixel_std', '0', '1', '1'], '--pixel_std'),
    'wider/bad workers': error('tools/wider', ['--model={in}/detector.pb', '--data_dir={in}/wider/WIDER_val',
                                               '--result={out}/r', '--workers=0'], '--workers=0'),
    'wider/bad max_size': error('tools/wider', ['--model={in}/detector.pb', '--data_dir={in}/wider/WIDER_val',
                                                '--result={out}/r', '--max_size=10'], '--max_size=10'),
    # bad files read: named with their line or field
    'train/bad list line': error('pruned_train', ['--config={in}/config_bad_line.py', '--model_path={out}/m'],
                                 '{in}/bad_line.txt:2', absent=['{out}/m']),
    'train/list not utf-8': error('pruned_train', ['--config={in}/config_latin1.py', '--model_path={out}/m'],
                                  '{in}/latin1.txt:1', absent=['{out}/m']),
    'train/no readable val image': error('pruned_train', ['--config={in}/config_bad_val.py', '--model_path={out}/m'],
                                         '{in}/bad_val.txt', absent=['{out}/m']),
    'train/bad config value': error('pruned_train', ['--config={in}/config_bad_value.py'], 'TRAIN.batch_size'),
    'train/config syntax error': error('pruned_train', ['--config={in}/config_syntax.py'], '{in}/config_syntax.py'),
    'mac/bad plan file': error('mac', MAC + ['--plan', '--pruned_ratio={in}/bad_plan.json'], '{in}/bad_plan.json'),
    'freeze/bad config value': error('tools/auto_freeze', ['--config={in}/config_bad_value.py',
                                                           '--ckpt_path={in}/ckpt/model.ckpt',
                                                           '--output_path={out}/e'], 'TRAIN.batch_size'),
    'wider/bad list': error('tools/wider', ['--model={in}/detector.pb', '--data_dir={in}/wider/WIDER_val', '--result={out}/r',
                                            '--list={in}/nope.txt'], '{in}/nope.txt'),
    # outputs that cannot be written: refused at start, before the work
    'train/model_path under a file': error('pruned_train', ['--config={in}/config.py', '--model_path={afile}/m'],
                                           '{afile}/m'),
    'train/model_path read-only': error('pruned_train', TRAIN, '{out}/model', readonly=['{out}/model'],
                                        absent=['{out}/model']),
    'mac/json under a file': error('mac', MAC + ['--plan', '--json={afile}/m.json'], '--json={afile}/m.json'),
    'mac/json read-only': error('mac', MAC + ['--plan', '--json={out}/m.json'], '--json={out}/m.json',
                                readonly=['{out}']),
    'mac/mask beside a read-only checkpoint': error('mac', MAC + ['--ckpt_path={in}/ckpt/model.ckpt',
                                                                  '--criterion=l1', '--eps=0'],
                                                    'mask file beside --ckpt_path={in}/ckpt/model.ckpt.mask.json',
                                                    readonly=['{in}/ckpt']),
    'mac/write_plan under a file': error('mac', MAC + ['--ckpt_path={in}/ckpt/model.ckpt', '--sensitivity',
                                                       '--target_macs=0.5', '--write_plan={afile}/p.json'],
                                         '--write_plan={afile}/p.json'),
    'mac/sensitivity plot read-only': error('mac', MAC + ['--config={in}/mac_config.py', '--sensitivity',
                                                          '--ckpt_path={in}/ckpt/model.ckpt'],
                                            'SENSITIVITY.plot_path={in}/plots/s.png', readonly=['{in}/plots']),
    'evaluation/json under a file': error('tools/ap_eval/evaluation', ['--pred={in}/pred', '--gt={in}/gt',
                                                                       '--json={afile}/a.json'], '--json={afile}'),
    'evaluation/plot is a folder': error('tools/ap_eval/evaluation', ['--pred={in}/pred', '--gt={in}/gt',
                                                                      '--plot={out}'], '--plot={out}'),
    'freeze/output under a file': error('tools/auto_freeze', FREEZE + ['--output_path={afile}/e'], '{afile}/e'),
    'freeze/saved_model under a file': error('tools/auto_freeze', FREEZE + ['--output_path={out}/e',
                                                                            '--saved_model={afile}/sm'],
                                             '--saved_model={afile}/sm', absent=['{out}/e']),
    'convert/output under a file': error('tools/convert_checkpoint', ['--ckpt_path={in}/ckpt/model.ckpt',
                                                                      '--output_path={afile}/c'], '{afile}/c'),
    'wider/result under a file': error('tools/wider', ['--model={in}/detector.pb', '--data_dir={in}/wider/WIDER_val',
                                                       '--result={afile}/r'], '{afile}/r'),
    'vis/out under a file': error('tools/vis', ['--model={in}/detector.pb', '--images={in}/data/val',
                                                '--out={afile}/v'], '{afile}/v'),
    'prepare/out_dir under a file': error('tools/prepare_wider_data', ['--wider_root={in}/wider',
                                                                       '--out_dir={afile}/l'], '{afile}/l'),
    'demo/out under a file': error('demo', ['--config={in}/config.py', '--out={afile}/d'], '--out {afile}/d'),
    'synthetic/out under a file': error('tools/make_synthetic_wider', ['--out={afile}/w', '--train=1', '--val=1'],
                                        '{afile}/w'),
    # an output that is an input
    'mac/json is the config': error('mac', MAC + ['--plan', '--json={in}/config.py'], '--json={in}/config.py'),
    'evaluation/json inside pred': error('tools/ap_eval/evaluation', ['--pred={in}/pred', '--gt={in}/gt',
                                                                      '--json={in}/pred/a.json'], '--json'),
    'freeze/saved_model is the checkpoint folder': error('tools/auto_freeze', FREEZE + [
        '--output_path={out}/e', '--saved_model={in}/ckpt'], '--saved_model={in}/ckpt', absent=['{out}/e']),
    'convert/output is the input': error('tools/convert_checkpoint', ['--ckpt_path={in}/ckpt/model.ckpt',
                                                                      '--output_path={in}/ckpt/model.ckpt'],
                                         '{in}/ckpt/model.ckpt'),
    'wider/result is the data': error('tools/wider', ['--model={in}/detector.pb', '--data_dir={in}/wider/WIDER_val',
                                                      '--result={in}/wider/WIDER_val'], '--result={in}/wider/WIDER_val'),
    'vis/out is the images': error('tools/vis', ['--model={in}/detector.pb', '--images={in}/data/val',
                                                 '--out={in}/data/val'], '--out={in}/data/val'),
    # a full disk when the results are written (lib.common.io.write_text raises ENOSPC): one line, what was kept
    'mac/json on a full disk': error('mac', MAC + ['--plan', '--json={out}/m.json'],
                                     'no space left on device ({out}/m.json); mac.py writes each output whole',
                                     full_disk=True, absent=['{out}/m.json']),
    'evaluation/json on a full disk': error('tools/ap_eval/evaluation', ['--pred={in}/pred', '--gt={in}/gt',
                                                                         '--json={out}/a.json'],
                                            'no space left on device ({out}/a.json)', full_disk=True),
    # Ctrl-C in a long job: one line, exit 130, what was kept and how to resume
    'train/ctrl-c': interrupt('pruned_train', TRAIN, 'the checkpoints saved so far stay in config.MODEL.model_path'),
    'mac/ctrl-c': interrupt('mac', MAC + ['--sensitivity', '--ckpt_path={in}/ckpt/model.ckpt'],
                            'mac.py writes each output whole'),
    'freeze/ctrl-c': interrupt('tools/auto_freeze', FREEZE + ['--output_path={out}/e'],
                               'the outputs finished so far stay in --output_path'),
    'demo/ctrl-c': interrupt('demo', ['--config={in}/config.py', '--out={out}/demo'],
                             'the data set and the stages done so far stay in --out'),
    # a second training on a model_path in use: refused naming the holder
    'train/model_path in use': error('pruned_train', TRAIN, 'in use by another process (pid {pid}', hold=True),
    # a warning and the right result
    'vis/unreadable image skipped': warning(
        'tools/vis', ['--model={in}/detector.pb', '--images={in}/mixed', '--out={out}/v', '--threads=1'],
        'skipped (unreadable): {in}/mixed/b.jpg',
        lambda p: sorted(os.listdir(p['out'] + '/v')) == [outputs.MARKER, 'a.jpg']),
    'prepare/invalid box skipped': warning(
        'tools/prepare_wider_data', ['--wider_root={in}/wider', '--out_dir={out}/lists'],
        'dropped faces: 1 degenerate', lambda p: [line.split('|')[1] for line in _lines(p['out'] + '/lists/val.txt')]
        == [' 5,5,25,25,1']),
}


def _write_world(root):
    """The inputs every row reads; returns {placeholder: path}."""
    data = os.path.join(root, 'data')
    train_txt = write_tiny_dataset(data, 4, name='train')
    val_txt = write_tiny_dataset(data, 2, seed=1, name='val')
    base = tiny_overrides(root, train_txt, val_txt, MODEL__width_mult=0.0625)

    def config(name, **extra):
        values = dict(base)
        for key, value in extra.items():
            section, field = key.split('__')
            values[(section, field)] = value
        write_config_file(os.path.join(root, name), values)
    config('config.py')
    config('config_no_list.py', DATA__train_txt_path=os.path.join(root, 'nope.txt'))
    config('config_bad_value.py', TRAIN__batch_size=0)
    with open(os.path.join(root, 'bad_line.txt'), 'w') as f:
        f.write(_lines(train_txt)[0] + '\n' + _lines(train_txt)[1].split('|')[0] + '| 1,2,3\n')
    config('config_bad_line.py', DATA__train_txt_path=os.path.join(root, 'bad_line.txt'))
    with open(os.path.join(root, 'latin1.txt'), 'wb') as f:
        f.write(_lines(train_txt)[0].encode() + b' caf\xe9\n')
    config('config_latin1.py', DATA__train_txt_path=os.path.join(root, 'latin1.txt'))
    with open(os.path.join(root, 'bad_val.txt'), 'w') as f:
        f.write(os.path.join(root, 'config.py') + '| 1,1,9,9,1\n')
    config('config_bad_val.py', DATA__val_txt_path=os.path.join(root, 'bad_val.txt'))
    with open(os.path.join(root, 'config_syntax.py'), 'w') as f:
        f.write('config = (\n')
    with open(os.path.join(ROOT, 'mac_config.py')) as f:
        mac_config = f.read()
    with open(os.path.join(root, 'mac_config.py'), 'w') as f:
        f.write(mac_config + '\nconfig.SENSITIVITY.plot_path = %r\n' % os.path.join(root, 'plots', 's.png'))
    os.makedirs(os.path.join(root, 'plots'))
    with open(os.path.join(root, 'bad_plan.json'), 'w') as f:
        f.write('{"conv1_1": 2.5}\n')
    os.makedirs(os.path.join(root, 'ckpt'))
    random_checkpoint(tiny_config(width=0.0625), os.path.join(root, 'ckpt', 'model.ckpt'))
    fake_detector_pb(os.path.join(root, 'detector.pb'))
    with open(os.path.join(root, 'garbage.pb'), 'wb') as f:
        f.write(b'\x00not a graph\xff' * 10)
    with open(os.path.join(root, 'garbage.xml'), 'w') as f:
        f.write('<net name="x"><layers><layer id="0"')
    image = cv2.imread(os.path.join(data, 'val', '000.jpg'))
    for split in ('train', 'val'):  # a WIDER root: one valid face, one degenerate (negative width)
        event = os.path.join(root, 'wider', 'WIDER_' + split, 'images', '0--Parade')
        os.makedirs(event)
        cv2.imwrite(os.path.join(event, '0_Parade_0.jpg'), image)
        cv2.imwrite(os.path.join(event, '0_Parade_1.jpg'), image)
        annotations = os.path.join(root, 'wider', 'wider_face_split')
        os.makedirs(annotations, exist_ok=True)
        with open(os.path.join(annotations, 'wider_face_%s_bbx_gt.txt' % split), 'w') as f:
            f.write('0--Parade/0_Parade_0.jpg\n1\n5 5 20 20 0 0 0 0 0 0\n'
                    '0--Parade/0_Parade_1.jpg\n1\n5 5 -3 20 0 0 0 0 0 0\n')
    os.makedirs(os.path.join(root, 'mixed'))
    cv2.imwrite(os.path.join(root, 'mixed', 'a.jpg'), image)
    with open(os.path.join(root, 'mixed', 'b.jpg'), 'wb') as f:
        f.write(b'not a jpeg')
    os.makedirs(os.path.join(root, 'pred', '0--Parade'))
    with open(os.path.join(root, 'pred', '0--Parade', '0_Parade_0.txt'), 'w') as f:
        f.write('0_Parade_0\n1\n5 5 15 15 0.9\n')
    write_gt(os.path.join(root, 'gt'), [('0--Parade', [('0_Parade_0', [[5, 5, 10, 10]], {})])])
    with open(os.path.join(root, 'afile'), 'w') as f:
        f.write('a plain file\n')


def _digests(folder):
    found = {}
    for path, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(path, name), 'rb') as f:
                found[os.path.join(path, name)] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('bad_inputs_in'))
    _write_world(root)
    spent = []
    yield root, spent
    report_measurement('test_bad_inputs: %d rows in %.1f s (%s)' % (len(spent), sum(spent), sys.version.split()[0]))


_MODULES = {}


def _entry(name):
    """The main of an entry script (imported once), or FaceDetector."""
    if name not in _MODULES:
        if name == 'FaceDetector':
            from lib.inference.detector import FaceDetector
            _MODULES[name] = FaceDetector
        else:
            spec = importlib.util.spec_from_file_location('_entry_' + name.replace('/', '_'),
                                                          os.path.join(ROOT, name + '.py'))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _MODULES[name] = module.main
    return _MODULES[name]


def _hold_lock(model_path):
    """A live process holding the training lock of ``model_path`` (as a running training does)."""
    os.makedirs(model_path)
    holder = subprocess.Popen([sys.executable, '-c', 'import sys, time; sys.path.insert(0, %r)\n'
                               'from lib.common.lock import writer_lock\n'
                               'with writer_lock(sys.argv[1], "x"):\n'
                               '    print("held", flush=True); time.sleep(60)\n' % ROOT,
                               os.path.join(model_path, LOCK_FILE)], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b'held'
    return holder


def _run(entry, argv, monkeypatch):
    """(exit status, stdout, stderr) of one entry point; FaceDetector: a UserError is its exit 2 + line."""
    if entry == 'FaceDetector':
        try:
            _entry(entry)(argv[0]).close()
        except UserError as err:
            return 2, '', 'error: %s\n' % err
        return 0, '', ''
    main = _entry(entry)
    if entry == 'demo':
        monkeypatch.setattr(sys, 'argv', ['demo.py'] + argv)
        argv = None
    try:
        main(argv) if argv is not None else main()
    except SystemExit as stop:
        return stop.code, None, None
    return 0, None, None


@pytest.mark.parametrize('name', sorted(ROWS))
def test_bad_input(world, name, tmp_path, monkeypatch, capsys, caplog):
    root, spent = world
    row = ROWS[name]
    paths = {'in': root, 'out': str(tmp_path / 'out'), 'afile': os.path.join(root, 'afile'), 'pid': ''}
    os.makedirs(paths['out'])
    holder = _hold_lock(os.path.join(paths['out'], 'model')) if row.hold else None
    if holder:
        paths['pid'] = str(holder.pid)
    fill = lambda text: text.replace('{in}', paths['in']).replace('{out}', paths['out']).replace(  # noqa: E731
        '{afile}', paths['afile']).replace('{pid}', paths['pid'])
    readonly = [os.path.realpath(fill(p)) for p in row.readonly]
    probe = outputs._probe

    def unwritable(folder):
        if os.path.realpath(folder) in readonly:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), folder)
        return probe(folder)
    monkeypatch.setattr(outputs, '_probe', unwritable)
    if row.full_disk:
        def full(path, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        monkeypatch.setattr(io, 'write_text', full)
    if row.kind == 'interrupt':
        def ctrl_c(*args, **kwargs):
            raise KeyboardInterrupt
        monkeypatch.setattr(lib.config, 'load_config', ctrl_c)
    before = _digests(root)
    start = time.time()
    try:
        code, out, err = _run(row.entry, [fill(a) for a in row.argv], monkeypatch)
    finally:
        spent.append(time.time() - start)
        if holder:
            holder.kill()
            holder.wait()
    captured = capsys.readouterr()
    out = captured.out if out is None else out
    err = captured.err if err is None else err
    assert 'Traceback' not in err + out
    assert _digests(root) == before, 'an input file changed'
    for path in row.absent:
        assert not os.path.exists(fill(path)), 'left behind: %s' % fill(path)
    if row.kind in ('error', 'interrupt'):
        lines = [line for line in err.splitlines() if line.strip()]
        assert code not in (0, None) and len(lines) == 1, (code, err)
        assert fill(row.expected) in lines[0], lines[0]
        assert (code == 130) == (row.kind == 'interrupt'), code
    else:
        logged = '\n'.join(record.getMessage() for record in caplog.records)
        assert code in (0, None), err
        assert fill(row.expected) in out + err + logged
        assert row.check(paths)
