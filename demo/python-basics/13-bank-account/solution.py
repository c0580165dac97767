class InsufficientFundsError(Exception):
    """Raised when a withdrawal is larger than the available balance."""


class BankAccount:
    """A bank account with an owner and a balance that cannot go negative."""

    def __init__(self, owner, balance=0):
        if balance < 0:
            raise ValueError("the opening balance cannot be negative")
        self.owner = owner
        self._balance = balance

    @property
    def balance(self):
        """The current balance (read-only)."""
        return self._balance

    @staticmethod
    def _check_amount(amount):
        if amount <= 0:
            raise ValueError(f"amount must be positive, got {amount}")

    def deposit(self, amount):
        """Add a positive `amount` to the balance."""
        self._check_amount(amount)
        self._balance += amount

    def withdraw(self, amount):
        """Remove a positive `amount`; raise InsufficientFundsError if it is too large."""
        self._check_amount(amount)
        if amount > self._balance:
            raise InsufficientFundsError(
                f"cannot withdraw {amount}; the balance is only {self._balance}"
            )
        self._balance -= amount

    def transfer_to(self, other, amount):
        """Move `amount` from this account to `other`; on failure nothing changes."""
        self.withdraw(amount)
        other.deposit(amount)
