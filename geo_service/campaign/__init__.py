"""The campaign office: what must be done, and how far it has got.

`categories` and `projects` (the register's projects and their responsibility lists),
`targets` (by city, district, township, kind and quarter), `due` (what the targets make
due by a day, in the campaign's own quarters), `tallies` (verified area against the
targets, for any past day), `register` (the project register and problem files),
`rankings` (monthly and quarterly 综合考评) and `boards` (the wall board and the public page).
"""
