"""Exercise track, bank-account: a stateful student object (open/close) whose methods
raise ValueError with messages checked via err.exception.args[0]."""

import unittest

from bank_account import BankAccount


class BankAccountTest(unittest.TestCase):
    def setUp(self):
        self.account = BankAccount()

    def test_newly_opened_account_has_zero_balance(self):
        self.account.open()
        self.assertEqual(self.account.get_balance(), 0)

    def test_deposit_and_withdraw(self):
        self.account.open()
        self.account.deposit(100)
        self.account.withdraw(30)
        self.assertEqual(self.account.get_balance(), 70)

    def test_can_reopen_a_closed_account_with_zero_balance(self):
        self.account.open()
        self.account.deposit(50)
        self.account.close()
        self.account.open()
        self.assertEqual(self.account.get_balance(), 0)

    def test_balance_of_a_closed_account_raises(self):
        self.account.open()
        self.account.close()
        with self.assertRaises(ValueError) as err:
            self.account.get_balance()
        self.assertEqual(type(err.exception), ValueError)
        self.assertEqual(err.exception.args[0], "account not open")

    def test_deposit_into_an_unopened_account_raises(self):
        with self.assertRaises(ValueError) as err:
            self.account.deposit(50)
        self.assertEqual(err.exception.args[0], "account not open")

    def test_opening_an_open_account_raises(self):
        self.account.open()
        with self.assertRaises(ValueError) as err:
            self.account.open()
        self.assertEqual(err.exception.args[0], "account already open")

    def test_withdrawing_more_than_the_balance_raises(self):
        self.account.open()
        self.account.deposit(25)
        with self.assertRaises(ValueError) as err:
            self.account.withdraw(50)
        self.assertEqual(err.exception.args[0], "amount must be less than balance")
        self.assertEqual(self.account.get_balance(), 25)

    def test_negative_deposit_raises(self):
        self.account.open()
        with self.assertRaisesRegex(ValueError, "^amount must be greater than 0$"):
            self.account.deposit(-50)
