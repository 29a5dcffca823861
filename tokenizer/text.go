package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Character classes of the pre-tokenization regexes: \s, \p{L}, \p{N} and
// everything else.
const (
	clsSpace = iota
	clsLetter
	clsNumber
	clsOther
)

var asciiClass [128]uint8

func init() {
	for c := 0; c < 128; c++ {
		r := rune(c)
		switch {
		case unicode.IsSpace(r):
			asciiClass[c] = clsSpace
		case unicode.IsLetter(r):
			asciiClass[c] = clsLetter
		case unicode.IsNumber(r):
			asciiClass[c] = clsNumber
		default:
			asciiClass[c] = clsOther
		}
	}
}

// classOf classifies r as the `regex` module classifies it: \s is the
// Unicode White_Space property (which is what unicode.IsSpace tests), \p{L}
// letters, \p{N} numbers. utf8.RuneError, which stands for an invalid byte,
// is a symbol (So) and so falls in clsOther.
func classOf(r rune) uint8 {
	if r < utf8.RuneSelf {
		return asciiClass[r]
	}
	switch {
	case unicode.IsSpace(r):
		return clsSpace
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	}
	return clsOther
}

// decodeRune is utf8.DecodeRuneInString from offset i.
func decodeRune(s string, i int) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// pyIsSpace reports whether Python's str.isspace holds for r: category Zs or
// bidirectional class WS, B or S. That is White_Space plus U+001C..U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip is Python's str.strip() with no argument.
func pyStrip(s string) string {
	return strings.TrimFunc(s, pyIsSpace)
}

// lowerFull lowercases s with the full Unicode lowercase mapping, character by
// character, as the tokenizers library (Rust's char::to_lowercase) does:
// U+0130 becomes "i̇"; there is no final-sigma rule.
func lowerFull(s string) string {
	ascii := true
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			upper = true
		}
	}
	if ascii {
		if !upper {
			return s
		}
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		if r == 0x130 {
			b.WriteString("i\u0307")
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// cleanUpTokenization is transformers' clean_up_tokenization, applied by
// decode when clean_up_tokenization_spaces is on: the chain of str.replace
// calls, in order (a single-pass replacer would differ on inputs such as
// " ' .").
func cleanUpTokenization(s string) string {
	if !strings.ContainsRune(s, ' ') {
		return s
	}
	for _, p := range cleanUpPairs {
		if strings.Contains(s, p[0]) {
			s = strings.ReplaceAll(s, p[0], p[1])
		}
	}
	return s
}

var cleanUpPairs = [...][2]string{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
	{" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}
