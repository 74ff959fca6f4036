"""Map pages for leaders: folium pages, their data, vector tiles and browser assets."""
