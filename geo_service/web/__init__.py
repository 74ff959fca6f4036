"""Server-rendered pages for people (sign-in; later the teams' workbench): Jinja2 templates
over the same use cases as the API, no business rule of their own."""
