"""leapsync: the Django project package and the Leap sync engine."""
