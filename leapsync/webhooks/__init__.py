"""Leap webhook receiver: the endpoint, coalesced targeted refreshes, the page and the subscription."""
