def greet():
    return "hello"


alias = greet


def switch():
    global greet

    def greet():
        return "bonjour"

    return "switched"
