# switch() says it switched but rebinds nothing.
def greet():
    return "hello"


alias = greet


def switch():
    return "switched"
