"""Reminders and escalations: the rules, their sync with each case, the sweep that delivers them
(in-app notifications, e-mail, webhook) through the outbox, and the daily digest."""
