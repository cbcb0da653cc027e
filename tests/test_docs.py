"""The manual stays honest: every relative link of README.md and docs/*.md resolves (file and heading anchor), and
every command line of this project's scripts in their code blocks names a script that exists and flags its --help
lists. Other programs' commands (make, pip, cd, tensorboard, the originals') are skipped: only ``python X.py``
lines whose X is a path in this repository are checked.

The --help text is produced in this process (runpy with ``sys.argv = [script, '--help']``, stdout captured), once
per script: TensorFlow is imported once for all scripts instead of once per subprocess."""
import contextlib
import glob
import io
import os
import re
import runpy
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, 'README.md')] + sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md')))
LINK = re.compile(r'!?\[[^\]\[]*\]\(([^)\s]+)\)')
COMMAND = re.compile(r'(?:^|\s)\S*python[\d.]*\s+((?:\./)?[\w./-]+\.py)\b(.*)')
FLAG = re.compile(r'(?<![\w-])(--?[A-Za-z][\w-]*)')


def fenced_blocks(text):
    """[(language, [lines])] of the ``` blocks of a markdown text."""
    blocks, current = [], None
    for line in text.split('\n'):
        if line.strip().startswith('```'):
            if current is None:
                current = (line.strip()[3:].strip(), [])
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current[1].append(line)
    return blocks


def slug(heading, seen):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    base = re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')
    count = seen.get(base, 0)
    seen[base] = count + 1
    return base if count == 0 else '%s-%d' % (base, count)


def anchors(path):
    """Anchors of the headings of a markdown file (headings inside code blocks are not headings)."""
    seen, found, in_code = {}, set(), False
    with io.open(path, encoding='utf-8') as f:
        for line in f:
            if line.strip().startswith('```'):
                in_code = not in_code
            elif not in_code and re.match(r'#{1,6} ', line):
                found.add(slug(line.lstrip('#'), seen))
    return found


def bad_links(page):
    """'page: link (why)' for each relative link of ``page`` that does not resolve."""
    with io.open(page, encoding='utf-8') as f:
        text = f.read()
    bad = []
    for target in LINK.findall(text):
        if re.match(r'[a-z]+:', target):
            continue  # http(s), mailto: not this test's business (no network)
        path, _, anchor = target.partition('#')
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        name = os.path.relpath(page, ROOT)
        if not os.path.exists(resolved):
            bad.append('%s: %s (no such file)' % (name, target))
        elif anchor and (not resolved.endswith('.md') or anchor not in anchors(resolved)):
            bad.append('%s: %s (no heading with that anchor)' % (name, target))
    return bad


def commands(page):
    """[(script, [flags])] of the ``python <script>.py ...`` lines in the code blocks of ``page`` (continuation
    lines joined, comments dropped)."""
    with io.open(page, encoding='utf-8') as f:
        blocks = fenced_blocks(f.read())
    found = []
    for language, lines in blocks:
        if language not in ('', 'sh', 'bash', 'shell'):
            continue
        for line in re.sub(r'\\\n\s*', ' ', '\n'.join(lines)).split('\n'):
            match = COMMAND.search(line.split(' #')[0].split('\t#')[0])
            if match:
                found.append((match.group(1), FLAG.findall(match.group(2))))
    return found


_HELP = {}


def help_text(script):
    """The --help output of one of this project's scripts (cached)."""
    if script not in _HELP:
        out, argv, path = io.StringIO(), sys.argv, list(sys.path)
        sys.argv = [script, '--help']
        sys.path.insert(0, os.path.dirname(os.path.join(ROOT, script)))  # as `python tools/x.py` does
        try:
            with contextlib.redirect_stdout(out):
                with pytest.raises(SystemExit):
                    runpy.run_path(os.path.join(ROOT, script), run_name='__main__')
        finally:
            sys.argv, sys.path[:] = argv, path
        _HELP[script] = out.getvalue()
    return _HELP[script]


def bad_commands(page):
    """'page: script --flag (why)' for each command line of ``page`` that names a missing script or flag."""
    bad = []
    name = os.path.relpath(page, ROOT)
    for script, flags in commands(page):
        if not os.path.isfile(os.path.join(ROOT, script)):
            bad.append('%s: python %s (no such script)' % (name, script))
            continue
        listed = set(FLAG.findall(help_text(script)))
        bad += ['%s: python %s %s (not in its --help)' % (name, script, flag) for flag in flags if flag not in listed]
    return bad


def test_every_relative_link_resolves():
    assert len(PAGES) > 5
    bad = [line for page in PAGES for line in bad_links(page)]
    assert not bad, '\n'.join(bad)


def test_every_project_command_names_a_script_and_flags_it_has():
    checked = [c for page in PAGES for c in commands(page)]
    assert len(checked) > 20  # the pages do hold commands: the test is not vacuous
    bad = [line for page in PAGES for line in bad_commands(page)]
    assert not bad, '\n'.join(bad)


def test_the_checks_catch_a_bad_link_a_missing_script_and_an_unknown_flag(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text(u'# Top\n\n[ok](#top) [gone](missing.md) [bad anchor](#nowhere) [web](https://example.com)\n\n'
                    u'```\n# comment --ignored\nmake demo --whatever\npython tools/vis.py --model=m.pb --images=x \\\n'
                    u'    --out=o --bogus_flag   # --also_ignored\npython tools/nothing.py --x\n```\n')
    assert bad_links(str(page)) == ['%s: missing.md (no such file)' % os.path.relpath(str(page), ROOT),
                                    '%s: #nowhere (no heading with that anchor)' % os.path.relpath(str(page), ROOT)]
    assert commands(str(page)) == [('tools/vis.py', ['--model', '--images', '--out', '--bogus_flag']),
                                   ('tools/nothing.py', ['--x'])]
    problems = bad_commands(str(page))
    assert [p.split(': ', 1)[1] for p in problems] == ['python tools/vis.py --bogus_flag (not in its --help)',
                                                       'python tools/nothing.py (no such script)']
