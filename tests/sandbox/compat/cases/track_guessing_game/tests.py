"""Exercise track, a guessing game driven by input(): the tests patch builtins.input
with a list of answers and read the game's print()ed replies (redirect_stdout and a
patched print), its return value and the prompts it asked with."""

import contextlib
import io
import unittest
from unittest import mock

from guessing_game import play


class GuessingGameTest(unittest.TestCase):
    def play_with(self, answers, secret, **options):
        with mock.patch("builtins.input", side_effect=answers) as fake_input:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                result = play(secret, **options)
        return result, out.getvalue().splitlines(), fake_input

    def test_right_first_time(self):
        result, lines, _ = self.play_with(["7"], secret=7)
        self.assertEqual(result, 1)
        self.assertEqual(lines, ["Correct! You needed 1 guess."])

    def test_hints_lead_to_the_number(self):
        result, lines, _ = self.play_with(["50", "25", "30"], secret=30)
        self.assertEqual(result, 3)
        self.assertEqual(lines, ["Too high!", "Too low!", "Correct! You needed 3 guesses."])

    def test_prompt_is_shown_for_every_guess(self):
        _, _, fake_input = self.play_with(["1", "2"], secret=2)
        self.assertEqual(fake_input.call_args_list, [mock.call("Your guess: ")] * 2)

    def test_not_a_number_does_not_use_up_a_guess(self):
        result, lines, _ = self.play_with(["seven", "7"], secret=7, max_guesses=1)
        self.assertEqual(result, 1)
        self.assertEqual(lines, ["Please enter a whole number.", "Correct! You needed 1 guess."])

    def test_running_out_of_guesses(self):
        result, lines, fake_input = self.play_with(["1", "2"], secret=9, max_guesses=2)
        self.assertIsNone(result)
        self.assertEqual(lines[-1], "Out of guesses! The number was 9.")
        self.assertEqual(fake_input.call_count, 2)

    def test_replies_seen_through_a_patched_print(self):
        with mock.patch("builtins.input", side_effect=["3", "4"]):
            with mock.patch("builtins.print") as fake_print:
                play(4)
        fake_print.assert_any_call("Too low!")
        fake_print.assert_called_with("Correct! You needed 2 guesses.")
