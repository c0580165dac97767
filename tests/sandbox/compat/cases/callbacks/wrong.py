# apply_each goes through the items sorted and passes positions positionally, retry
# ignores what the action returns, and emit calls every listener regardless of name
# and drops keyword arguments.
def transform(items, function):
    return [function(item) for item in items]


def apply_each(items, callback, with_position=False):
    for index, item in enumerate(sorted(items)):
        if with_position:
            callback(item, index, len(items))
        else:
            callback(item)


def retry(action, attempts):
    action()
    return 1


class Emitter:
    def __init__(self):
        self.listeners = []

    def subscribe(self, name, listener):
        self.listeners.append(listener)

    def emit(self, name, *args, **kwargs):
        return [listener(*args) for listener in self.listeners]
