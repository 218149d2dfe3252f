"""Errors that reach the operator as one line, not a traceback."""


class UserError(Exception):
    """Bad input or an impossible request; the message says what to do."""
