"""Place names the entity guard recognises even when they are typed in lowercase.

Countries, US states, capitals and large cities, lowercase, as one hand-kept set. A capitalised
place needs no list (any capitalised word past the start of a sentence is a name); this one is
for "weather in paris" against "weather in london". Places that are also everyday words
("turkey", "china", "phoenix") are kept in ``AMBIGUOUS`` and count only when capitalised;
places that are mostly words ("nice", "split", "reading") are left out.
Multi-word places are matched as whole phrases (up to ``MAX_WORDS`` words).
"""

from __future__ import annotations


def words(block: str) -> list[str]:
    """The whitespace-separated words of a text block (keeps long word lists readable)."""
    return block.split()


COUNTRIES = words("""
afghanistan albania algeria andorra angola argentina armenia australia austria azerbaijan
bahamas bahrain bangladesh barbados belarus belgium belize benin bhutan bolivia bosnia
botswana brazil brunei bulgaria burundi cambodia cameroon canada chad chile china colombia
comoros congo croatia cuba cyprus czechia denmark djibouti dominica ecuador egypt eritrea
estonia eswatini ethiopia fiji finland france gabon gambia georgia germany ghana greece
grenada guatemala guinea guyana haiti honduras hungary iceland india indonesia iran iraq
ireland israel italy jamaica japan jordan kazakhstan kenya kiribati kosovo kuwait kyrgyzstan
laos latvia lebanon lesotho liberia libya liechtenstein lithuania luxembourg madagascar malawi
malaysia maldives mali malta mauritania mauritius mexico micronesia moldova monaco mongolia
montenegro morocco mozambique myanmar burma namibia nauru nepal netherlands holland nicaragua
niger nigeria norway oman pakistan palau palestine panama paraguay peru philippines poland
portugal qatar romania russia rwanda samoa senegal serbia seychelles singapore slovakia
slovenia somalia spain sudan suriname sweden switzerland syria taiwan tajikistan tanzania
thailand togo tonga tunisia turkey turkmenistan tuvalu uganda ukraine uruguay uzbekistan
vanuatu venezuela vietnam yemen zambia zimbabwe england scotland wales britain uk usa
""")

COUNTRY_PHRASES = [
    "united states",
    "united states of america",
    "united kingdom",
    "great britain",
    "northern ireland",
    "south africa",
    "south korea",
    "north korea",
    "new zealand",
    "saudi arabia",
    "sri lanka",
    "costa rica",
    "puerto rico",
    "el salvador",
    "dominican republic",
    "czech republic",
    "ivory coast",
    "united arab emirates",
    "papua new guinea",
    "east timor",
    "hong kong",
    "south sudan",
    "north macedonia",
    "sierra leone",
    "burkina faso",
    "cape verde",
    "trinidad and tobago",
    "vatican city",
    "san marino",
]

US_STATES = words("""
alabama alaska arizona arkansas california colorado connecticut delaware florida hawaii
idaho illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan
minnesota mississippi missouri montana nebraska nevada ohio oklahoma oregon pennsylvania
tennessee texas utah vermont virginia washington wisconsin wyoming
""")

US_STATE_PHRASES = [
    "new hampshire",
    "new jersey",
    "new mexico",
    "new york",
    "north carolina",
    "north dakota",
    "south carolina",
    "south dakota",
    "rhode island",
    "west virginia",
]

CITIES = words("""
london paris berlin madrid rome lisbon dublin amsterdam brussels vienna prague budapest warsaw
athens stockholm oslo copenhagen helsinki reykjavik bern zurich geneva munich hamburg frankfurt
cologne milan naples venice florence barcelona valencia seville porto lyon marseille bordeaux
toulouse manchester liverpool birmingham edinburgh glasgow cardiff belfast leeds bristol oxford
cambridge moscow kyiv kiev minsk riga vilnius tallinn bucharest sofia belgrade zagreb ljubljana
sarajevo skopje tirana istanbul ankara izmir tbilisi yerevan baku tehran baghdad
damascus beirut amman jerusalem riyadh jeddah mecca dubai doha muscat cairo alexandria
casablanca rabat tunis algiers tripoli khartoum nairobi lagos abuja accra dakar kinshasa
luanda johannesburg pretoria durban kampala kigali harare lusaka maputo antananarivo
delhi mumbai bombay kolkata calcutta chennai madras bangalore bengaluru hyderabad pune
ahmedabad karachi lahore islamabad dhaka kathmandu colombo kabul tashkent almaty astana
beijing shanghai shenzhen guangzhou chengdu wuhan tianjin chongqing hangzhou nanjing xian
tokyo osaka kyoto yokohama nagoya sapporo seoul busan pyongyang taipei manila bangkok hanoi
saigon jakarta yangon vientiane ulaanbaatar sydney
melbourne brisbane perth adelaide canberra auckland wellington christchurch toronto montreal
vancouver ottawa calgary edmonton winnipeg quebec chicago houston phoenix philadelphia
dallas austin seattle boston denver detroit miami atlanta portland baltimore nashville memphis
milwaukee minneapolis pittsburgh cleveland cincinnati sacramento honolulu anchorage tucson
albuquerque omaha tampa orlando charlotte raleigh richmond indianapolis columbus
boise oakland brooklyn manhattan guadalajara monterrey havana bogota medellin
caracas lima quito santiago montevideo asuncion brasilia recife
cordoba rosario managua tegucigalpa kingston nassau
""")

CITY_PHRASES = [
    "new york city",
    "los angeles",
    "san francisco",
    "san diego",
    "san jose",
    "san antonio",
    "las vegas",
    "salt lake city",
    "kansas city",
    "st louis",
    "saint louis",
    "new orleans",
    "washington dc",
    "washington d.c.",
    "fort worth",
    "oklahoma city",
    "el paso",
    "mexico city",
    "buenos aires",
    "rio de janeiro",
    "sao paulo",
    "são paulo",
    "tel aviv",
    "abu dhabi",
    "cape town",
    "addis ababa",
    "dar es salaam",
    "kuala lumpur",
    "ho chi minh city",
    "phnom penh",
    "hong kong",
    "new delhi",
    "st petersburg",
    "saint petersburg",
    "the hague",
    "la paz",
    "panama city",
    "guatemala city",
    "san juan",
    "santo domingo",
    "quebec city",
]

# Places that are also everyday words ("china", "turkey", "chile"): names only when capitalised.
# Places that double as first names ("sydney", "jordan") need no such care: a person is a name
# too.
AMBIGUOUS = frozenset(
    words("""
    china turkey chile guinea phoenix panama lima wellington
    """)
)

PLACES: frozenset[str] = frozenset(
    COUNTRIES + COUNTRY_PHRASES + US_STATES + US_STATE_PHRASES + CITIES + CITY_PHRASES
)
# Recognised in lowercase text.
LOWERCASE_PLACES: frozenset[str] = PLACES - AMBIGUOUS
MAX_WORDS = max(len(p.split()) for p in PLACES)
# The first word of every lowercase-recognised place (a quick test before matching phrases).
FIRST_WORDS: frozenset[str] = frozenset(p.split()[0] for p in LOWERCASE_PLACES)
