package tokenizer

import (
	"strings"
	"unicode"
)

// A pretokenizer splits normalized text into the pieces the model encodes
// one by one, calling emit for each non-empty piece in order.
type pretokenizer func(s string, emit func(piece string))

// gpt2Pattern is the pre-tokenization regex of GPT-2, Whisper and tiktoken's
// gpt2/r50k encodings.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// clipPattern is CLIP's pre-tokenization regex (compiled with IGNORECASE).
const clipPattern = `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`

// contraction returns the length of the contraction ('s 't 're 've 'm 'll
// 'd) at the start of s, which begins with an apostrophe, or 0. fold makes
// the letters case-insensitive.
func contraction(s string, fold bool) int {
	if len(s) < 2 {
		return 0
	}
	c := s[1]
	if fold && 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	switch c {
	case 's', 't', 'm', 'd':
		return 2
	}
	if len(s) < 3 {
		return 0
	}
	c2 := s[2]
	if fold && 'A' <= c2 && c2 <= 'Z' {
		c2 += 'a' - 'A'
	}
	switch {
	case c == 'r' && c2 == 'e', c == 'v' && c2 == 'e', c == 'l' && c2 == 'l':
		return 3
	}
	return 0
}

// runEnd returns the end of the run of characters of class c starting at i.
func runEnd(s string, i int, c uint8) int {
	for i < len(s) {
		r, w := decodeRune(s, i)
		if classOf(r) != c {
			break
		}
		i += w
	}
	return i
}

// splitGPT2 splits s exactly as findall with gpt2Pattern does, lookahead
// included: a run of whitespace followed by a non-space gives up its last
// character, which then prefixes the next word when it is a plain space.
// Invalid UTF-8 bytes count as symbols (like U+FFFD) and are kept as is.
func splitGPT2(s string, emit func(string)) {
	gpt2Spans(s, func(i, j int) { emit(s[i:j]) })
}

// gpt2Spans is splitGPT2 reporting the byte spans of the pieces.
func gpt2Spans(s string, emit func(i, j int)) {
	i := 0
	for i < len(s) {
		r, w := decodeRune(s, i)
		if r == '\'' {
			if n := contraction(s[i:], false); n > 0 {
				emit(i, i+n)
				i += n
				continue
			}
		}
		c := classOf(r)
		if r == ' ' && i+1 < len(s) {
			r2, w2 := decodeRune(s, i+1)
			if c2 := classOf(r2); c2 != clsSpace {
				j := runEnd(s, i+1+w2, c2)
				emit(i, j)
				i = j
				continue
			}
		}
		if c != clsSpace {
			j := runEnd(s, i+w, c)
			emit(i, j)
			i = j
			continue
		}
		// \s+(?!\S) then \s+.
		j, last := i+w, i
		for j < len(s) {
			r3, w3 := decodeRune(s, j)
			if classOf(r3) != clsSpace {
				break
			}
			last = j
			j += w3
		}
		if j == len(s) || last == i {
			emit(i, j)
			i = j
		} else {
			emit(i, last)
			i = last
		}
	}
}

// splitCLIP splits s as findall with clipPattern and IGNORECASE does:
// whitespace is dropped, letters run together, every digit stands alone.
// The special-token alternatives are tried only when sot (<|startoftext|>)
// or eot (<|endoftext|>) is set; otherwise such text is ordinary punctuation
// and letters.
func splitCLIP(s string, sot, eot bool, emit func(string)) {
	clipSpans(s, sot, eot, func(i, j int) { emit(s[i:j]) })
}

// clipSpans is splitCLIP reporting the byte spans of the pieces.
func clipSpans(s string, sot, eot bool, emit func(i, j int)) {
	const sotText, eotText = "<|startoftext|>", "<|endoftext|>"
	i := 0
	for i < len(s) {
		if (sot || eot) && s[i] == '<' {
			if sot && len(s)-i >= len(sotText) && strings.EqualFold(s[i:i+len(sotText)], sotText) {
				emit(i, i+len(sotText))
				i += len(sotText)
				continue
			}
			if eot && len(s)-i >= len(eotText) && strings.EqualFold(s[i:i+len(eotText)], eotText) {
				emit(i, i+len(eotText))
				i += len(eotText)
				continue
			}
		}
		r, w := decodeRune(s, i)
		if r == '\'' {
			if n := contraction(s[i:], true); n > 0 {
				emit(i, i+n)
				i += n
				continue
			}
		}
		switch c := classOf(r); c {
		case clsSpace:
			i += w
		case clsNumber:
			emit(i, i+w)
			i += w
		default:
			j := runEnd(s, i+w, c)
			emit(i, j)
			i = j
		}
	}
}

// isBertPunct is BERT's punctuation test: ASCII punctuation and symbols, or
// any Unicode P* character.
func isBertPunct(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return r >= 128 && unicode.IsPunct(r)
}

// splitBert is BERT's pre-tokenizer: split on whitespace, then isolate every
// punctuation character.
func splitBert(s string, emit func(string)) {
	start := -1
	for i := 0; i < len(s); {
		r, w := decodeRune(s, i)
		switch {
		case unicode.IsSpace(r):
			if start >= 0 {
				emit(s[start:i])
				start = -1
			}
		case isBertPunct(r):
			if start >= 0 {
				emit(s[start:i])
				start = -1
			}
			emit(s[i : i+w])
		default:
			if start < 0 {
				start = i
			}
		}
		i += w
	}
	if start >= 0 {
		emit(s[start:])
	}
}

// splitWhitespace splits on Unicode whitespace (tokenizers' WhitespaceSplit).
func splitWhitespace(s string, emit func(string)) {
	for _, f := range strings.FieldsFunc(s, unicode.IsSpace) {
		emit(f)
	}
}

// isWordChar is \w as the tokenizers library's regexes see it.
func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mn, r) ||
		unicode.Is(unicode.Mc, r) || unicode.Is(unicode.Pc, r)
}

// splitWhitespaceWords is tokenizers' Whitespace pre-tokenizer:
// \w+|[^\w\s]+.
func splitWhitespaceWords(s string, emit func(string)) {
	start, kind := -1, 0 // kind 1: word, 2: other
	for i, r := range s {
		k := 2
		switch {
		case unicode.IsSpace(r):
			k = 0
		case isWordChar(r):
			k = 1
		}
		if k != kind && start >= 0 {
			emit(s[start:i])
			start = -1
		}
		if k != 0 && start < 0 {
			start = i
		}
		kind = k
	}
	if start >= 0 {
		emit(s[start:])
	}
}

// chainPretok applies each pre-tokenizer to the pieces of the previous one.
func chainPretok(ps []pretokenizer) pretokenizer {
	switch len(ps) {
	case 0:
		return nil
	case 1:
		return ps[0]
	}
	head, rest := ps[0], chainPretok(ps[1:])
	return func(s string, emit func(string)) {
		head(s, func(piece string) { rest(piece, emit) })
	}
}
