"""The read side: whole-inventory figures computed by a task and stored, read by the pages
(dashboard, deadlines, market group roster), and the managers' digest built from the same
domain reads. It sits above the domain apps, so it may join what they may not (enrollments'
deadlines with actions' blockers); nothing below it imports it.
"""
