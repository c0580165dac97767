OPERATORS = "+-*/()"


def tokenize(expression):
    """Split `expression` into numbers (int/float) and the strings + - * / ( ).

    Whitespace is skipped; any other character raises ValueError.
    """
    tokens = []
    i = 0
    while i < len(expression):
        ch = expression[i]
        if ch.isspace():
            i += 1
        elif ch in OPERATORS:
            tokens.append(ch)
            i += 1
        elif ch.isdigit():
            start = i
            while i < len(expression) and expression[i].isdigit():
                i += 1
            if i + 1 < len(expression) and expression[i] == "." and expression[i + 1].isdigit():
                i += 1
                while i < len(expression) and expression[i].isdigit():
                    i += 1
                tokens.append(float(expression[start:i]))
            else:
                tokens.append(int(expression[start:i]))
        else:
            raise ValueError(f"unexpected character {ch!r} at position {i}")
    return tokens


class _Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        token = self.peek()
        if token is None:
            raise ValueError("unexpected end of expression")
        self.pos += 1
        return token

    def expression(self):
        value = self.term()
        while self.peek() in ("+", "-"):
            if self.take() == "+":
                value += self.term()
            else:
                value -= self.term()
        return value

    def term(self):
        value = self.factor()
        while self.peek() in ("*", "/"):
            if self.take() == "*":
                value *= self.factor()
            else:
                value /= self.factor()
        return value

    def factor(self):
        token = self.take()
        if token == "-":
            return -self.factor()
        if token == "(":
            value = self.expression()
            if self.take() != ")":
                raise ValueError("expected ')'")
            return value
        if isinstance(token, (int, float)):
            return token
        raise ValueError(f"unexpected {token!r}")


def evaluate(expression):
    """Return the value of the arithmetic `expression`.

    Raise ValueError if it is malformed and ZeroDivisionError on division by zero.
    """
    parser = _Parser(tokenize(expression))
    value = parser.expression()
    if parser.peek() is not None:
        raise ValueError(f"unexpected {parser.peek()!r} after the end of the expression")
    return value
