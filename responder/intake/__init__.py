"""What comes in: Alertmanager's webhook bodies read strictly, the claim on each
firing episode (one responder acts on it), and the reconciliation of open
episodes with what Alertmanager holds now.
"""
