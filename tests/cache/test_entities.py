"""The entity guard: what it extracts, and which question pairs it tells apart."""

from __future__ import annotations

import itertools

import pytest

from llmgw.cache.entities import Entities, disagreement, extract, stem
from llmgw.cache.gazetteer import AMBIGUOUS, LOWERCASE_PLACES, PLACES


def differ(a: str, b: str) -> str | None:
    return disagreement(extract(a), extract(b))


# -- pairs that must be told apart ------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ("What's the weather in Paris?", "What's the weather in London?", "names"),
        ("weather in paris today", "weather in london today", "names"),
        ("Is it raining in paris?", "Is it raining in Paris, Texas?", "names"),
        ("flights to new york", "flights to new delhi", "names"),
        ("Should I take 2 tablets?", "Should I take 3 tablets?", "numbers"),
        ("Should I take two tablets?", "Should I take three tablets?", "numbers"),
        ("What happened in 2023?", "What happened in 2024?", "dates"),
        ("Is the shop open on Monday?", "Is the shop open on Tuesday?", "dates"),
        ("What happened in May?", "What happened in June?", "dates"),
        ("meeting at 3pm", "meeting at 4pm", "dates"),
        ("What is due next week?", "What is due last week?", "dates"),
        ("Who is Alice?", "Who is Bob?", "names"),
        ("Write a poem for Alice", "Write a poem", "names"),
        (
            "Can I take ibuprofen with alcohol?",
            "Can I not take ibuprofen with alcohol?",
            "negation",
        ),
        ("Is it safe?", "Isn't it safe?", "negation"),
        ("Is it safe?", "Is it not safe?", "negation"),
        ("I can swim", "I cannot swim", "negation"),
        ("do it with sugar", "do it without sugar", "negation"),
        ("dont do that", "do that", "negation"),
        ("Why won’t it start?", "Why will it start?", "negation"),
        ("Sort a list in Python", "Sort a list in Java", "names"),
        ("sort a list in python", "sort a list in rust", "names"),
        ("sort a vector in c++", "sort a vector in c#", "names"),
        ("What does NASA do?", "What does ESA do?", "names"),
        ("How do I call df.groupby()?", "How do I call df.merge()?", "names"),
        ("What does `num_columns` return?", "What does `columns` return?", "names"),
        ("Give me 10% off", "Give me 20% off", "numbers"),
        ("Convert 5 km to miles", "Convert 5 kg to pounds", "units"),
        ("What is $100 in yen?", "What is €100 in yen?", "units"),
        ("Book it for 3 days", "Book it for 3 weeks", "units"),
        ("How many days in a year?", "How many weeks in a year?", "units"),
        ("What is ipv4?", "What is ipv6?", "numbers"),
        ("Compare GPT-4 and GPT-3.5", "Compare GPT-4 and GPT-4", "numbers"),
        ("the 3rd of March", "the 4th of March", "numbers"),
        ("Who won the first race?", "Who won the second race?", "numbers"),
        ("Summarise the meeting on 2024-03-05", "Summarise the meeting on 2024-03-06", "dates"),
        ("What did the 1990s sound like?", "What did the 1980s sound like?", "dates"),
    ],
)
def test_pairs_told_apart(a: str, b: str, reason: str) -> None:
    assert differ(a, b) == reason
    assert differ(b, a) == reason


# -- pairs that must agree ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I reset my password?", "What is the way to reset my password"),
        ("What's the capital of France?", "Tell me the capital city of France"),
        ("How do I install Python?", "how do i install python"),
        ("What is Python?", "What is PYTHON?"),
        ("What is a list?", "How is a list made?"),
        ("Where can I buy a car?", "Which shop sells cars?"),
        ("Give me ten ideas", "Give me 10 ideas"),
        ("the 3rd of May", "the third of May"),
        ("It costs $1,000", "It costs 1000 dollars"),
        ("50% off", "fifty percent off"),
        ("5 million people", "five million people"),
        ("a dozen eggs", "12 eggs"),
        ("meeting at 3pm tomorrow", "Meeting at 3 p.m. tomorrow"),
        ("I live in New York", "i live in new york"),
        ("Is Turkey in Europe?", "Is turkey in europe?"),
        ("What is the BEST way to learn?", "what is the best way to learn?"),
        ("Iter_archive() yields tuples.", "The files yielded by iter_archive() are tuples."),
        ("Use an IterableDataset", "Use an Iterable Dataset"),
        ("What is ML?", "What is Machine Learning?"),
        ("sort in js", "sort in JavaScript"),
        ("May I ask a question?", "Can I ask a question?"),
        ("No, it does not exist.", "It does not exist."),
        ("It is not only fast but also cheap", "It is fast and cheap"),
        ("Check whether or not the file exists", "Check whether the file exists"),
        ("One can check the hash", "The hash can be checked"),
        ("one of the best books", "among the best books"),
        ("Install Python first, then run it", "Install Python, then run it"),
        ("It is neither fast nor cheap", "It is not fast or cheap"),
        ("Who wrote Hamlet?", "Hamlet was written by whom?"),
        ("Please summarise this text", "Summarise this text please"),
        ("Alternatively, use the CLI", "You can also use the CLI"),
    ],
)
def test_pairs_that_agree(a: str, b: str) -> None:
    assert differ(a, b) is None
    assert differ(b, a) is None


