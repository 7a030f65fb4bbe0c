"""Exceptions shared by every layer.

A `DecodeError` always carries the byte offset where reading went wrong, so the
CLI can print `PATH: <what> at byte <offset>` without knowing how the reader works.
"""


class LoomPostError(Exception):
    """Base of every error loom-post reports to a user (never a traceback)."""


class DecodeError(LoomPostError):
    """The bytes are not a well-formed core WebAssembly module."""

    def __init__(self, message, offset):
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __str__(self):
        return f"{self.message} at byte {self.offset}"


class UnknownInstruction(DecodeError):
    """An opcode outside the table: the function is kept byte for byte."""


class ConfigError(LoomPostError):
    """Bad configuration or usage: exit status 2."""


class InputError(LoomPostError):
    """An input file could not be read: exit status 3."""
