"""Offline study assistant over Korean AWS SysOps notes."""
