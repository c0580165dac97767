def greet(name):
    """Return a greeting such as "Hello, Ada!" for the given name.

    Surrounding spaces are removed; an empty name greets the world.
    """
    pass
