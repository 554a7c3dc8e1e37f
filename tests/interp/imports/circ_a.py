import circ_b

def value():
    return "a sees " + circ_b.NAME

NAME = "A"
