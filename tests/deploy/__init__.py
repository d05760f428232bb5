"""Deploys behind a real load balancer, and the drain on every server setup."""
