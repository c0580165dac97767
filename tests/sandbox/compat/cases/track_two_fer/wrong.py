# Forgets the name.
def two_fer(name="you"):
    return "One for you, one for me."
