#!/bin/sh
# The agent of bench/webhook.py's storm: what `claude -p PROMPT --output-format
# stream-json --verbose` prints for a one-turn run (an init line, one assistant
# turn, a successful result costing $0.0001), and exit 0, at the cost of a shell
# rather than of an interpreter's start-up. The storm starts 200 swarms in a few
# seconds on the responder's cores; with examples/fake_claude.py (a Python start-up,
# about 50 ms of CPU each) the bench measured those start-ups more than Warden.
# The decision trials keep the fake Claude, whose arguments are checked.
session="storm-$$"
printf '{"type":"system","subtype":"init","session_id":"%s","model":"fake","tools":[],"apiKeySource":"none"}\n' "$session"
printf '{"type":"assistant","session_id":"%s","message":{"id":"msg_%s_1","model":"fake","role":"assistant","content":[{"type":"text","text":"step 1"}],"usage":{"input_tokens":1000,"output_tokens":200,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}\n' "$session" "$session"
printf '{"type":"result","subtype":"success","is_error":false,"errors":[],"permission_denials":[],"terminal_reason":"completed","duration_ms":1,"num_turns":1,"result":"done","session_id":"%s","total_cost_usd":0.0001}\n' "$session"
