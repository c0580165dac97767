class Tally:
    def __init__(self):
        self.counts = {}

    def add(self, word):
        self.counts[word] = self.counts.get(word, 0) + 1

    def count(self, word):
        return self.counts.get(word, 0)

    def get(self, word):
        return self.counts.get(word)

    def has(self, word):
        return word in self.counts

    def total(self):
        return sum(self.counts.values())

    def words(self):
        return list(self.counts)

    def ranking(self):
        return sorted(self.counts, key=lambda word: (-self.counts[word], word))

    def as_dict(self):
        return dict(self.counts)


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


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
