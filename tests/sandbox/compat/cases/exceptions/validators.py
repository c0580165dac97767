class ValidationError(Exception):
    pass


class InvalidAge(ValidationError):
    def __init__(self, age):
        super().__init__(f"age {age} is not plausible")
        self.age = age


class TooYoung(ValidationError, ValueError):
    pass


def parse_percentage(text):
    value = int(text)
    if not 0 <= value <= 100:
        raise ValueError(f"percentage must be between 0 and 100, got {value}")
    return value / 100


def check_age(age, minimum=0):
    if age < 0 or age > 150:
        raise InvalidAge(age)
    if age < minimum:
        raise TooYoung(f"must be at least {minimum}")
    return age


def take(items, count):
    for index, item in enumerate(items):
        if index == count:
            return
        yield item


class Registry:
    def __init__(self, ages):
        self.ages = dict(ages)

    def __getitem__(self, key):
        if isinstance(key, int):
            names = list(self.ages)
            if not 0 <= key < len(names):
                raise IndexError(f"no entry {key}")
            return names[key]
        return self.ages[key]
