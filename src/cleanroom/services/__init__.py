"""What the hub's tornado services (airlock, admin pages) share."""
