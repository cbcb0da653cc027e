"""Iterative pruning (lib.pruning.iterative, tools/prune_iteratively.py): the per-round kept counts worked out by
hand; a 2-round run on a tiny model ends at exactly the target counts with a slim checkpoint that freezes; a run
killed (SIGKILL, the trainer's fault hook) inside round 2's fine-tune and re-run ends with the values of an
uninterrupted run; a re-run with other settings is refused in one line."""
import os
import shutil

import numpy as np
import pytest

from conftest import tf
from lib import checkpoint
from lib.common.errors import UserError
from lib.common.io import read_json
from lib.config import dense_architecture, load_config
from lib.pruning.iterative import round_counts
from lib.pruning.macs import planned_kept
from lib.train.faults import FAULT_ENV, TRACE_ENV, round_environment
from tests.train_helpers import ROOT, tiny_overrides, write_config_file, write_tiny_dataset

from tools import prune_iteratively as tool


def test_round_counts_are_geometric_rounded_up_and_end_at_the_target():
    dense, final = {'a': 64, 'b': 48, 'c': 10}, {'a': 8, 'b': 8, 'c': 10}
    # a: 64 * (1/8) ** (r/3) = 32, 16, 8 exactly; b: 48 * (1/6) ** (r/3) = 26.42, 14.54 -> 27, 15; c stays dense
    assert round_counts(dense, final, 3) == [{'a': 32, 'b': 27, 'c': 10}, {'a': 16, 'b': 15, 'c': 10},
                                             {'a': 8, 'b': 8, 'c': 10}]
    # round_to 8: 27 -> 32, 15 -> 16; 10 stays 10 (never above C)
    assert round_counts(dense, final, 3, round_to=8) == [{'a': 32, 'b': 32, 'c': 10}, {'a': 16, 'b': 16, 'c': 10},
                                                         {'a': 8, 'b': 8, 'c': 10}]
    # K = 2: 64 / sqrt(8) = 22.6 -> 23 (24 with round_to 8); 48 / sqrt(6) = 19.6 -> 20 (24)
    assert round_counts(dense, final, 2) == [{'a': 23, 'b': 20, 'c': 10}, final]
    assert round_counts(dense, final, 2, round_to=8) == [{'a': 24, 'b': 24, 'c': 10}, final]
    assert round_counts(dense, final, 1) == [final]
    # 1000 * (1/1000) ** (1/3) is 100.00000000000001 in floating point: still 100, then 10, 1
    assert round_counts({'d': 1000}, {'d': 1}, 3) == [{'d': 100}, {'d': 10}, {'d': 1}]
    with pytest.raises(UserError, match='--rounds=0'):
        round_counts(dense, final, 0)


def test_round_counts_never_grow_and_never_pass_the_target():
    rng = np.random.RandomState(0)
    dense = dict(('g%d' % i, int(c)) for i, c in enumerate(rng.randint(1, 300, 40)))
    final = dict((g, int(rng.randint(1, c + 1))) for g, c in dense.items())
    for rounds in (2, 3, 5):
        for round_to in (1, 4, 16):
            schedule = round_counts(dense, final, rounds, round_to)
            assert schedule[-1] == final
            for before, after in zip([dense] + schedule[:-1], schedule):
                for group in dense:
                    assert final[group] <= after[group] <= before[group]
                    assert after[group] in (final[group], dense[group]) or after[group] % round_to == 0


def test_a_round_fault_reaches_only_its_round():
    environment = {FAULT_ENV: 'round:2:step:3', 'OTHER': 'x'}
    assert round_environment(environment, 1) == {'OTHER': 'x'}
    assert round_environment(environment, 2) == {FAULT_ENV: 'step:3', 'OTHER': 'x'}
    assert round_environment({FAULT_ENV: 'step:3'}, 1) == {FAULT_ENV: 'step:3'}


def _run(argv, fault=None, trace=None):
    """tools/prune_iteratively.py in this process (its fine-tunes are subprocesses, with the trainer's ``fault``
    and ``trace`` hooks); the exit status."""
    for name, value in ((FAULT_ENV, fault), (TRACE_ENV, trace)):
        if value:
            os.environ[name] = value
    try:
        tool.main(argv)
    except SystemExit as exit:
        return exit.code
    finally:
        os.environ.pop(FAULT_ENV, None)
        os.environ.pop(TRACE_ENV, None)
    return 0


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """A dense random checkpoint; a 2-round run killed (SIGKILL) at step 3 of round 2's fine-tune (2 epochs of 2
    steps: it resumes from epoch 1's checkpoint) and re-run; the reference: a copy taken at the kill whose round-2
    fine-tune folder is removed, re-run, so that fine-tune runs uninterrupted from the same slim checkpoint."""
    root = str(tmp_path_factory.mktemp('iterative'))
    write_tiny_dataset(root, 4, name='train')
    write_tiny_dataset(root, 2, seed=1, name='val')
    overrides = tiny_overrides(os.path.join(root, 'unused'), os.path.join(root, 'train.txt'),
                               os.path.join(root, 'val.txt'), MODEL__width_mult=0.0625, TRAIN__log_interval=100,
                               TRAIN__pruned_ratio='all:0.5', TRAIN__round_to=2)
    config_path = write_config_file(os.path.join(root, 'config.py'), overrides)
    config = load_config(config_path)
    arch = dense_architecture(config)
    dense = os.path.join(root, 'dense', 'model.ckpt')
    os.makedirs(os.path.dirname(dense))
    checkpoint.write_checkpoint(checkpoint.random_model_values(arch, seed=3), dense)
    argv = ['--config', config_path, '--pretrained_model', dense, '--rounds', '2', '--epochs_per_round', '2']
    killed, reference = os.path.join(root, 'killed'), os.path.join(root, 'reference')
    status = {'killed': _run(argv + ['--out', killed], fault='round:2:step:3')}
    state_after_kill = read_json(os.path.join(killed, 'state.json'))
    shutil.copytree(killed, reference)
    shutil.rmtree(os.path.join(reference, 'round_2', 'train'))
    status['resumed'] = _run(argv + ['--out', killed], trace=os.path.join(root, 'resumed.trace'))
    status['reference'] = _run(argv + ['--out', reference])
    return root, config, arch, argv, status, state_after_kill


