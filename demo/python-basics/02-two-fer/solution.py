def two_fer(name="you"):
    """Return "One for <name>, one for me." (name defaults to "you")."""
    return f"One for {name}, one for me."
