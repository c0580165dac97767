def transpose(matrix):
    """Return a new matrix whose rows are the columns of `matrix`."""
    return [list(column) for column in zip(*matrix)]


def multiply(a, b):
    """Return the matrix product of `a` and `b` as a new list of lists.

    Raise ValueError if the number of columns of `a` differs from the
    number of rows of `b`.
    """
    if len(a[0]) != len(b):
        raise ValueError(
            f"cannot multiply a {len(a)}x{len(a[0])} matrix by a {len(b)}x{len(b[0])} matrix"
        )
    columns = transpose(b)
    return [[sum(x * y for x, y in zip(row, column)) for column in columns] for row in a]
