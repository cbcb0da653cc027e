"""train.txt / val.txt writing and strict reading."""
import numpy as np
import pytest

from conftest import zip_same
from lib.data.sample_list import format_sample, read_sample_list, write_sample_list
from lib.common.errors import UserError


def test_round_trip_with_empty_and_fractional_boxes(tmp_path):
    samples = [('data/a b.jpg', np.array([[1, 2, 30, 40], [5, 6, 7.5, 8.25]], np.float32)),
               ('data/empty.jpg', np.zeros((0, 4), np.float32))]
    path = str(tmp_path / 'train.txt')
    write_sample_list(path, samples)
    text = open(path).read()
    assert text.splitlines() == ['data/a b.jpg| 1,2,30,40,1 5,6,7.5,8.25,1', 'data/empty.jpg|']
    back = read_sample_list(path)
    assert [p for p, _ in back] == ['data/a b.jpg', 'data/empty.jpg']
    for (_, a), (_, b) in zip_same(samples, back):
        assert b.dtype == np.float32 and b.shape == a.shape
        np.testing.assert_array_equal(a, b)


def test_reference_format_line():
    assert format_sample('x.jpg', [[1, 2, 3, 4]]) == 'x.jpg| 1,2,3,4,1'


@pytest.mark.parametrize('line, words', [
    ('img.jpg 1,2,3,4,1', ["expected 'path| x1,y1,x2,y2,1"]),
    ('| 1,2,3,4,1', ["expected 'path|"]),
    ('img.jpg| 1,2,3', ["(field 'box 1')", 'x1,y1,x2,y2,1']),
    ('img.jpg| 1,2,3,4,1 1,a,3,4,1', ["(field 'box 2')", 'numbers']),
    ('img.jpg| 5,2,3,4,1', ["(field 'box 1')", 'x1 < x2']),
])
def test_errors_name_file_line_and_expectation(tmp_path, line, words):
    path = tmp_path / 'train.txt'
    path.write_text('ok.jpg| 1,2,3,4,1\n\n' + line + '\n')
    with pytest.raises(UserError) as err:
        read_sample_list(str(path))
    assert 'train.txt:3' in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_missing_and_empty_lists(tmp_path):
    with pytest.raises(UserError, match='prepare_wider_data'):
        read_sample_list(str(tmp_path / 'none.txt'))
    (tmp_path / 'empty.txt').write_text('\n')
    with pytest.raises(UserError, match='no samples'):
        read_sample_list(str(tmp_path / 'empty.txt'))
