"""Output folders: a tool writes only into a folder it made (or an empty one), never into its inputs.

A tool claims its output folder with ``claim_output_dir``: a missing or empty folder gets a marker naming the
tool; a folder holding that tool's marker may be written into again (e.g. several ``--shard`` runs filling one
results folder); any other non-empty folder is refused unless the user passes ``--overwrite``. The marker is a file
inside the folder, or, for a folder other programs read entry by entry (WIDER results: the evaluators take every
entry for an event), a record beside it (``<folder>.pruned_dsfd.json``), so the folder holds only its format. A tool that writes
named files into a shared folder (train.txt and val.txt into data/) checks each file instead
(``check_replaceable``): a new file, or one it wrote itself (recorded with its content hash by ``record_written``),
may be replaced. Inputs and outputs are compared by real path (symlinks and ``..`` resolved). Writability of
output folders and files (``check_writable_file``) is checked when the tool starts, not at its first write.
"""
import contextlib
import fcntl
import hashlib
import os
import tempfile

from lib.common.errors import UserError
from lib.common.io import read_json, write_json

MARKER = '.pruned_dsfd_output.json'
RECORD_SUFFIX = '.pruned_dsfd.json'  # the record beside a folder that must hold nothing but its format
FILE_RECORD = '.pruned_dsfd_files.json'  # {file name: {'tool', 'sha256'}} of files tools wrote into a folder


def record_path(folder):
    """Where the record beside ``folder`` lives: ``<folder>.pruned_dsfd.json`` in its parent."""
    return os.path.abspath(folder).rstrip(os.sep) + RECORD_SUFFIX


def read_record(folder):
    """The record beside ``folder`` as a dict ({} when there is none or it is unreadable)."""
    try:
        record = read_json(record_path(folder))
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def _marker_tool(path):
    try:
        return read_json(os.path.join(path, MARKER)).get('tool')
    except (OSError, ValueError, AttributeError):
        return None


def made_by(path, tool):
    """Whether the folder ``path`` carries ``tool``'s marker, inside it or beside it."""
    return _marker_tool(path) == tool or read_record(path).get('tool') == tool


def _write_record(folder, record):
    try:
        write_json(record_path(folder), record)
    except OSError as err:
        raise UserError('cannot write %s beside the output folder (%s); the folder\'s parent must be writable'
                        % (record_path(folder), err.strerror or err))


@contextlib.contextmanager
def updating_record(folder):
    """Yield the record beside ``folder`` (a dict) to change; it is written back atomically when the block ends.
    Processes filling one folder (shards) take turns: an flock on the folder's own descriptor serialises the
    read-modify-write without putting a file inside it."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        record = read_record(folder)
        yield record
        _write_record(folder, record)
    finally:
        os.close(fd)


def _probe(folder):
    """Write and remove a temp file in ``folder``: an OSError if it cannot be written (permissions, a read-only
    file system; os.access would not see the latter, nor ACLs)."""
    fd, probe = tempfile.mkstemp(prefix='.write_test.', dir=folder)
    os.close(fd)
    os.remove(probe)


def check_writable_dir(path, what='output folder'):
    """Create ``path`` if needed and prove a file can be written there; else one line saying so."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError('%s %s is a file, not a folder; choose a folder' % (what, path))
    try:
        os.makedirs(path, exist_ok=True)
        _probe(path)
    except OSError as err:
        raise UserError('%s %s is not writable (%s); choose another folder or fix its permissions'
                        % (what, path, err.strerror or err))


def check_writable_file(path, flag, inputs=None, allow_inside=False):
    """The output file ``path`` (given by ``flag``) can be written when the work is done: not a folder, its
    folder (or, if missing, the nearest existing one, where it will be made) writable now, and not overlapping
    ``inputs`` ({flag: path}; see check_disjoint). Called when the tool starts, so a mistake costs no work."""
    if os.path.isdir(path):
        raise UserError('%s=%s is a folder; expected a file name' % (flag, path))
    check_parent_writable(path, flag)
    check_disjoint(inputs or {}, {flag: path}, allow_inside)


def check_parent_writable(path, flag):
    """What will be created at ``path`` (a file, or a folder renamed into place) can be: the folder that holds it
    (or, if missing, the nearest existing one, where the rest will be made) is writable now."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise UserError('%s=%s cannot be written: %s is a file, not a folder; choose another place'
                        % (flag, path, folder))
    try:
        _probe(folder)
    except OSError as err:
        raise UserError('%s=%s cannot be written: folder %s is not writable (%s); choose another place or fix its '
                        'permissions' % (flag, path, folder, err.strerror or err))


def claim_output_dir(path, tool, overwrite=False, flag='--out', beside=False):
    """Make ``path`` ``tool``'s output folder (see the module docstring); returns its absolute path. ``beside``
    keeps the marker in the record beside the folder; a marker an earlier version left inside is moved there."""
    path = os.path.abspath(path)
    if os.path.isdir(path) and os.listdir(path) and not made_by(path, tool) and not overwrite:
        raise UserError('%s=%s is a non-empty folder that %s did not make; choose a new or empty folder, or pass '
                        '--overwrite to write into it anyway (files of the same name are replaced)'
                        % (flag, path, tool))
    check_writable_dir(path, flag)
    if not beside:
        if _marker_tool(path) != tool:
            write_json(os.path.join(path, MARKER), {'tool': tool})
        return path
    if read_record(path).get('tool') != tool:
        with updating_record(path) as record:
            record['tool'] = tool
    if _marker_tool(path) == tool:
        os.remove(os.path.join(path, MARKER))
    return path


def _inside(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_disjoint(inputs, outputs, allow_inside=False):
    """``inputs`` and ``outputs`` are {flag: path}; no output may be or contain an input, nor lie inside one
    (unless ``allow_inside``: a new subfolder of an input folder, say an export folder in the training folder)."""
    for out_flag, out_path in outputs.items():
        real_out = os.path.realpath(out_path)
        for in_flag, in_path in inputs.items():
            real_in = os.path.realpath(in_path)
            nested = _inside(real_out, real_in) and (real_out == real_in or not allow_inside)
            if nested or _inside(real_in, real_out):
                raise UserError('%s=%s overlaps the input %s=%s (real paths %s, %s): outputs would overwrite or '
                                'mix with inputs; choose an output folder outside the input'
                                % (out_flag, out_path, in_flag, in_path, real_out, real_in))


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _file_record(folder):
    try:
        record = read_json(os.path.join(folder, FILE_RECORD))
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def check_replaceable(paths, tool, overwrite=False, flag='--overwrite'):
    """Each of ``paths`` is new, or unchanged since ``tool`` wrote it; else one line (unless ``overwrite``)."""
    for path in paths:
        if overwrite or not os.path.exists(path):
            continue
        entry = _file_record(os.path.dirname(os.path.abspath(path))).get(os.path.basename(path), {})
        if entry.get('tool') != tool or entry.get('sha256') != _sha256(path):
            raise UserError('%s exists and was not written by %s (or was edited since); move it away, choose '
                            'another output folder, or pass %s to replace it' % (path, tool, flag))


def record_written(paths, tool):
    """Note ``paths`` (just written by ``tool``) with their content hashes, so a later run may replace them."""
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        record = _file_record(folder)
        record[os.path.basename(path)] = {'tool': tool, 'sha256': _sha256(path)}
        write_json(os.path.join(folder, FILE_RECORD), record)
