"""Exercise track, robot-name: random names checked with a regex, stable per robot,
distinct between robots, changed by reset(); setUp seeds the test's own random."""

import random
import re
import unittest

from robot_name import Robot

NAME = re.compile(r"^[A-Z]{2}\d{3}$")


class RobotNameTest(unittest.TestCase):
    def setUp(self):
        random.seed("robots")

    def test_has_a_name(self):
        self.assertRegex(Robot().name, NAME)

    def test_name_sticks(self):
        robot = Robot()
        self.assertEqual(robot.name, robot.name)

    def test_different_robots_have_different_names(self):
        names = {Robot().name for _ in range(20)}
        self.assertEqual(len(names), 20)

    def test_reset_gives_a_new_valid_name(self):
        robot = Robot()
        first = robot.name
        robot.reset()
        self.assertNotEqual(robot.name, first)
        self.assertTrue(NAME.match(robot.name), robot.name)
