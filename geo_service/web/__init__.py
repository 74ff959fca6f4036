"""Every server-rendered page for people, in one place: sign-in, the landing page, the
teams' workbench (parcels, queue, uploads), the wall board and the public page. Jinja2
templates (templates/) and their CSS/JS (static/, served at /static/web) over the same use
cases as the API and CLI, no business rule of their own. The leaders' map pages are built
by geo_service.maps (folium)."""
