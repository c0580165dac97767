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

    __radd__ = __add__

    def __sub__(self, other):
        other = self._of(other)
        return ComplexNumber(self.real - other.real, self.imaginary - other.imaginary)

    def __rsub__(self, other):
        return self._of(other) - self

    def __mul__(self, other):
        other = self._of(other)
        return ComplexNumber(
            self.real * other.real - self.imaginary * other.imaginary,
            self.real * other.imaginary + self.imaginary * other.real,
        )

    __rmul__ = __mul__

    def __truediv__(self, other):
        other = self._of(other)
        scale = other.real**2 + other.imaginary**2
        top = self * other.conjugate()
        return ComplexNumber(top.real / scale, top.imaginary / scale)

    def __abs__(self):
        return math.hypot(self.real, self.imaginary)

    def conjugate(self):
        return ComplexNumber(self.real, -self.imaginary)

    def exp(self):
        size = math.exp(self.real)
        return ComplexNumber(size * math.cos(self.imaginary), size * math.sin(self.imaginary))