# -- what is extracted --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("3 apples", {"3"}),
        ("3.5 litres", {"3.5"}),
        ("3.50 dollars", {"3.5"}),
        ("1,000 rows", {"1000"}),
        ("10,000,000 rows", {"10000000"}),
        ("ten rows", {"10"}),
        ("twenty five rows", {"25"}),
        ("twenty-five rows", {"25"}),
        ("two hundred thousand rows", {"200000"}),
        ("a hundred rows", {"100"}),
        ("1.5 billion", {"1500000000"}),
        ("50%", {"50%"}),
        ("50 percent", {"50%"}),
        ("the 3rd one", {"3"}),
        ("the 21st century", {"21"}),
        ("the first time", {"1"}),
        ("the twelfth night", {"12"}),
        ("-5 degrees", {"-5"}),
        ("pages 3-5", {"3", "5"}),
        ("version v2.10.0", {"2.10.0"}),
        ("at first it failed", set()),
        ("wait a second", set()),
        ("one of them", set()),
        ("one can see", set()),
        ("one apple", {"1"}),
        ("a single column", {"1"}),
        ("no numbers here", set()),
    ],
)
def test_numbers(text: str, numbers: set[str]) -> None:
    assert extract(text).numbers == numbers


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("in 2023", {"2023"}),
        ("in 1999 and 2024", {"1999", "2024"}),
        ("on Monday", {"monday"}),
        ("on mondays", {"monday"}),
        ("in March", {"march"}),
        ("in march", {"march"}),
        ("March 5", {"march"}),
        ("Sept 5", {"september"}),
        ("due Fri", {"friday"}),
        ("today or tomorrow", {"today", "tomorrow"}),
        ("yesterday", {"yesterday"}),
        ("next week", {"next week"}),
        ("this Monday", {"this monday"}),
        ("2024-3-5", {"2024-03-05"}),
        ("5/3/2024", {"5/3/2024"}),
        ("at 10:30", {"10:30"}),
        ("at 9 am", {"9am"}),
        ("in summer", {"summer"}),
        ("You may go", set()),
        ("May I go?", set()),
        ("soldiers march on", set()),
        ("1000 dollars", set()),  # an amount, not a year
        ("$2000", set()),
        ("3000 rows", set()),  # out of the year range
    ],
)
def test_dates(text: str, dates: set[str]) -> None:
    assert extract(text).dates == dates


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("What is the capital of France?", {"france"}),
        ("Paris is nice", {"paris"}),
        ("weather in paris", {"paris"}),
        ("flights to new york city", {"new york city"}),
        ("I moved to New York", {"new york"}),
        ("Ask Alice and Bob", {"alice", "bob"}),
        ("Hugging Face Hub hosts models", {"hugging face hub"}),
        ("What does NASA do?", {"nasa"}),
        ("How do I use PyTorch?", {"pytorch"}),
        ("What is an iPhone?", {"iphone"}),
        ("What is Python?", {"python"}),
        ("learn python", {"python"}),
        ("learn js", {"javascript"}),
        ("learn c++", {"c++"}),
        ("call dataset.map()", {"dataset.map"}),
        ("set `num_proc`", {"num_proc"}),
        ("use push_to_hub", {"push_to_hub"}),
        ("How do I cook turkey?", set()),  # a bird, unless capitalised
        ("made in china", set()),
        ("What time is it?", set()),
        ("How do I reset my password?", set()),
        ("I think I can", set()),
        ("Tell me a joke", set()),
        ("On Monday I went home", set()),  # days are dates, not names
        ("Alternatively, run it", set()),
        ("e.g. this one", set()),
    ],
)
def test_names(text: str, names: set[str]) -> None:
    assert extract(text).names == names


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("it works", False),
        ("it does not work", True),
        ("it doesn't work", True),
        ("it doesn’t work", True),
        ("it doesnt work", True),
        ("it can't work", True),
        ("it cannot work", True),
        ("it never works", True),
        ("nobody knows", True),
        ("nothing works", True),
        ("none of them", True),
        ("without sugar", True),
        ("no sugar", True),
        ("it is not untrue that it does not work", False),  # two cues: even
        ("neither this nor that", True),  # one negation
        ("not only this but also that", False),
        ("whether or not it works", False),
        ("No, it is not.", True),  # the interjection repeats the negation
        ("No sugar, please", True),
    ],
)
def test_negation(text: str, negated: bool) -> None:
    assert extract(text).negated is negated


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("$5", {"usd"}),
        ("5 dollars", {"usd"}),
        ("€5 or £5", {"eur", "gbp"}),
        ("5 km", {"km"}),
        ("5 kilometres", {"km"}),
        ("30°C", {"celsius"}),
        ("3 days", {"day"}),
        ("the days are long", set()),  # time words count only after a number
        ("ML models", set()),  # machine learning, not millilitres
        ("500 ml of milk", {"ml"}),
        ("2 GB of RAM", {"gb"}),
    ],
)
def test_units(text: str, units: set[str]) -> None:
    assert extract(text).units == units


