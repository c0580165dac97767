def transform(items, function):
    return [function(item) for item in items]


def apply_each(items, callback, with_position=False):
    for index, item in enumerate(items):
        if with_position:
            callback(item, index=index, total=len(items))
        else:
            callback(item)


def retry(action, attempts):
    for attempt in range(1, attempts + 1):
        if action():
            return attempt
    return None


class Emitter:
    def __init__(self):
        self.listeners = {}

    def subscribe(self, name, listener):
        self.listeners.setdefault(name, []).append(listener)

    def emit(self, name, *args, **kwargs):
        return [listener(*args, **kwargs) for listener in self.listeners.get(name, [])]
