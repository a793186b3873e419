"""`warden simulate`: the real decision core under a virtual clock, with
scenarios and virtual agents.
"""
