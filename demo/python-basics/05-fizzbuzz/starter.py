def fizzbuzz(n):
    """Return the FizzBuzz words for the numbers 1..n as a list of strings."""
    result = []
    return result
