"""Reading what an entry point printed: its own stderr lines without TensorFlow's C++ start-up log (absl lines
such as ``I0000 00:00:17.5 123 port.cc:153] oneDNN custom operations are on``, written before Python runs)."""
import re

_TF_NATIVE_LOG = re.compile(r'^(WARNING: All log messages before absl::InitializeLog\(\) is called|'
                            r'[IWEF]\d{4} [\d:.]+ +\d+ [^ ]+:\d+\] )')


def own_lines(stderr):
    """The lines of ``stderr`` that the project wrote (TF's native start-up log dropped)."""
    return [line for line in stderr.splitlines() if line.strip() and not _TF_NATIVE_LOG.match(line)]
