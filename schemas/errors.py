"""The errors dealx reports to a user, each with its documented exit code.

Exit codes: 0 all done; 1 some documents failed (or an eval gate failed); 2 usage, configuration
or input error; 3 the model endpoint rejected the credentials.

An article file that cannot be read (empty, binary, not UTF-8) is a failed document, so 1; a
path, document id or cache that cannot be used stops the command before any work, so 2.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3


class DealxError(Exception):
    """An error that ends the command with a one-line message and `exit_code`."""

    exit_code = EXIT_USAGE


class InputError(DealxError):
    """Bad input: a file that cannot be read as an article, gold file or run."""


class ConfigError(DealxError):
    """A setting that cannot work: unknown model, missing key, unknown prompt."""


class AuthError(DealxError):
    """The model endpoint rejected the credentials; retrying other documents cannot help."""

    exit_code = EXIT_AUTH
