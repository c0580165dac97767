import math


class Rational:
    def __init__(self, numer, denom):
        if denom < 0:
            numer, denom = -numer, -denom
        divisor = math.gcd(numer, denom) or 1
        self.numer = numer // divisor
        self.denom = denom // divisor

    def __eq__(self, other):
        return isinstance(other, Rational) and (self.numer, self.denom) == (
            other.numer,
            other.denom,
        )

    def __repr__(self):
        return f"{self.numer}/{self.denom}"

    def __add__(self, other):
        return Rational(
            self.numer * other.denom + other.numer * self.denom, self.denom * other.denom
        )

    def __sub__(self, other):
        return Rational(
            self.numer * other.denom - other.numer * self.denom, self.denom * other.denom
        )

    def __mul__(self, other):
        return Rational(self.numer * other.numer, self.denom * other.denom)

    def __truediv__(self, other):
        return Rational(self.numer * other.denom, self.denom * other.numer)

    def __abs__(self):
        return Rational(abs(self.numer), self.denom)

    def __pow__(self, power):
        if power < 0:
            return Rational(self.denom**-power, self.numer**-power)
        return Rational(self.numer**power, self.denom**power)

    def __rpow__(self, base):
        return (base**self.numer) ** (1 / self.denom)
