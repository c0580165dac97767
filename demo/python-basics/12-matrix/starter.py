def transpose(matrix):
    """Return a new matrix whose rows are the columns of `matrix`."""
    return []


def multiply(a, b):
    """Return the matrix product of `a` and `b` as a new list of lists.

    Raise ValueError if the number of columns of `a` differs from the
    number of rows of `b`.
    """
    return []
