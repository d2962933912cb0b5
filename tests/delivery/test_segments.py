"""Segment counts by GSM 03.38, against counts worked out by hand."""

import pytest

from mifumo.delivery.segments import count_segments


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("", "gsm7", 1),
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),  # 161 septets: 153 + 8
        ("a" * 306, "gsm7", 2),
        ("a" * 307, "gsm7", 3),
        ("€" * 80, "gsm7", 1),  # 80 extension characters = 160 septets
        ("€" * 81, "gsm7", 2),
        ("a" * 70, "gsm7", 1),
        ("a" * 69 + "’", "ucs2", 1),  # a smart quote forces UCS-2: 70 units
        ("a" * 70 + "’", "ucs2", 2),  # 71 units: 67 + 4
        ("😀" * 35, "ucs2", 1),  # 35 emoji = 70 UTF-16 units
        ("😀" * 36, "ucs2", 2),
    ],
)
def test_it_counts_segments_like_the_standard(text, encoding, segments):
    result = count_segments(text)
    assert (result.encoding, result.segments) == (encoding, segments)


def test_it_never_splits_an_escape_pair_across_segments():
    # 306 septets would fit two segments of 153 if split anywhere, but the escape pair of
    # "€" cannot straddle the boundary after septet 153: it moves, and a third segment follows.
    text = "a" * 152 + "€" + "a" * 152
    assert count_segments(text).units == 306
    assert count_segments(text).segments == 3
    assert count_segments("a" * 151 + "€" + "a" * 153).segments == 2


def test_it_never_splits_a_surrogate_pair_across_ucs2_segments():
    text = "’" + "a" * 65 + "😀" + "a" * 10  # 66 units, then an emoji needing 67-68
    assert count_segments(text).segments == 2
    text = "’" + "a" * 66 + "😀"  # 67 + 2 = 69 units: one segment (<= 70)
    assert count_segments(text).segments == 1
    text = "’" + "a" * 66 + "😀" + "a" * 2  # 71 units; the emoji cannot straddle 67
    assert count_segments(text).segments == 2


def test_it_names_the_characters_that_force_ucs2_and_where_they_are():
    result = count_segments("Habari\u00a0mzazi, tafadhali ‘njoo’ kesho")
    assert result.encoding == "ucs2"
    assert [(c.character, c.position) for c in result.ucs2_characters] == [
        ("\u00a0", 6),
        ("‘", 24),
        ("’", 29),
    ]
    assert result.ucs2_characters[0].name == "NO-BREAK SPACE"


def test_swahili_and_french_text_stays_gsm7_when_it_can():
    assert count_segments("Habari ya asubuhi, mzazi wa Juma").encoding == "gsm7"
    assert count_segments("Réunion à 18h, élèves de 2ème année").encoding == "gsm7"
    assert count_segments("Leçon annulée").encoding == "ucs2"  # lower-case ç is not in GSM 7-bit


def test_the_fast_path_counts_exactly_as_the_character_walk_does():
    """count_segments decides common texts with a regex; every answer must equal the walk
    over characters, including extension pairs near the 153-septet boundaries."""
    import random

    from mifumo.delivery.segments import (
        GSM7_BASIC,
        GSM7_EXTENSION,
        _count_segments_by_character,
        count_segments,
    )

    gsm = GSM7_BASIC.replace("\x1b", "") + GSM7_EXTENSION
    mixed = gsm + GSM7_EXTENSION * 5 + "’😀ç\u00a0"
    generator = random.Random(20261122)
    for index in range(20_000):
        pool = mixed if index % 3 == 0 else gsm
        text = "".join(generator.choice(pool) for _ in range(generator.randint(0, 480)))
        assert count_segments(text) == _count_segments_by_character(text), repr(text)
