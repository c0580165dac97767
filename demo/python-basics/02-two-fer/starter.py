def two_fer(name):
    """Return "One for <name>, one for me."

    Make `name` optional: without an argument, use "you".
    """
    pass
