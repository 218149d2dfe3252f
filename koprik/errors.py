"""Errors that reach the operator as one line, not a traceback."""

CONTROLS_AND_UNDECODED = {
    **{code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]},  # C0 control characters, DEL
    **{0xDC00 + byte: f"\\x{byte:02x}" for byte in range(0x80, 0x100)},  # bytes not UTF-8
}
"""A ``str.translate`` table writing each C0 control character, DEL and byte that is not
UTF-8 (kept by Python as a surrogate) as ``\\xNN``: the base of every escaping of names."""
_UNPRINTABLE = {**CONTROLS_AND_UNDECODED, **{code: f"\\x{code:02x}" for code in range(0x80, 0xA0)}}


def one_line(text: str) -> str:
    """``text`` as one line safe to print on a terminal: each control character (a newline,
    ESC, C1) and each byte that is not UTF-8 (kept by Python as a surrogate) written ``\\xNN``.
    A file name holding a newline or an escape sequence broke the line said about it, or
    drove the operator's terminal."""
    return text.translate(_UNPRINTABLE)


class UserError(Exception):
    """Bad input or an impossible request; the message says what to do. The command ends with
    exit status 2, which a service manager does not retry (``RestartPreventExitStatus=2``).

    ``of_settings_file``: the line names a key of the settings file, refused when the command
    came to use it rather than as the file was read (a host that does not resolve, a port in
    use, a log file that cannot be opened). :func:`koprik.cli.failure` puts the file's name in
    front, as the loader puts it before each of its own ("koprik.toml: server.host ..."); none
    when no file was read (the defaults). A key given by an option (``--host``) is not one."""

    status = 2

    def __init__(self, line: str, *, of_settings_file: bool = False) -> None:
        super().__init__(line)
        self.of_settings_file = of_settings_file


class NotNow(UserError):
    """A request that something outside Koprik stands in the way of now and may not later: a
    port another process holds (one stopping, one started by mistake). Exit status 1, so that a
    service manager starts the command again."""

    status = 1
