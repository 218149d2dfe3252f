"""Errors that reach the operator as one line, not a traceback."""


class UserError(Exception):
    """Bad input or an impossible request; the message says what to do. The command ends with
    exit status 2, which a service manager does not retry (``RestartPreventExitStatus=2``)."""

    status = 2


class NotNow(UserError):
    """A request that something outside Koprik stands in the way of now and may not later: a
    port another process holds (one stopping, one started by mistake). Exit status 1, so that a
    service manager starts the command again."""

    status = 1
