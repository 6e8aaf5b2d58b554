"""Word lists behind the entity guard (``llmgw.cache.entities``): function words, dates,
number words, negation cues, units and well-known names. Data only."""

from __future__ import annotations

from llmgw.cache.gazetteer import words

# Function words: never names, capitalised or not, anywhere in a sentence.
STOPWORDS = frozenset(
    words("""
    i me my mine myself we us our ours you your yours he him his she her hers it its they them
    their theirs this that these those who whom whose which what when where why how whether
    a an the and or but if then else so as than too very just also only even both either each
    every all any some many much more most few less least other another such own same
    is am are was were be been being do does did done have has had having will would shall
    should can could may might must need ought let lets
    in on at by for from to of off out over under up down into onto upon with within about
    above below across after before between through during until till via per against among
    around behind beside besides beyond near since toward towards
    not no nor never none nobody nothing neither without cannot
    yes ok okay please thanks thank hi hello hey dear sir madam mr mrs ms dr
    here there now ever again once still yet already always often sometimes usually
    """)
)

# Common words that are not names when they start a sentence (the stopwords count too):
# imperatives, question openers, sentence adverbs and the usual subjects of a question.
SENTENCE_STARTERS = STOPWORDS | frozenset(
    words("""
    tell give show explain describe list write make create find help compare summarize
    summarise translate generate suggest recommend calculate convert define name provide
    check use using try run add remove set get put keep call send read open close start stop
    go see look say ask answer solve fix build install update upgrade delete change learn
    consider imagine assume suppose note remember follow choose pick select load save
    in to for with by from on at after before when while although though because since
    unless once however therefore thus hence meanwhile instead otherwise additionally
    furthermore moreover besides finally first firstly second secondly third lastly next
    overall basically generally typically usually normally actually really certainly maybe
    perhaps probably hopefully unfortunately currently today tomorrow yesterday recently
    someone somebody anyone anybody everyone everybody something anything everything
    people person thing things way ways time times day days year years
    there's here's it's what's that's who's where's how's let's
    good great best better bad worse worst new old big small large little long short high low
    quick simple easy hard fast slow free full true false important possible necessary
    is are was were am be do does did have has had can could will would shall should
    may might must need click include employ apart afterwards user users developer developers
    data example examples file files code model models question questions answer answers
    ensure refer pass incorporate enable allow apply access specify
    """)
)
# Words with these endings are ordinary words, not names, when they start a sentence
# ("Alternatively", "Storing", "Information"), unless a place list says otherwise ("Beijing").
COMMON_ENDINGS = (
    "ly",
    "ing",
    "ed",
    "tion",
    "sion",
    "ment",
    "ness",
    "ity",
    "able",
    "ible",
    "ive",
    "ous",
    "ful",
    "less",
    "ize",
    "ise",
    "wards",
)

MONTHS = {
    "january": "january",
    "february": "february",
    "march": "march",
    "april": "april",
    "may": "may",
    "june": "june",
    "july": "july",
    "august": "august",
    "september": "september",
    "october": "october",
    "november": "november",
    "december": "december",
}
MONTH_ABBREVIATIONS = {
    "jan": "january",
    "feb": "february",
    "mar": "march",
    "apr": "april",
    "jun": "june",
    "jul": "july",
    "aug": "august",
    "sep": "september",
    "sept": "september",
    "oct": "october",
    "nov": "november",
    "dec": "december",
}
WEEKDAYS = {
    d: d for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}
WEEKDAY_ABBREVIATIONS = {
    "mon": "monday",
    "tue": "tuesday",
    "tues": "tuesday",
    "wed": "wednesday",
    "thu": "thursday",
    "thur": "thursday",
    "thurs": "thursday",
    "fri": "friday",
    "sat": "saturday",
    "sun": "sunday",
}
# Month names that are everyday words too: a date only after a date preposition or before a number.
WORDLIKE_MONTHS = frozenset({"may", "march"})
RELATIVE_DAYS = frozenset({"today", "tomorrow", "yesterday", "tonight", "weekend"})
RELATIVE_LEADS = frozenset({"this", "next", "last", "coming", "previous"})
RELATIVE_SPANS = frozenset({"week", "weekend", "month", "year", "quarter", "decade", "century"})
SEASONS = frozenset({"summer", "winter", "autumn"})
DATE_PREPOSITIONS = frozenset(
    {"in", "on", "of", "since", "until", "till", "by", "during", "before", "after", "from"}
    | {"last", "next", "this", "early", "late", "mid", "through", "between"}
)

NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "dozen": 12,
}
ORDINAL_WORDS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
    "fortieth": 40,
    "fiftieth": 50,
    "hundredth": 100,
    "thousandth": 1000,
}
SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
SCALES["trillion"] = 1_000_000_000_000
PERCENT_WORDS = frozenset({"percent", "pct"})
DETERMINERS = frozenset(
    {"the", "a", "an", "this", "that", "every", "each", "my", "your", "its", "their", "his"}
    | {"her", "our"}
)
# "one" is a pronoun or an article-like word after these, or before these.
ONE_NOT_AFTER = frozenset(
    {"the", "this", "that", "which", "any", "no", "every", "each", "some", "another", "a", "an"}
    | {"such", "new", "right", "wrong", "last", "other", "little", "only", "same", "in", "by"}
)
ONE_NOT_BEFORE = frozenset(
    {"of", "another", "by", "can", "could", "should", "must", "may", "might", "would", "will"}
    | {"needs", "has", "wants", "go", "at", "day", "way", "'s", "to"}
)

NEGATIONS = frozenset(
    {"not", "no", "never", "without", "none", "nobody", "nothing", "neither", "nor", "cannot"}
    | {"nowhere"}
)
# n't contractions typed without the apostrophe
BARE_CONTRACTIONS = frozenset(
    words("""
    dont doesnt didnt cant couldnt wont wouldnt shouldnt isnt arent wasnt werent hasnt havent
    hadnt mustnt neednt aint
    """)
)

UNITS = {
    "$": "usd",
    "us$": "usd",
    "€": "eur",
    "£": "gbp",
    "¥": "jpy",
    "₹": "inr",
    "usd": "usd",
    "dollar": "usd",
    "dollars": "usd",
    "eur": "eur",
    "euro": "eur",
    "euros": "eur",
    "gbp": "gbp",
    "sterling": "gbp",
    "jpy": "jpy",
    "yen": "jpy",
    "cny": "cny",
    "rmb": "cny",
    "yuan": "cny",
    "inr": "inr",
    "rupee": "inr",
    "rupees": "inr",
    "chf": "chf",
    "franc": "chf",
    "francs": "chf",
    "btc": "btc",
    "bitcoin": "btc",
    "km": "km",
    "kilometer": "km",
    "kilometers": "km",
    "kilometre": "km",
    "kilometres": "km",
    "mile": "mile",
    "miles": "mile",
    "meter": "m",
    "meters": "m",
    "metre": "m",
    "metres": "m",
    "cm": "cm",
    "mm": "mm",
    "ft": "ft",
    "foot": "ft",
    "feet": "ft",
    "inch": "inch",
    "inches": "inch",
    "kg": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
    "gram": "g",
    "grams": "g",
    "lb": "lb",
    "lbs": "lb",
    "pound": "pound",
    "pounds": "pound",
    "oz": "oz",
    "ounce": "oz",
    "ounces": "oz",
    "celsius": "celsius",
    "°c": "celsius",
    "fahrenheit": "fahrenheit",
    "°f": "fahrenheit",
    "kelvin": "kelvin",
    "liter": "l",
    "liters": "l",
    "litre": "l",
    "litres": "l",
    "ml": "ml",
    "gallon": "gallon",
    "gallons": "gallon",
    "mph": "mph",
    "kb": "kb",
    "mb": "mb",
    "gb": "gb",
    "tb": "tb",
    "ghz": "ghz",
    "mhz": "mhz",
}
# Unit abbreviations that are something else in capitals ("ML", "M", "CM", "L").
LOWERCASE_UNITS = frozenset({"m", "cm", "mm", "ml", "l", "g", "ft", "oz", "lb", "mph", "km"})
# Time units count only right after a number ("3 days" / "3 weeks"), not as words on their own.
TIME_UNITS = {
    "second": "second",
    "seconds": "second",
    "minute": "minute",
    "minutes": "minute",
    "hour": "hour",
    "hours": "hour",
    "day": "day",
    "days": "day",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
}

# Lowercase words that are names anyway (languages, platforms, tools), with their aliases.
KNOWN_NAMES = {
    w: w
    for w in words("""
    python javascript typescript java kotlin scala haskell perl ruby php golang clojure
    erlang elixir fortran cobol matlab lua sql mysql postgresql sqlite mongodb redis kafka
    vue angular django flask fastapi nodejs deno linux ubuntu debian fedora macos ios android
    docker kubernetes terraform ansible git github gitlab aws azure gcp numpy pytorch
    tensorflow jax
    """)
}
KNOWN_NAMES.update(
    {
        "js": "javascript",
        "ts": "typescript",
        "postgres": "postgresql",
        "k8s": "kubernetes",
        "c++": "c++",
        "c#": "c#",
        "f#": "f#",
        ".net": ".net",
        "golang": "go",
    }
)
