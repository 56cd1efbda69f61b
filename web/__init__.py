"""The browser pages (HTML, CSS, ES modules), shipped as package data and served by `api.web_pages`."""
