# Keeps the balance when reopened, lets balances go negative, and raises with other
# messages (or a different exception type) for the account state.
class BankAccount:
    def __init__(self):
        self.is_open = False
        self.balance = 0

    def get_balance(self):
        if not self.is_open:
            raise RuntimeError("account not open")
        return self.balance

    def open(self):
        self.is_open = True

    def deposit(self, amount):
        if not self.is_open:
            raise ValueError("Account not open.")
        if amount <= 0:
            raise ValueError("amount must be greater than 0")
        self.balance += amount

    def withdraw(self, amount):
        self.balance -= amount

    def close(self):
        self.is_open = False
