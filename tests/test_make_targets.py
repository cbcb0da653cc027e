"""`make test` (dry run): both environments are built before either test pass, so the cross-TF frozen-graph test
runs in CI; without Python 3.7 it tests the modern environment only, and REQUIRE_TF1=1 makes that an error."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = {env: 'cd tools/ap_eval && ../../%s/bin/python setup.py -q build_ext --inplace' % env
         for env in ('.venv37', '.venv311')}
TAG = {'.venv37': 'tf1', '.venv311': 'tf2'}
PASS = {env: "set -o pipefail; %s/bin/python -u -m pytest tests -q --durations=15  2>&1 | sed -u 's/^/[%s] /'"
        % (env, tag) for env, tag in TAG.items()}

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
    assert 'make --no-print-directory -j2 pass-tf1 pass-modern; \\' in lines  # side by side, building nothing


def test_a_failing_pass_fails_make_and_its_lines_are_tagged(tmp_path):
    """The tag filter must not hide the pass's exit status (pipefail)."""
    fake = tmp_path / 'venv' / 'bin'
    fake.mkdir(parents=True)
    (fake / 'python').write_text('#!/bin/sh\necho "1 failed"\nexit 3\n')
    (fake / 'python').chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')}
    result = subprocess.run(['make', '--no-print-directory', 'pass-tf1', 'VENV_TF1=' + str(tmp_path / 'venv')],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                            timeout=60, env=env)
    assert result.returncode != 0 and '[tf1] 1 failed' in result.stdout.splitlines(), result.stdout


def test_without_python37_only_the_modern_pass_runs():
    code, lines = dry_run('PYTHON37=')
    assert code == 0, lines
    assert 'python3.7 not found: testing the modern environment only (TF 1.15 needs Python 3.7)' in lines
    assert PASS['.venv311'] in lines and PASS['.venv37'] not in lines and BUILD['.venv37'] not in lines


def test_require_tf1_without_python37_fails():
    code, lines = dry_run('PYTHON37=', 'REQUIRE_TF1=1')
    assert code != 0 and 'REQUIRE_TF1=1 but python3.7 was not found' in lines
    assert PASS['.venv311'] not in lines
