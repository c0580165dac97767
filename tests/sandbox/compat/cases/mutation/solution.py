def add_item(items, item):
    items.append(item)


def sort_in_place(items):
    items.sort()


def count_into(counts, text):
    for char in text:
        counts[char] = counts.get(char, 0) + 1


def tag(tags, new_tags):
    tags.update(new_tags)


def leave_alone(items):
    return sorted(items)


class Logbook:
    def __init__(self, lines, index=None):
        self.lines = lines
        self.index = index

    def write(self, line):
        if self.index is not None:
            self.index[line] = len(self.lines)
        self.lines.append(line)

    def __len__(self):
        return len(self.lines)
