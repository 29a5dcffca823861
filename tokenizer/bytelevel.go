package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// GPT-2's bytes_to_unicode: every byte maps to a printable character so that
// byte-level BPE vocabularies can be stored as text. Printable Latin-1 bytes
// map to themselves; the others (controls, space, 0x7F-0xA0, 0xAD) map to
// U+0100 onwards, in byte order.
var (
	byteToRune   [256]rune
	byteToString [256]string
	runeToByte   = map[rune]byte{}
)

func init() {
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !printable(b) {
			r = rune(256 + n)
			n++
		}
		byteToRune[b] = r
		byteToString[b] = string(r)
		runeToByte[r] = byte(b)
	}
}

// byteLevelEncode maps raw bytes to their byte-level string form.
func byteLevelEncode(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) * 2)
	for _, c := range b {
		sb.WriteRune(byteToRune[c])
	}
	return sb.String()
}

// byteLevelDecode maps a byte-level token back to raw bytes. ok is false when
// some character is not one of the 256 byte characters (an added token such
// as "<|startoftranscript|>" passes, since printable ASCII maps to itself).
func byteLevelDecode(tok string) (b []byte, ok bool) {
	b = make([]byte, 0, len(tok))
	for _, r := range tok {
		c, found := runeToByte[r]
		if !found {
			return nil, false
		}
		b = append(b, c)
	}
	return b, true
}

// utf8SeqInfo returns, for a lead byte, the sequence length and the valid
// range of the second byte; n == 0 marks a byte that cannot start a sequence.
func utf8SeqInfo(c byte) (n int, lo, hi byte) {
	switch {
	case c < 0x80:
		return 1, 0, 0
	case c >= 0xC2 && c <= 0xDF:
		return 2, 0x80, 0xBF
	case c == 0xE0:
		return 3, 0xA0, 0xBF
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		return 3, 0x80, 0xBF
	case c == 0xED:
		return 3, 0x80, 0x9F
	case c == 0xF0:
		return 4, 0x90, 0xBF
	case c >= 0xF1 && c <= 0xF3:
		return 4, 0x80, 0xBF
	case c == 0xF4:
		return 4, 0x80, 0x8F
	}
	return 0, 0, 0
}

// utf8Scan looks at the sequence starting at b[0] (len(b) > 0). It returns
// the number of bytes it spans and whether they form a valid character.
// For an invalid sequence the span is Python's "maximal subpart": the lead
// byte and the continuation bytes that were valid so far (at least 1), which
// errors="replace" turns into a single U+FFFD. incomplete reports that the
// span is a valid but unfinished prefix that reaches the end of b.
func utf8Scan(b []byte) (span int, valid, incomplete bool) {
	n, lo, hi := utf8SeqInfo(b[0])
	switch n {
	case 0:
		return 1, false, false
	case 1:
		return 1, true, false
	}
	for k := 1; k < n; k++ {
		if k >= len(b) {
			return k, false, true
		}
		c := b[k]
		if k == 1 {
			if c < lo || c > hi {
				return 1, false, false
			}
		} else if c < 0x80 || c > 0xBF {
			return k, false, false
		}
	}
	return n, true, false
}

// decodeUTF8Replace decodes b as Python's bytes.decode("utf-8",
// errors="replace") does: each maximal invalid subpart becomes one U+FFFD.
func decodeUTF8Replace(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		span, valid, _ := utf8Scan(b[i:])
		if valid {
			sb.Write(b[i : i+span])
		} else {
			sb.WriteRune(utf8.RuneError)
		}
		i += span
	}
	return sb.String()
}

// pyUTF8Replace is decodeUTF8Replace for a string that may hold invalid
// UTF-8: what Python shows after a byte round trip with errors="replace".
func pyUTF8Replace(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return decodeUTF8Replace([]byte(s))
}

// completePrefix returns how many leading bytes of b can be decoded now
// without waiting for more input: all of b except a trailing valid but
// unfinished UTF-8 sequence. Decoding b[:n] and, later, b[n:] plus what
// follows gives the same text as decoding everything at once, because n is a
// boundary of the left-to-right scan.
func completePrefix(b []byte) int {
	for i := 0; i < len(b); {
		span, _, incomplete := utf8Scan(b[i:])
		if incomplete {
			return i
		}
		i += span
	}
	return len(b)
}

// ByteLevelToken returns the byte-level spelling of raw bytes, as GPT-2
// style vocabularies store tokens: ByteLevelToken([]byte(" hi")) is "Ġhi".
func ByteLevelToken(b []byte) string { return byteLevelEncode(b) }
