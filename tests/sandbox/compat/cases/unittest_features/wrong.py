# A tally that counts every word once, ranks alphabetically, answers "has" with a
# count, and a median that forgets to sort.
class Tally:
    def __init__(self):
        self.counts = {}

    def add(self, word):
        self.counts[word] = 1

    def count(self, word):
        return self.counts.get(word, 0)

    def get(self, word):
        return self.counts.get(word)

    def has(self, word):
        return self.counts.get(word, 0)

    def total(self):
        return sum(self.counts.values())

    def words(self):
        return list(self.counts)

    def ranking(self):
        return sorted(self.counts)

    def as_dict(self):
        return dict(self.counts)


def median(values):
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2


def mode(values):
    return max(values, key=values.count)


def normalise(values):
    total = sum(values)
    return [value / total for value in values]


def describe(values):
    return {
        "min": min(values),
        "max": max(values),
        "mean": sum(values) / len(values),
        "count": len(values),
    }
