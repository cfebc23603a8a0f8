"""A module-level function for the FunctionOutputs recorder test."""


def add_one(x):
    return x + 1
