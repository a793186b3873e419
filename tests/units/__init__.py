"""Tests that start nothing: Warden's code in this process, on files and folders."""
