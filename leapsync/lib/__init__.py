"""Small shared helpers below the domain apps: they import no app of ours (no model), so the
engine, the domain apps and the web layer may all use them."""
