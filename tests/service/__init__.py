"""Tests that start one service: a responder or an exporter (in this process or as a
`warden` process), the `warden` command, agents, a database server or a tool."""
