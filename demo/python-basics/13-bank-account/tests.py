import unittest

from bank_account import BankAccount, InsufficientFundsError


class BankAccountTest(unittest.TestCase):
    def test_new_account_has_owner_and_zero_balance(self):
        account = BankAccount("Ada")
        self.assertEqual(account.owner, "Ada")
        self.assertEqual(account.balance, 0, "without an opening balance, the account starts at 0")

    def test_opening_balance(self):
        self.assertEqual(BankAccount("Ada", 50).balance, 50)

    def test_negative_opening_balance_is_refused(self):
        with self.assertRaises(ValueError):
            BankAccount("Ada", -1)

    def test_deposit_increases_the_balance(self):
        account = BankAccount("Ada", 10)
        account.deposit(25)
        account.deposit(5)
        self.assertEqual(account.balance, 40)

    def test_withdraw_decreases_the_balance(self):
        account = BankAccount("Ada", 100)
        account.withdraw(30)
        self.assertEqual(account.balance, 70)

    def test_zero_or_negative_amounts_are_refused(self):
        account = BankAccount("Ada", 100)
        with self.assertRaises(ValueError, msg="depositing 0 must raise ValueError"):
            account.deposit(0)
        with self.assertRaises(ValueError, msg="withdrawing a negative amount must raise ValueError"):
            account.withdraw(-5)
        self.assertEqual(account.balance, 100, "refused operations must not change the balance")

    def test_overdraft_raises_and_keeps_the_balance(self):
        account = BankAccount("Ada", 20)
        with self.assertRaises(InsufficientFundsError):
            account.withdraw(21)
        self.assertEqual(account.balance, 20, "a refused withdrawal must not change the balance")

    def test_balance_cannot_be_assigned(self):
        account = BankAccount("Ada", 20)
        with self.assertRaises(AttributeError, msg="balance should be a read-only property"):
            account.balance = 1_000_000

    def test_transfer_moves_money_between_accounts(self):
        ada, bob = BankAccount("Ada", 100), BankAccount("Bob", 5)
        ada.transfer_to(bob, 40)
        self.assertEqual((ada.balance, bob.balance), (60, 45))

    def test_failed_transfer_changes_neither_account(self):
        ada, bob = BankAccount("Ada", 10), BankAccount("Bob", 5)
        with self.assertRaises(InsufficientFundsError):
            ada.transfer_to(bob, 11)
        self.assertEqual((ada.balance, bob.balance), (10, 5), "after a failed transfer both balances stay the same")


if __name__ == "__main__":
    unittest.main()
