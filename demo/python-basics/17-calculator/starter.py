def tokenize(expression):
    """Split `expression` into numbers (int/float) and the strings + - * / ( ).

    Whitespace is skipped; any other character raises ValueError.
    """
    pass


def evaluate(expression):
    """Return the value of the arithmetic `expression`.

    Raise ValueError if it is malformed and ZeroDivisionError on division by zero.
    """
    pass
