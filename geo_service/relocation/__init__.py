"""Relocation (回迁): households, flats and resettlement projects.

`households` (the rules: projects, households, flats, hand-overs), `rosters` (household and
flat lists from CSV/XLSX), `tallies` (the 两逾 lists and 清零 figures for any past day),
`actions` (relocation writes as a signed-in person) and `demo` (the synthetic demo set).
"""
