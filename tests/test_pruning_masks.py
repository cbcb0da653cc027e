"""Mask files: round trip, and one clear error for unknown layers or malformed content."""
import json

import pytest

from lib.common.errors import UserError
from lib.model.arch import Architecture
from lib.checkpoint import mask_path
from lib.pruning.masks import check_kept, kept_counts, read_mask, write_mask
from pruning_helpers import small_config


def test_round_trip(tmp_path):
    path = mask_path(str(tmp_path / 'epoch_3.ckpt'))
    assert path.endswith('epoch_3.ckpt.mask.json')
    write_mask(path, {'fc7': [5, 1, 3], 'vgg_16/conv1/conv1_1': [0]}, 'weight', 1e-3, 'epoch_3.ckpt')
    assert read_mask(path) == {'fc7': [1, 3, 5], 'vgg_16/conv1/conv1_1': [0]}
    content = json.load(open(path))
    assert content['criterion'] == 'weight' and content['eps'] == 1e-3
    assert content['source_checkpoint'] == 'epoch_3.ckpt'
    assert kept_counts(read_mask(path)) == {'fc7': 3, 'vgg_16/conv1/conv1_1': 1}


def test_unknown_layer_is_named(tmp_path):
    path = str(tmp_path / 'm.mask.json')
    with open(path, 'w') as f:
        json.dump({'kept': {'fc7': [0], 'vgg_16/conv6/conv6_1': [1]}}, f)
    with pytest.raises(UserError, match='unknown layers vgg_16/conv6/conv6_1'):
        read_mask(path)


@pytest.mark.parametrize('text, message', [
    ('{not json', 'not valid JSON'),
    ('{"fc7": [1]}', '"kept"'),
    ('{"kept": {"fc7": []}}', 'kept.fc7'),
    ('{"kept": {"fc7": [1.5]}}', 'kept.fc7'),
])
def test_malformed_files(tmp_path, text, message):
    path = tmp_path / 'm.mask.json'
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_mask(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match='mask file not found'):
        read_mask(str(tmp_path / 'nope.mask.json'))


def test_indices_beyond_the_architecture():
    arch = Architecture.from_model_config(small_config(width_mult=0.25).MODEL)  # fc7: 256 channels
    check_kept({'fc7': [0, 255]}, arch, 'm.json')
    with pytest.raises(UserError, match='layer fc7 keeps channels 0..256'):
        check_kept({'fc7': [0, 256]}, arch, 'm.json')
