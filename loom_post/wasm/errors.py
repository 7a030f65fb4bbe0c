"""The format layer's one exception.

A `DecodeError` always carries the byte offset where reading went wrong, so a
caller can say `PATH: <what> at byte <offset>` without knowing how the reader
works. It derives from ValueError, not from anything above this package.
"""


class DecodeError(ValueError):
    """The bytes are not a well-formed core WebAssembly module."""

    def __init__(self, message, offset):
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __str__(self):
        return f"{self.message} at byte {self.offset}"


class UnknownInstruction(DecodeError):
    """An opcode outside the table: the function is kept byte for byte."""
