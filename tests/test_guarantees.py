"""The README's guarantees: no tool deletes or overwrites what it did not create, no input is an output, files keep
the umask's mode, output folders are checked writable at start, unusable lists stop training before it starts."""
import importlib.util
import os
import stat
import subprocess
import sys

import cv2
import numpy as np
import pytest

from export_graphs import ROOT, fake_detector_pb, random_checkpoint, tiny_config
from lib.checkpoint import read_checkpoint
from lib.common import outputs
from lib.common.errors import UserError
from lib.common.io import write_text
from lib.train.trainer import train
from tests.train_helpers import make_config, tiny_overrides, write_config_file, write_tiny_dataset


def tool(name):
    """The module tools/<name>.py (its main(argv) runs in this process; a UserError exits with status 2)."""
    spec = importlib.util.spec_from_file_location('_tool_' + name, os.path.join(ROOT, 'tools', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fails(capsys, main, *argv):
    """Run a tool's main expecting exit status 2; return its one-line message."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), lines
    return lines[0]


def snapshot(folder):
    """{relative path: bytes} of every file under ``folder``."""
    found = {}
    for path, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(path, name), 'rb') as f:
                found[os.path.relpath(os.path.join(path, name), folder)] = f.read()
    return found


def test_written_files_keep_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(str(tmp_path / 'a.txt'), 'x')
        os.umask(0o027)
        write_text(str(tmp_path / 'b.txt'), 'x')
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(str(tmp_path / 'a.txt')).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(str(tmp_path / 'b.txt')).st_mode) == 0o640


def test_output_folder_rules(tmp_path):
    mine = str(tmp_path / 'new')
    outputs.claim_output_dir(mine, 'vis')
    (tmp_path / 'new' / 'a.jpg').write_bytes(b'1')
    outputs.claim_output_dir(mine, 'vis')  # its own folder: may keep filling it
    with pytest.raises(UserError, match='did not make'):
        outputs.claim_output_dir(mine, 'wider')
    with pytest.raises(UserError, match='is a file'):
        outputs.claim_output_dir(str(tmp_path / 'new' / 'a.jpg'), 'vis')
    with pytest.raises(UserError, match='not writable'):
        outputs.claim_output_dir(str(tmp_path / 'new' / 'a.jpg' / 'sub'), 'vis')
    os.symlink(mine, str(tmp_path / 'link'))
    with pytest.raises(UserError, match='overlaps the input'):
        outputs.check_disjoint({'--images': mine}, {'--out': str(tmp_path / 'link')})
    with pytest.raises(UserError, match='overlaps the input'):
        outputs.check_disjoint({'--images': mine}, {'--out': str(tmp_path)})
    outputs.check_disjoint({'--images': mine}, {'--out': str(tmp_path / 'new2')})


def test_make_synthetic_wider_never_overwrites_a_root_it_did_not_make(tmp_path, capsys):
    make = tool('make_synthetic_wider').main
    root = tmp_path / 'WIDER'
    (root / 'wider_face_split').mkdir(parents=True)
    (root / 'wider_face_split' / 'wider_face_train_bbx_gt.txt').write_text('the real annotations\n')
    before = snapshot(str(root))
    assert 'did not make' in fails(capsys, make, '--out=%s' % root, '--train=2', '--val=1', '--min_side=64',
                                   '--max_side=96', '--min_face=8', '--max_face=30')
    assert snapshot(str(root)) == before
    assert 'writes nothing' in fails(capsys, make, '--out=%s' % (tmp_path / 'x'), '--train=0', '--val=0')
    assert not os.path.exists(str(tmp_path / 'x'))
    fresh = ['--out=%s' % (tmp_path / 'synthetic'), '--train=2', '--val=0', '--min_side=64', '--max_side=96',
             '--min_face=8', '--max_face=30']
    make(fresh)
    make(fresh)  # its own root: may be rewritten
    assert len(os.listdir(str(tmp_path / 'synthetic' / 'WIDER_train' / 'images'))) >= 1


@pytest.fixture(scope='module')
def frozen(tmp_path_factory):
    """A random tiny checkpoint and a detector.pb frozen from it into a folder auto_freeze made."""
    folder = tmp_path_factory.mktemp('guarantees')
    ckpt = random_checkpoint(tiny_config(), str(folder / 'model' / 'epoch_1.ckpt'))
    config = write_config_file(str(folder / 'config.py'), {('MODEL', 'width_mult'): 0.125})
    tool('auto_freeze').main(['--ckpt_path=%s' % ckpt, '--output_path=%s' % (folder / 'export'),
                              '--config=%s' % config])
    return folder, ckpt, '--config=%s' % config


def test_auto_freeze_saved_model_never_deletes_what_it_did_not_write(frozen, capsys, monkeypatch):
    folder, ckpt, config = frozen
    freeze = tool('auto_freeze').main
    export = folder / 'export'
    (export / 'notes.txt').write_text('my notes')
    before = snapshot(str(export))
    base = ['--ckpt_path=%s' % ckpt, '--output_path=%s' % export, config]
    assert 'overlaps' in fails(capsys, freeze, *base + ['--saved_model=%s' % export])
    monkeypatch.chdir(str(folder))
    assert 'overlaps' in fails(capsys, freeze, *base + ['--saved_model=.'])
    user = folder / 'user'
    user.mkdir()
    (user / 'keep.txt').write_text('keep')
    assert 'not an earlier export' in fails(capsys, freeze, *base + ['--saved_model=%s' % user])
    assert (user / 'keep.txt').read_text() == 'keep' and snapshot(str(export)) == before
    freeze(base + ['--saved_model=%s' % (folder / 'saved')])
    freeze(base + ['--saved_model=%s' % (folder / 'saved')])  # replaces its own earlier export
    assert os.path.isfile(str(folder / 'saved' / 'saved_model.pb'))
    assert (export / 'notes.txt').read_text() == 'my notes'
    assert not [name for name in os.listdir(str(folder)) if name.startswith('.saved_model')]
    fresh = folder / 'other'
    fresh.mkdir()
    (fresh / 'mine.txt').write_text('x')
    assert 'did not make' in fails(capsys, freeze, '--ckpt_path=%s' % ckpt, '--output_path=%s' % fresh, config)


def test_vis_refuses_to_write_over_its_input_images(frozen, capsys):
    folder = frozen[0]
    images = folder / 'images'
    images.mkdir()
    cv2.imwrite(str(images / 'a.jpg'), np.full((64, 64, 3), 90, np.uint8))
    before = snapshot(str(images))
    vis = tool('vis').main
    pb = str(folder / 'export' / 'detector.pb')
    assert 'overlaps the input --images' in fails(capsys, vis, '--model=%s' % pb, '--images=%s' % images,
                                                  '--out=%s' % images)
    assert 'overlaps the input --images' in fails(capsys, vis, '--model=%s' % pb, '--images=%s' % images,
                                                  '--out=%s' % (images / 'vis'))
    assert snapshot(str(images)) == before
    vis(['--model=%s' % pb, '--images=%s' % images, '--out=%s' % (folder / 'vis'), '--threads=1'])
    assert os.path.isfile(str(folder / 'vis' / 'a.jpg'))


@pytest.fixture
def lists(tmp_path):
    root = str(tmp_path)
    return root, write_tiny_dataset(root, 3, name='train'), write_tiny_dataset(root, 2, seed=1, name='val')


def test_training_stops_before_it_starts_on_unusable_lists_or_model_path(lists):
    root, train_txt, val_txt = lists
    small = make_config(tiny_overrides(root, train_txt, val_txt, TRAIN__batch_size=4))
    with pytest.raises(UserError, match=r'lists 3 images, fewer than one batch'):
        train(small)
    for path in sorted(os.listdir(os.path.join(root, 'val'))):
        with open(os.path.join(root, 'val', path), 'wb') as f:
            f.write(b'not an image')
    broken_val = make_config(tiny_overrides(root, train_txt, val_txt))
    with pytest.raises(UserError, match=r'val_txt_path = .*none of its 2 images'):
        train(broken_val)
    model_path = os.path.join(root, 'model')
    assert not os.path.exists(model_path)  # what the failed starts created (folder, marker, lock) is removed
    os.makedirs(os.path.join(model_path, 'keep'))  # a folder of the user's own: a failed start leaves it as it was
    os.rmdir(os.path.join(model_path, 'keep'))
    with pytest.raises(UserError, match=r'val_txt_path = .*none of its 2 images'):
        train(broken_val)
    assert os.listdir(model_path) == []
    unwritable = make_config(tiny_overrides(root, train_txt, val_txt,
                                            MODEL__model_path=os.path.join(train_txt, 'model')))
    with pytest.raises(UserError, match=r'config.MODEL.model_path .* is not writable'):
        train(unwritable)
    foreign = make_config(tiny_overrides(root, train_txt, val_txt, MODEL__model_path=os.path.join(root, 'train')))
    with pytest.raises(UserError, match=r'non-empty folder that holds no training checkpoints'):
        train(foreign)


def test_all_training_images_unreadable_is_one_line(lists):
    root, train_txt, val_txt = lists
    for name in os.listdir(os.path.join(root, 'train')):
        with open(os.path.join(root, 'train', name), 'wb') as f:
            f.write(b'not an image')
    with pytest.raises(UserError, match=r'no readable image in config.DATA.train_txt_path = .*train.txt'):
        train(make_config(tiny_overrides(root, train_txt, val_txt, MODEL__width_mult=0.0625)))


def test_a_corrupt_checkpoint_is_one_line(frozen, tmp_path, capsys):
    _, ckpt, config = frozen
    broken = str(tmp_path / 'epoch_1.ckpt')
    for suffix in ('.index', '.data-00000-of-00001'):
        with open(ckpt + suffix, 'rb') as src, open(broken + suffix, 'wb') as dst:
            data = src.read()
            dst.write(data[:len(data) // 2] if suffix.startswith('.data') else data)
    with pytest.raises(UserError, match='truncated or corrupt'):
        read_checkpoint(broken)
    message = fails(capsys, tool('auto_freeze').main, '--ckpt_path=%s' % broken,
                    '--output_path=%s' % (tmp_path / 'export'), config)
    assert broken in message and 'truncated or corrupt' in message
    import mac
    with pytest.raises(UserError, match='truncated or corrupt'):
        mac.run(['--train_config', config.split('=', 1)[1], '--ckpt_path', broken, '--input_size', '64,64'])


def test_an_export_removes_the_temp_folders_of_killed_exports_of_its_kind(tmp_path):
    from lib.checkpoint import write_checkpoint
    from lib.export.freeze import write_saved_model
    from lib.inference.runtimes import load_graph_def
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    orphans = {kind: tmp_path / ('.%s.%d.x1.tmp' % (kind, dead.pid)) for kind in ('saved_model', 'ckpt')}
    for folder in orphans.values():
        (folder / 'export').mkdir(parents=True)  # what a kill -9 in the middle leaves
    write_checkpoint({'a': np.zeros(2, np.float32)}, str(tmp_path / 'c.ckpt'))
    assert not orphans['ckpt'].exists() and orphans['saved_model'].exists()
    graph_def = load_graph_def(fake_detector_pb(str(tmp_path / 'd.pb')))
    write_saved_model(graph_def, str(tmp_path / 'sm'))
    assert sorted(os.listdir(str(tmp_path))) == sorted(['c.ckpt.index', 'c.ckpt.data-00000-of-00001', 'd.pb', 'sm'])
