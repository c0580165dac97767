# Pushes every change straight down (so a cell fed twice calls back twice), calls back
# even when the value stays the same, and cannot remove callbacks.
class InputCell:
    def __init__(self, initial_value):
        self.dependents = []
        self._value = initial_value

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, new_value):
        self._value = new_value
        for cell in self.dependents:
            cell.update()


class ComputeCell:
    def __init__(self, inputs, compute_function):
        self.inputs = list(inputs)
        self.compute_function = compute_function
        self.callbacks = []
        self.dependents = []
        for cell in self.inputs:
            cell.dependents.append(self)
        self.value = compute_function([cell.value for cell in self.inputs])

    def update(self):
        self.value = self.compute_function([cell.value for cell in self.inputs])
        for callback in self.callbacks:
            callback(self.value)
        for cell in self.dependents:
            cell.update()

    def add_callback(self, callback):
        self.callbacks.append(callback)

    def remove_callback(self, callback):
        pass
