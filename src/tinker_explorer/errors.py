"""One exception type for mistakes a user can fix: the CLI prints its message, never a traceback."""


class UserError(Exception):
    """A problem with the user's input (file, flag, environment) described in one sentence."""
