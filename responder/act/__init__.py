"""What touches the world: agent processes (runtime, launcher, cgroups), what
they print (adapters, failures), recovery commands, Warden's own old files and
the notifications a person receives.
"""
