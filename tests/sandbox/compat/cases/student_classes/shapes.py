class Shape:
    sides = 0

    def describe(self):
        return "a shape"


class Rectangle(Shape):
    sides = 4

    def __init__(self, width, height):
        if not (self.is_valid_size(width) and self.is_valid_size(height)):
            raise ValueError("sizes must be positive")
        self.width = width
        self.height = height

    @classmethod
    def from_string(cls, text):
        width, height = text.split("x")
        return cls(int(width), int(height))

    @staticmethod
    def is_valid_size(value):
        return value > 0

    @property
    def perimeter(self):
        return 2 * (self.width + self.height)

    def area(self):
        return self.width * self.height

    def scaled(self, factor):
        return Rectangle(self.width * factor, self.height * factor)

    def describe(self):
        return f"a {self.width} by {self.height} rectangle"


class Square(Rectangle):
    def __init__(self, side):
        super().__init__(side, side)

    def describe(self):
        return f"a square with side {self.width}"
