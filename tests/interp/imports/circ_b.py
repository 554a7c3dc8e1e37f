import circ_a   # circ_a is partly initialised here: only names bound so far exist

NAME = "B"

def from_a():
    return "b sees " + circ_a.NAME
