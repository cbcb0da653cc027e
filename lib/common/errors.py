"""User-facing errors: one line that says what is wrong, where, and how to fix it."""


class UserError(Exception):
    """A mistake in the user's input (config, flags, files); entry points print it without a traceback."""


def where(path, line=None, field=None):
    """Format a location like ``train.txt:12 (field 'x')`` for error messages."""
    text = str(path)
    if line is not None:
        text += ':%d' % line
    if field is not None:
        text += " (field '%s')" % field
    return text
