"""The map pages' words, as gettext msgids (translated with the catalogs in
geo_service/locale). geo_service_maps.js draws the legends, popups and buttons; it gets
these words in the page's language inside its config (cfg.words), so no label is written
into the script in one language."""

from geo_service.web.i18n import N_, translations

# Every msgid geo_service_maps.js asks t() for; a word missing here shows as its msgid.
SCRIPT_WORDS = (
    # statuses and kinds (the pages' own msgids)
    N_("planned"), N_("in progress"), N_("delivered"), N_("demolished"), N_("verified"),
    N_("disputed"), N_("land delivery"), N_("demolition"), N_("mu"),
    # progress map
    N_("%(amount)s / month"), N_("%(district)s %(kind)s progress"),
    N_("%(kind)s progress by district"), N_("%(kind)s progress by township"),
    N_("%(n)s mu"), N_("%(title)s map"), N_("Annual target"),
    N_("Annual target (quarterly plans summed)"), N_("Area"), N_("Click to see its townships"),
    N_("Completion"), N_("District"), N_("District labels"), N_("End of Q%(q)s %(year)s"),
    N_("Needed per month"), N_("No target"), N_("Not found: %(code)s"), N_("Parcel code"),
    N_("Parcel status"), N_("Parcels"), N_("Plan up to Q1"), N_("Plan up to Q2"),
    N_("Plan up to Q3"), N_("Plan up to Q4"), N_("Progress"),
    N_("Due by this day (quarterly plans)"),
    N_("Progress by district"), N_("Progress by district (verified ÷ target)"),
    N_("Progress by township"), N_("Progress by township (verified ÷ target)"), N_("Project"),
    N_("Q%(q)s"), N_("Remaining"), N_("Search a parcel code"), N_("See its townships"),
    N_("Status"), N_("Tab or ↑ ↓ move between the rows; Enter shows one on the map."),
    N_("Legend"), N_("Summary"), N_("Target"), N_("Township"), N_("Township labels"),
    N_("Verified"), N_("Zoom in"), N_("Zoom out"),
    N_("Verified by"), N_("Photos"), N_("%(n)s photos"),
    N_("Verified on"), N_("Whole district"), N_("Year %(year)s"), N_("boundary approximate"),
    N_("Years %(first)s–%(last)s"), N_("%(year)s Q%(q)s"),
    N_("done"), N_("not set"), N_("now"), N_("relocation"), N_("whole city"),
    N_("as of %(date)s"), N_("campaign ended"), N_("Campaign"),
    N_("Demo data: made-up parcels, people and dates, moved so that the campaign is under way today"),  # noqa: E501
    # support map
    N_("%(helper)s → %(host)s: %(parcels)s parcels, %(amount)s verified"),
    N_("Cross-township support"), N_("Support links"), N_("Supported parcels"),
    N_("helper → host township; line width ∝ the verified area done together"),
    # relocation map
    N_("%(district)s relocation progress"), N_("%(done)s / %(all)s households handed over"),
    N_("%(handed)s handed over, %(allocated)s allocated, %(planned)s planned"),
    N_("%(n)s flats"), N_("%(n)s households"),
    N_("%(township)s → %(site)s: %(households)s households, %(handed)s handed over"),
    N_("Completed"), N_("Flats"), N_("Flats handed over"), N_("Floor area handed over"),
    N_("Hand-over"), N_("Hand-over by resettlement site"),
    N_("Hand-over by resettlement site (households handed over ÷ households due)"),
    N_("Handed over / households due"), N_("Households"),
    N_("Households by township (handed over / due)"), N_("Households due"),
    N_("Households handed over"), N_("Households verified"),
    N_("Households with title deeds"), N_("No households yet"), N_("Overdue hand-over"),
    N_("Overdue title deeds"), N_("Planned completion"), N_("Resettlement site"),
    N_("Resettlement sites"), N_("Township → resettlement site"), N_("Townships served"),
    N_("circle size ∝ flats"), N_("not completed"),
    N_("township → resettlement site; line width ∝ households"),
)  # fmt: skip
# What toLocaleString formats numbers in, per catalog.
NUMBER_LOCALE = {"zh_CN": "zh-CN", "en": "en"}


def gettext(locale: str):
    return translations(locale).gettext


def script_words(locale: str) -> dict[str, str]:
    """The script's words in `locale`: msgid -> what the page shows."""
    _ = gettext(locale)
    return {word: _(word) for word in SCRIPT_WORDS}
