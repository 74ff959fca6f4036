"""Parcels and uploads: from a surveyor's file to a signed-off parcel.

An upload flows one way: `readers` (every format, chosen once by a registry) → `crs` (the
source CRS, inferred or declared, to CGCS2000) → `validation` (every check over the whole
file) → `store` (bulk writes in one transaction), driven by `uploads`. Then `workflow`
(status, verification, disputes, history), `features` (parcels as GeoJSON), `listing`
(the API's parcel list: pages of kept feature text, their count), `field` (what
the field app keeps on the phone), `kept_files` (the original files), `photos` (photos taken
on site, kept with the parcel's version) and `reports` (an upload's report as CSV and
GeoPackage).
"""
