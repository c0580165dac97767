class InsufficientFundsError(Exception):
    """Raised when a withdrawal is larger than the available balance."""


class BankAccount:
    """A bank account with an owner and a balance that cannot go negative."""

    def __init__(self, owner, balance=0):
        pass

    @property
    def balance(self):
        """The current balance (read-only)."""
        pass

    def deposit(self, amount):
        """Add a positive `amount` to the balance."""
        pass

    def withdraw(self, amount):
        """Remove a positive `amount`; raise InsufficientFundsError if it is too large."""
        pass

    def transfer_to(self, other, amount):
        """Move `amount` from this account to `other`; on failure nothing changes."""
        pass