def test_sentence_start_is_not_a_name_unless_uncommon() -> None:
    assert extract("What is love?").names == frozenset()
    assert extract("How are you?").names == frozenset()
    assert extract("Storing data is cheap.").names == frozenset()  # an ordinary -ing word
    assert extract("Alice is here.").names == {"alice"}
    assert extract("Beijing is big.").names == {"beijing"}  # a place overrides the ending rule
    # every sentence has its own start
    assert extract("It is late. What now? Bob left.").names == {"bob"}


def test_mentions_match_across_case_and_spacing() -> None:
    a = extract("What does Datasets.Load_Dataset do?")
    b = extract("what does datasets.load_dataset do?")
    assert disagreement(a, b) is None
    # a name has to be there in full: one matching word is not enough
    assert differ("Weather in New York", "Weather in York") == "names"


def test_disagreement_order_and_defaults() -> None:
    # numbers are reported before dates, dates before names, names before negation
    assert differ("2 trains to Paris in 2023", "3 trains to Rome in 2024") == "numbers"
    assert differ("trains to Paris in 2023", "trains to Rome in 2024") == "dates"
    assert differ("trains to Paris", "no trains to Rome") == "names"
    # Entities built by hand (no words) compare names as plain sets
    bare = Entities(frozenset(), frozenset(), frozenset({"paris"}), False)
    assert disagreement(bare, bare) is None
    other = Entities(frozenset(), frozenset(), frozenset({"london"}), False)
    assert disagreement(bare, other) == "names"
    assert disagreement(bare, Entities(frozenset(), frozenset(), frozenset({"paris"}), True)) == (
        "negation"
    )


def test_disagreement_is_symmetric() -> None:
    texts = [
        "What's the weather in Paris?",
        "weather in paris",
        "Can I take 2 tablets?",
        "can i not take two tablets",
        "What happened in 2023 in London?",
        "Is Python faster than Java?",
        "is python faster than java",
        "How do I reset my password?",
        "Use `dataset.map()` for that",
        "Use dataset.map() for that",
        "It costs $5 on Monday",
    ]
    for a, b in itertools.product(texts, repeat=2):
        assert (differ(a, b) is None) == (differ(b, a) is None), (a, b)
        if a == b:
            assert differ(a, b) is None


def test_extract_is_robust_to_odd_input() -> None:
    for text in ["", " ", "???", "\n\n", "`", "``", "()", "1,2,3", "-", "°", "😀 🤗", "a" * 10_000]:
        assert isinstance(extract(text), Entities)
    assert extract("") == Entities(frozenset(), frozenset(), frozenset(), False)


def test_stem() -> None:
    assert stem("Datasets") == "dataset"
    assert stem("France's") == "france"
    assert stem("libraries") == "library"
    assert stem("class") == "class"
    assert stem("is") == "is"


def test_gazetteer_is_lowercase_and_consistent() -> None:
    assert len(PLACES) >= 300
    assert all(p == p.lower() and p.strip() == p for p in PLACES)
    assert AMBIGUOUS <= PLACES
    assert not AMBIGUOUS & LOWERCASE_PLACES
    for place in ["paris", "london", "texas", "new york", "united states", "rio de janeiro"]:
        assert place in LOWERCASE_PLACES
