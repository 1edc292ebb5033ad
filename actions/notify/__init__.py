"""Emails about actions, one module per flow: customer notifications (`customer`), assignment
alerts (`assignment`) and deadline alerts (`deadlines`).

Each email is claimed first (`claims`: a unique ActionEmail per action, kind and occasion), so
a double click, a repeated request or a replayed schedule never sends it twice, and a claim
left by a crashed sender is retried; a failure is recorded on the claim, on the action and in
its history (`common`), and re-raised nowhere (the caller shows it).
"""
