"""Root-side operations on the host: prepare it, the researchers' network and firewall, home
volumes, nginx, and the daemon that starts everything."""
