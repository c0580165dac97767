"""Static discovery of test ids in a tests.py."""

from __future__ import annotations

import pytest

from gradeflow.courses.discovery import TestDiscoveryError, discover_test_ids


def test_test_methods_are_found_in_definition_order() -> None:
    source = """
import unittest

class LeapTest(unittest.TestCase):
    def test_year_2000(self): ...
    def helper(self): ...
    def test_year_1900(self): ...
    async def test_async_year(self): ...

class OtherTest(unittest.IsolatedAsyncioTestCase):
    async def test_other(self): ...
"""
    assert discover_test_ids(source) == [
        "LeapTest.test_year_2000",
        "LeapTest.test_year_1900",
        "LeapTest.test_async_year",
        "OtherTest.test_other",
    ]


def test_inherited_tests_are_included() -> None:
    source = """
from unittest import TestCase

class Checks:
    def test_from_mixin(self): ...

class BaseTest(TestCase):
    def test_base(self): ...
    def test_overridden(self): ...

class DerivedTest(BaseTest, Checks):
    def test_overridden(self): ...
    def test_own(self): ...
"""
    assert discover_test_ids(source) == [
        "BaseTest.test_base",
        "BaseTest.test_overridden",
        "DerivedTest.test_base",
        "DerivedTest.test_overridden",
        "DerivedTest.test_from_mixin",
        "DerivedTest.test_own",
    ]


def test_classes_that_are_not_test_cases_are_ignored() -> None:
    source = """
import unittest

class Helper:
    def test_looks_like_a_test(self): ...

class Unrelated(object):
    def test_neither(self): ...

def test_function(): ...

class RealTest(unittest.TestCase):
    def test_real(self): ...
    class NestedTest(unittest.TestCase):
        def test_nested(self): ...
"""
    assert discover_test_ids(source) == ["RealTest.test_real"]


def test_aliased_imports_of_unittest_are_understood() -> None:
    source = """
import unittest as ut
from unittest import TestCase as Case

class ATest(ut.TestCase):
    def test_a(self): ...

class BTest(Case):
    def test_b(self): ...
"""
    assert discover_test_ids(source) == ["ATest.test_a", "BTest.test_b"]


def test_syntax_error_names_the_file_and_line() -> None:
    source = "import unittest\n\nclass ATest(unittest.TestCase)\n    def test_a(self): ...\n"

    with pytest.raises(TestDiscoveryError) as caught:
        discover_test_ids(source, "two-fer/tests.py")

    assert str(caught.value) == "two-fer/tests.py, line 3: expected ':'"
    assert caught.value.line == 3


def test_file_without_tests_is_an_error() -> None:
    source = "import unittest\n\nclass EmptyTest(unittest.TestCase):\n    def helper(self): ...\n"

    with pytest.raises(TestDiscoveryError, match=r"^tests\.py: no tests found"):
        discover_test_ids(source)


def test_discovery_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no tests found"):
        discover_test_ids("")
