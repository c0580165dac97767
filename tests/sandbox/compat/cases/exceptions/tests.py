"""Exceptions raised by student code: builtin ones with assertRaises, assertRaisesRegex
and the exercise-track ``err.exception.args[0]`` check; a student-defined exception
class imported by the tests (assertRaises, isinstance, its attributes); a student
exception subclassing ValueError caught as ValueError; StopIteration ending an
iteration; KeyError and IndexError from a student ``__getitem__``."""

import unittest

from validators import (
    InvalidAge,
    Registry,
    TooYoung,
    ValidationError,
    check_age,
    parse_percentage,
    take,
)


class RaiseTest(unittest.TestCase):
    def test_assert_raises_value_error(self):
        with self.assertRaises(ValueError):
            parse_percentage("abc")
        self.assertRaises(ValueError, parse_percentage, "150")

    def test_assert_raises_regex(self):
        with self.assertRaisesRegex(ValueError, r"^percentage must be between 0 and 100, got 150$"):
            parse_percentage("150")

    def test_message_read_from_err_exception_args(self):
        with self.assertRaises(ValueError) as err:
            parse_percentage("-1")
        self.assertEqual(type(err.exception), ValueError)
        self.assertEqual(err.exception.args[0], "percentage must be between 0 and 100, got -1")
        self.assertEqual(str(err.exception), "percentage must be between 0 and 100, got -1")

    def test_type_error_is_not_a_value_error(self):
        with self.assertRaises(TypeError):
            parse_percentage(None)

    def test_valid_input_raises_nothing(self):
        self.assertEqual(parse_percentage("42"), 0.42)


class StudentExceptionTest(unittest.TestCase):
    def test_student_exception_class_with_assert_raises(self):
        with self.assertRaises(ValidationError):
            check_age(-5)

    def test_student_exception_is_an_instance_of_its_classes(self):
        with self.assertRaises(ValidationError) as err:
            check_age(200)
        self.assertIsInstance(err.exception, InvalidAge)
        self.assertIsInstance(err.exception, ValidationError)
        self.assertIsInstance(err.exception, Exception)
        self.assertEqual(err.exception.args, ("age 200 is not plausible",))

    def test_student_exception_carries_its_fields(self):
        with self.assertRaises(InvalidAge) as err:
            check_age(-5)
        self.assertEqual(err.exception.age, -5)
        self.assertEqual(str(err.exception), "age -5 is not plausible")

    def test_student_exception_subclassing_value_error(self):
        with self.assertRaises(ValueError) as err:
            check_age(10, minimum=18)
        self.assertIsInstance(err.exception, TooYoung)
        self.assertEqual(err.exception.args[0], "must be at least 18")

    def test_catching_a_student_exception_in_the_test(self):
        try:
            check_age(-1)
        except ValidationError as exc:
            caught = exc
        else:
            caught = None
        self.assertIsNotNone(caught)
        self.assertTrue(issubclass(InvalidAge, ValidationError))
        self.assertFalse(issubclass(TooYoung, InvalidAge))


class ContainerErrorTest(unittest.TestCase):
    def test_stop_iteration_ends_the_iteration(self):
        numbers = take([1, 2, 3], 2)
        self.assertEqual(next(numbers), 1)
        self.assertEqual(next(numbers), 2)
        self.assertRaises(StopIteration, next, numbers)

    def test_key_error_from_getitem(self):
        registry = Registry({"ada": 36})
        self.assertEqual(registry["ada"], 36)
        with self.assertRaises(KeyError) as err:
            registry["bob"]
        self.assertEqual(err.exception.args[0], "bob")

    def test_index_error_from_getitem(self):
        registry = Registry({"ada": 36})
        self.assertEqual(registry[0], "ada")
        with self.assertRaisesRegex(IndexError, "no entry 5"):
            registry[5]

    def test_lookup_error_catches_both(self):
        registry = Registry({})
        with self.assertRaises(LookupError):
            registry["x"]
        with self.assertRaises(LookupError):
            registry[0]
