"""E-mail: notifications rendered from templates (`render`) and sent over SMTP (`smtp`)."""
