def greet(name):
    """Return a greeting such as "Hello, Ada!" for the given name."""
    name = name.strip()
    if not name:
        name = "world"
    return f"Hello, {name}!"
