"""The errors loom-post reports to a user, each with its exit status.

Every error that names a file carries that path in `path`, so reports never
have to cut it out of (or prepend it to) a message. `DecodeError` comes from the
format layer (wasm/) and is turned into an InputError where a file was read.
"""

from loom_post import exitcodes
from loom_post.wasm.errors import DecodeError, UnknownInstruction  # noqa: F401  (re-exported)


class LoomPostError(Exception):
    """Base of every error loom-post reports to a user (never a traceback)."""

    exit_code = exitcodes.USAGE

    def __init__(self, message, path=None):
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self):
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(LoomPostError):
    """Bad configuration or usage: exit status 2."""

    exit_code = exitcodes.USAGE


class InputError(LoomPostError):
    """An input module could not be read or trusted: exit status 3."""

    exit_code = exitcodes.BAD_INPUT


class OutputInvalid(InputError):
    """The optimizer produced a module that does not validate: keep the input."""


def print_error(error, stream=None, prog="loom-post"):
    """The one way loom-post reports an error: `loom-post: error: <what>`."""
    import sys
    print(f"{prog}: error: {error}", file=stream or sys.stderr)


def print_warning(message, stream=None, prog="loom-post"):
    """A mistake that does not stop the run (`--strict` turns it into an error)."""
    import sys
    print(f"{prog}: warning: {message}", file=stream or sys.stderr)
