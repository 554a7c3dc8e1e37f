# A syntax error: reported as file:line:col: message on stderr, exit status 1, nothing run.
print("never printed")
def broken(x):
    if x > 1
        return x
