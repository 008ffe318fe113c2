"""The one exception users catch."""


class TransitionError(Exception):
    """A transition was used in a way that cannot give correct rows.

    The message names the transition (its label) and says what to change.
    """