def _values(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_two_rounds_end_at_the_target_counts_with_a_slim_checkpoint_that_freezes(runs):
    from lib.export.freeze import frozen_graph_def
    root, config, arch, _, status, _ = runs
    assert status['reference'] == 0
    state = read_json(os.path.join(root, 'reference', 'state.json'))
    target = dict((group, arch.channels[group]) for group in arch.groups)
    target.update(planned_kept(arch, dict.fromkeys(arch.groups, 0.5), 2))
    dense = dict((group, arch.channels[group]) for group in arch.groups)
    assert [state['rounds'][r]['kept'] for r in ('1', '2')] == round_counts(dense, target, 2, 2)
    final = os.path.join(root, 'reference', state['rounds']['2']['checkpoint'])
    assert final.startswith(os.path.join(root, 'reference', 'round_2', 'train', 'optimized') + os.sep)
    slim = checkpoint.load_arch(final, None)
    assert slim.channels == arch.with_channels(target).channels
    assert slim.channels != arch.channels
    shapes = dict((name, tuple(shape)) for name, shape in checkpoint.read_shapes(final).items())
    assert shapes['vgg_16/conv1/conv1_1/weights'] == (3, 3, 3, target['vgg_16/conv1/conv1_1'])
    graph_def = frozen_graph_def(final, config, None)
    constants = dict((node.name, tuple(d.size for d in node.attr['value'].tensor.tensor_shape.dim))
                     for node in graph_def.node if node.op == 'Const')
    assert constants['vgg_16/conv1/conv1_1/weights'] == shapes['vgg_16/conv1/conv1_1/weights']


def test_a_run_killed_in_round_2_resumes_and_equals_the_uninterrupted_run(runs):
    root, _, _, _, status, state_after_kill = runs
    assert status['killed'] != 0 and status['resumed'] == 0
    # the kill came inside round 2's fine-tune: round 1 done, round 2 sliced, not finished, epoch 1 saved
    assert 'checkpoint' in state_after_kill['rounds']['1']
    assert 'slim' in state_after_kill['rounds']['2'] and 'checkpoint' not in state_after_kill['rounds']['2']
    assert os.path.isfile(os.path.join(root, 'reference', 'round_1', 'train', 'epoch_2.ckpt.index'))
    # the re-run ran round 2's fine-tune only, from its epoch-1 checkpoint (step 2): steps 3 and 4
    with open(os.path.join(root, 'resumed.trace')) as f:
        lines = [line.split('\t') for line in f.read().splitlines()]
    assert [line[:2] for line in lines if line[0] == 'start'] == [['start', '2']]
    assert [line[0] for line in lines if line[0] != 'start'] == ['3', '4']
    reference = read_json(os.path.join(root, 'reference', 'state.json'))
    resumed = read_json(os.path.join(root, 'killed', 'state.json'))
    assert resumed['rounds'] == reference['rounds']
    expected = _values(os.path.join(root, 'reference', reference['rounds']['2']['checkpoint']))
    got = _values(os.path.join(root, 'killed', resumed['rounds']['2']['checkpoint']))
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-6, err_msg=name)
    assert not np.array_equal(expected['vgg_16/conv1/conv1_1/weights'],
                              _values(os.path.join(root, 'reference', 'round_2', 'slim.ckpt'))[
                                  'vgg_16/conv1/conv1_1/weights'])  # the fine-tune changed the weights


def test_a_finished_run_is_skipped_and_other_settings_are_refused(runs, capsys):
    root, _, _, argv, _, _ = runs
    out = os.path.join(root, 'reference')
    before = read_json(os.path.join(out, 'state.json'))
    assert _run(argv + ['--out', out]) == 0
    assert read_json(os.path.join(out, 'state.json')) == before
    assert _run(argv[:-1] + ['3', '--out', out]) != 0
    assert 'holds an iterative pruning with other epochs_per_round' in capsys.readouterr().err


def test_bad_flags_and_foreign_folders_are_one_line_errors(runs, capsys):
    root, _, _, argv, _, _ = runs
    foreign = os.path.join(root, 'foreign')
    os.makedirs(foreign)
    with open(os.path.join(foreign, 'notes.txt'), 'w') as f:
        f.write('mine\n')
    assert _run(argv + ['--out', foreign]) != 0
    assert 'did not make' in capsys.readouterr().err
    assert os.listdir(foreign) == ['notes.txt']
    assert _run(argv[:-3] + ['0', '--epochs_per_round', '1', '--out', foreign]) != 0
    assert '--rounds=0' in capsys.readouterr().err
    assert _run(argv + ['--out', os.path.join(root, 'dense')]) != 0
    assert 'overlaps the input' in capsys.readouterr().err
