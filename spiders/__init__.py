"""Scrapy side of lifeboat: settings, the ID-walk spider, profile loading."""
