"""What people and Prometheus read: the responder's metrics, the reviews and
reports with their charts, the patterns that cause issues and one sentence per
decision.
"""
