import itertools

_creation = itertools.count()


class Cell:
    def __init__(self):
        self.dependents = []
        self.order = next(_creation)


class InputCell(Cell):
    def __init__(self, initial_value):
        super().__init__()
        self._value = initial_value

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, new_value):
        self._value = new_value
        affected, pending = [], list(self.dependents)
        while pending:
            cell = pending.pop()
            if cell not in affected:
                affected.append(cell)
                pending.extend(cell.dependents)
        affected.sort(key=lambda cell: cell.order)
        before = [cell.value for cell in affected]
        for cell in affected:
            cell.recompute()
        for cell, old in zip(affected, before):
            if cell.value != old:
                for callback in list(cell.callbacks):
                    callback(cell.value)


class ComputeCell(Cell):
    def __init__(self, inputs, compute_function):
        super().__init__()
        self.inputs = list(inputs)
        self.compute_function = compute_function
        self.callbacks = []
        for cell in self.inputs:
            cell.dependents.append(self)
        self.recompute()

    def recompute(self):
        self.value = self.compute_function([cell.value for cell in self.inputs])

    def add_callback(self, callback):
        self.callbacks.append(callback)

    def remove_callback(self, callback):
        if callback in self.callbacks:
            self.callbacks.remove(callback)
