"""`make test` (dry run): both environments are built before either test pass, so the cross-TF frozen-graph test
runs in CI; without Python 3.7 it tests the modern environment only, and REQUIRE_TF1=1 makes that an error."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = {env: 'cd tools/ap_eval && ../../%s/bin/python setup.py -q build_ext --inplace' % env
         for env in ('.venv37', '.venv311')}
PASS = {env: '%s/bin/python -m pytest tests -q --durations=15' % env for env in ('.venv37', '.venv311')}

pytestmark = pytest.mark.skipif(shutil.which('make') is None, reason='make is not installed')


def dry_run(*variables):
    """`make -n test` with ``variables``, in an environment without the make that may be running this test (CI's
    `REQUIRE_TF1=1 make test` passes its variables down through MAKEFLAGS and the environment)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES', 'REQUIRE_TF1')}
    result = subprocess.run(['make', '-n', 'test'] + list(variables), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, timeout=60, env=env)
    return result.returncode, [line.strip() for line in result.stdout.splitlines()]


def test_both_environments_are_built_before_either_pass():
    code, lines = dry_run('PYTHON37=python3.7')
    assert code == 0, lines
    first_pass = min(lines.index(PASS[env]) for env in PASS)
    assert max(lines.index(BUILD[env]) for env in BUILD) < first_pass
    assert lines.index(PASS['.venv37']) < lines.index(PASS['.venv311'])


def test_without_python37_only_the_modern_pass_runs():
    code, lines = dry_run('PYTHON37=')
    assert code == 0, lines
    assert 'python3.7 not found: testing the modern environment only (TF 1.15 needs Python 3.7)' in lines
    assert PASS['.venv311'] in lines and PASS['.venv37'] not in lines and BUILD['.venv37'] not in lines


def test_require_tf1_without_python37_fails():
    code, lines = dry_run('PYTHON37=', 'REQUIRE_TF1=1')
    assert code != 0 and 'REQUIRE_TF1=1 but python3.7 was not found' in lines
    assert PASS['.venv311'] not in lines
