"""Name pools and email helpers for the demo district.

The pools deliberately mix plain ASCII names with accents, apostrophes and
HTML-looking text: real SIS exports contain all of them, and the admin pages must
escape what they show. Emails are always derived from an ASCII slug of the name so
they stay valid whatever the display name contains.
"""

from __future__ import annotations

import re
import unicodedata

# fmt: off
GIVEN_NAMES = [
    "Ava", "Liam", "Noah", "Emma", "Olivia", "Mia", "Lucas", "Amelia", "Ethan", "Harper",
    "Mason", "Ella", "Logan", "Aria", "James", "Chloe", "Aiden", "Grace", "Elijah", "Lily",
    "Benjamin", "Zoey", "Henry", "Nora", "Samuel", "Hannah", "Daniel", "Layla", "Owen", "Ruby",
    "Isaac", "Stella", "Caleb", "Naomi", "Leo", "Alice", "Ezra", "Sofia", "Miles", "Iris",
    "José", "Zoë", "Chloé", "Renée", "Søren", "Björn", "Łukasz", "Siobhán", "Inès", "Mateo",
    "Aoife", "Ngozi", "Wei", "Yuki", "Priya", "Omar", "Fatima", "Kwame", "Anaïs", "François",
]
FAMILY_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Lopez",
    "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson",
    "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "O'Brien", "D'Angelo", "O'Neil", "Núñez", "Müller", "Ødegaard", "Crème", "Dvořák",
    "Çelik", "Björk", "Ramírez", "Le Blanc", "Van der Berg", "Okafor", "Kowalski", "Nakamura",
]
#: Display names that look like markup: they must be shown escaped, never rendered.
HTML_NAMES = ["<b>Bold</b>", "<script>alert(1)</script>", "Tom & Jerry", '"Quoted" <i>x</i>']
MIDDLE_NAMES = ["", "", "", "A.", "Marie", "Lee", "Jean", "Ann", "J."]
SUBJECTS = [
    ("Math", "MATH"), ("English", "ENG"), ("Science", "SCI"), ("History", "HIST"),
    ("Art", "ART"), ("Music", "MUS"), ("Physical Education", "PE"), ("Spanish", "SPAN"),
    ("French", "FREN"), ("Computer Science", "CS"), ("Biology", "BIO"), ("Chemistry", "CHEM"),
]
SCHOOL_WORDS = [
    "Lincoln", "Washington", "Riverside", "Oak Hill", "Maple", "Cedar Grove", "Lakeview",
    "Hillcrest", "Sunnyvale", "Brookside", "Pinecrest", "Westwood", "Fairview", "Highland",
    "Meadowbrook", "Northgate", "Eastside", "Greenfield", "Springdale", "Willow Creek",
]
# fmt: on
SCHOOL_KINDS = ["Elementary School", "Middle School", "High School", "Academy"]

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """ASCII-fold and lowercase ``text`` for use in usernames and email local parts."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    folded = re.sub(r"<[^>]*>", "", folded)
    return _NON_ALNUM.sub("", folded.lower()) or "user"
