def primes():
    """Yield the prime numbers 2, 3, 5, 7, ... in increasing order, forever."""
    pass


def nth_prime(n):
    """Return the n-th prime (nth_prime(1) == 2); raise ValueError if n < 1."""
    pass
