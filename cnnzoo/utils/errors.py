"""User-facing errors: each carries one clear message and the process exit code."""


class CnnzooError(Exception):
    """A failure the user can fix; printed as one line, exit code 1."""

    exit_code = 1


class ConfigError(CnnzooError):
    """A bad config file, key, value or command-line usage; exit code 2."""

    exit_code = 2
