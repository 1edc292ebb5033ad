"""Each person's way of looking at the lists: saved views (filters and sort, shared with a
group if they like), their default view, and the columns they show. Generic: it knows no app's
filters; each list view says which parameters it understands (see `services`)."""
