# Multiplies part by part, has no reflected operators, and exp ignores the real part.
import math


class ComplexNumber:
    def __init__(self, real, imaginary):
        self.real = real
        self.imaginary = imaginary

    @staticmethod
    def _of(value):
        return value if isinstance(value, ComplexNumber) else ComplexNumber(value, 0)

    def __eq__(self, other):
        other = self._of(other)
        return self.real == other.real and self.imaginary == other.imaginary

    def __repr__(self):
        return f"ComplexNumber({self.real}, {self.imaginary})"

    def __add__(self, other):
        other = self._of(other)
        return ComplexNumber(self.real + other.real, self.imaginary + other.imaginary)

    def __sub__(self, other):
        other = self._of(other)
        return ComplexNumber(self.real - other.real, self.imaginary - other.imaginary)

    def __mul__(self, other):
        other = self._of(other)
        return ComplexNumber(self.real * other.real, self.imaginary * other.imaginary)

    def __truediv__(self, other):
        other = self._of(other)
        return ComplexNumber(self.real / other.real, self.imaginary / (other.imaginary or 1))

    def __abs__(self):
        return math.hypot(self.real, self.imaginary)

    def conjugate(self):
        return ComplexNumber(self.real, -self.imaginary)

    def exp(self):
        return ComplexNumber(math.cos(self.imaginary), math.sin(self.imaginary))
