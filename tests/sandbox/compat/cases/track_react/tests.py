"""Exercise track, react: student cells built from other cells and the tests' lambdas;
callbacks registered by the tests (closures over a test's list, a Mock) are called by
student code with the new values, once per change, and can be removed again."""

import unittest
from unittest import mock

from react import ComputeCell, InputCell


class ReactTest(unittest.TestCase):
    def callback_factory(self, observer):
        def callback(value):
            observer.append(value)

        return callback

    def test_input_cells_have_a_value(self):
        self.assertEqual(InputCell(10).value, 10)

    def test_an_input_cells_value_can_be_set(self):
        cell = InputCell(4)
        cell.value = 20
        self.assertEqual(cell.value, 20)

    def test_compute_cells_calculate_initial_value(self):
        source = InputCell(1)
        output = ComputeCell([source], lambda inputs: inputs[0] + 1)
        self.assertEqual(output.value, 2)

    def test_compute_cells_take_inputs_in_the_right_order(self):
        one, two = InputCell(1), InputCell(2)
        output = ComputeCell([one, two], lambda inputs: inputs[0] + inputs[1] * 10)
        self.assertEqual(output.value, 21)

    def test_compute_cells_update_when_dependencies_change(self):
        source = InputCell(1)
        output = ComputeCell([source], lambda inputs: inputs[0] + 1)
        source.value = 3
        self.assertEqual(output.value, 4)

    def test_compute_cells_can_depend_on_other_compute_cells(self):
        source = InputCell(1)
        times_two = ComputeCell([source], lambda inputs: inputs[0] * 2)
        times_thirty = ComputeCell([source], lambda inputs: inputs[0] * 30)
        output = ComputeCell([times_two, times_thirty], lambda inputs: inputs[0] + inputs[1])
        self.assertEqual(output.value, 32)
        source.value = 3
        self.assertEqual(output.value, 96)

    def test_callbacks_are_called_with_the_new_value(self):
        source = InputCell(1)
        output = ComputeCell([source], lambda inputs: inputs[0] + 1)
        observer = []
        output.add_callback(self.callback_factory(observer))
        source.value = 3
        self.assertEqual(observer, [4])

    def test_callbacks_are_not_called_if_the_value_does_not_change(self):
        source = InputCell(1)
        output = ComputeCell([source], lambda inputs: 111 if inputs[0] < 3 else 222)
        observer = []
        output.add_callback(self.callback_factory(observer))
        source.value = 2
        self.assertEqual(observer, [])
        source.value = 4
        self.assertEqual(observer, [222])

    def test_callbacks_can_be_removed(self):
        source = InputCell(1)
        output = ComputeCell([source], lambda inputs: inputs[0] + 1)
        first, second = [], []
        callback1 = self.callback_factory(first)
        callback2 = self.callback_factory(second)
        output.add_callback(callback1)
        output.add_callback(callback2)
        source.value = 31
        output.remove_callback(callback1)
        source.value = 41
        self.assertEqual(first, [32])
        self.assertEqual(second, [32, 42])

    def test_callback_is_called_once_when_several_dependencies_change(self):
        source = InputCell(1)
        plus_one = ComputeCell([source], lambda inputs: inputs[0] + 1)
        minus_one = ComputeCell([source], lambda inputs: inputs[0] - 1)
        product = ComputeCell([plus_one, minus_one], lambda inputs: inputs[0] * inputs[1])
        callback = mock.Mock()
        product.add_callback(callback)
        source.value = 4
        callback.assert_called_once_with(15)

    def test_mock_callback_sees_every_change(self):
        source = InputCell(1)
        output = ComputeCell([source], lambda inputs: inputs[0] * 2)
        callback = mock.Mock()
        output.add_callback(callback)
        source.value = 2
        source.value = 2
        source.value = 5
        self.assertEqual(callback.call_args_list, [mock.call(4), mock.call(10)])
