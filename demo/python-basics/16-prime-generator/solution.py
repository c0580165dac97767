import itertools


def primes():
    """Yield the prime numbers 2, 3, 5, 7, ... in increasing order, forever."""
    found = []
    for candidate in itertools.count(2):
        is_prime = True
        for p in found:
            if p * p > candidate:
                break
            if candidate % p == 0:
                is_prime = False
                break
        if is_prime:
            found.append(candidate)
            yield candidate


def nth_prime(n):
    """Return the n-th prime (nth_prime(1) == 2); raise ValueError if n < 1."""
    if n < 1:
        raise ValueError(f"there is no prime number {n}; counting starts at 1")
    return next(itertools.islice(primes(), n - 1, None))
