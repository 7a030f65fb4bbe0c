"""Counted words in what loom-post prints: "1 function", "2 functions"."""


def plural(n, word, many=None):
    """`n` and `word`, in the plural (`many`, else word + "s") unless n is 1."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def counted(n, phrase):
    """`n` and a phrase written in the plural, agreeing with n: the first word
    ending in "s" loses it for n == 1 ("functions moved" -> "1 function moved")."""
    if n != 1:
        return f"{n} {phrase}"
    words = phrase.split(" ")
    for i, w in enumerate(words):
        if len(w) > 2 and w.endswith("s") and not w.endswith("ss"):
            words[i] = w[:-1]
            break
    return f"{n} {' '.join(words)}"
