def to_roman(number):
    """Return the Roman numeral for `number` (1..3999); raise ValueError otherwise."""
    return ""


def from_roman(numeral):
    """Return the integer value of a valid Roman numeral such as "MCMXCIV"."""
    return 0
