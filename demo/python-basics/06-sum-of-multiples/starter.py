def sum_of_multiples(limit, factors):
    """Return the sum of the distinct numbers below `limit` that are
    multiples of at least one of `factors` (a factor of 0 is ignored).
    """
    pass
