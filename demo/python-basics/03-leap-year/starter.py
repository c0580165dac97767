def is_leap(year):
    """Return True if `year` is a leap year in the Gregorian calendar."""
    pass
