"""The one exception type for problems in what the user gave us (config, data, run folders, checkpoints).

The CLI catches it once, prints its message on one line and exits with code 2; library callers can catch it
too. Messages name the problem *and* the fix. Bugs in advnets itself are not UserErrors and keep their traceback.
"""


class UserError(Exception):
    """Bad input from the user: the message says what is wrong and how to fix it."""
