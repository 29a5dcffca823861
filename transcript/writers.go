// Package transcript writes transcripts (task.Transcript, from any speech
// family) in the formats of OpenAI's whisper command: text, SRT and WebVTT
// subtitles (with its line-splitting and word-highlighting options), TSV and
// its JSON, byte for byte as OpenAI's writers produce them.
package transcript

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goformer/goformer/task"
)

// WriterOptions configure the subtitle writers for results with word
// timestamps, as the options of OpenAI's CLI do. The zero value keeps one
// subtitle per segment.
type WriterOptions struct {
	// MaxLineWidth is the number of characters in a line before breaking
	// it (0: no limit).
	MaxLineWidth int
	// MaxLineCount is the number of lines in a subtitle (0: no limit); with
	// MaxLineWidth it lets subtitles span segments.
	MaxLineCount int
	// MaxWordsPerLine bounds the words of a line (0: no limit; ignored with
	// MaxLineWidth as in OpenAI's CLI only when both are set).
	MaxWordsPerLine int
	// HighlightWords underlines each word as it is spoken.
	HighlightWords bool
}

// FormatTimestamp renders seconds as OpenAI's format_timestamp does:
// [HH:]MM:SS<marker>mmm, hours always with alwaysHours.
func FormatTimestamp(seconds float64, alwaysHours bool, marker string) string {
	if seconds < 0 || math.IsNaN(seconds) {
		seconds = 0
	}
	ms := int64(math.RoundToEven(seconds * 1000))
	h := ms / 3_600_000
	ms -= h * 3_600_000
	m := ms / 60_000
	ms -= m * 60_000
	s := ms / 1000
	ms -= s * 1000
	hours := ""
	if alwaysHours || h > 0 {
		hours = fmt.Sprintf("%02d:", h)
	}
	return fmt.Sprintf("%s%02d:%02d%s%03d", hours, m, s, marker, ms)
}

type cue struct{ start, end, text string }

// subtitleCues is OpenAI's SubtitlesWriter.iterate_result.
func subtitleCues(r *task.Transcript, o WriterOptions, alwaysHours bool, marker string) []cue {
	ts := func(x float64) string { return FormatTimestamp(x, alwaysHours, marker) }
	var out []cue
	hasWords := len(r.Segments) > 0 && hasWords(r, r.Segments[0])
	if !hasWords {
		for _, s := range r.Segments {
			out = append(out, cue{ts(s.Start), ts(s.End), strings.ReplaceAll(Strip(s.Text), "-->", "->")})
		}
		return out
	}
	preserveSegments := o.MaxLineCount == 0 || o.MaxLineWidth == 0
	maxLineWidth := o.MaxLineWidth
	if maxLineWidth == 0 {
		maxLineWidth = 1000
	}
	maxWordsPerLine := o.MaxWordsPerLine
	if maxWordsPerLine == 0 {
		maxWordsPerLine = 1000
	}
	var subtitles [][]task.Word
	lineLen, lineCount := 0, 1
	var subtitle []task.Word
	// get_start: the first word's start, else the first segment's
	last := r.Segments[0].Start
	for _, s := range r.Segments {
		if len(s.Words) > 0 {
			last = s.Words[0].Start
			break
		}
	}
	for _, seg := range r.Segments {
		chunk := 0
		wordsCount := maxWordsPerLine
		for chunk < len(seg.Words) {
			remaining := len(seg.Words) - chunk
			if maxWordsPerLine > remaining {
				wordsCount = remaining
			}
			for i, orig := range seg.Words[chunk:min(chunk+wordsCount, len(seg.Words))] {
				timing := orig
				wl := utf8.RuneCountInString(timing.Word)
				longPause := !preserveSegments && timing.Start-last > 3.0
				hasRoom := lineLen+wl <= maxLineWidth
				segBreak := i == 0 && len(subtitle) > 0 && preserveSegments
				if lineLen > 0 && hasRoom && !longPause && !segBreak {
					lineLen += wl
				} else {
					timing.Word = Strip(timing.Word)
					if (len(subtitle) > 0 && o.MaxLineCount != 0 && (longPause || lineCount >= o.MaxLineCount)) || segBreak {
						subtitles = append(subtitles, subtitle)
						subtitle = nil
						lineCount = 1
					} else if lineLen > 0 {
						lineCount++
						timing.Word = "\n" + timing.Word
					}
					lineLen = utf8.RuneCountInString(Strip(timing.Word))
				}
				subtitle = append(subtitle, timing)
				last = timing.Start
			}
			chunk += maxWordsPerLine
		}
	}
	if len(subtitle) > 0 {
		subtitles = append(subtitles, subtitle)
	}
	for _, sub := range subtitles {
		start, end := ts(sub[0].Start), ts(sub[len(sub)-1].End)
		var text strings.Builder
		for _, w := range sub {
			text.WriteString(w.Word)
		}
		if !o.HighlightWords {
			out = append(out, cue{start, end, text.String()})
			continue
		}
		lastTS := start
		for i, w := range sub {
			ws, we := ts(w.Start), ts(w.End)
			if lastTS != ws {
				out = append(out, cue{lastTS, ws, text.String()})
			}
			var b strings.Builder
			for j, x := range sub {
				if j == i {
					b.WriteString(underline(x.Word))
				} else {
					b.WriteString(x.Word)
				}
			}
			out = append(out, cue{ws, we, b.String()})
			lastTS = we
		}
	}
	return out
}

var underlineRe = regexp.MustCompile(`(?s)^(\s*)(.*)$`)

func underline(w string) string { return underlineRe.ReplaceAllString(w, "$1<u>$2</u>") }

// hasWords reports whether the segment came from a word-timestamp run
// (Words may be empty for a segment of one).
func hasWords(r *task.Transcript, s task.Segment) bool { return r.Words || s.Words != nil }

// WriteSRT writes SubRip subtitles as `whisper --output_format srt` does.
func WriteSRT(w io.Writer, r *task.Transcript) error { return WriteSRTWith(w, r, WriterOptions{}) }

// WriteSRTWith is WriteSRT with word-level line options.
func WriteSRTWith(w io.Writer, r *task.Transcript, o WriterOptions) error {
	bw := bufio.NewWriter(w)
	for i, c := range subtitleCues(r, o, true, ",") {
		fmt.Fprintf(bw, "%d\n%s --> %s\n%s\n\n", i+1, c.start, c.end, c.text)
	}
	return bw.Flush()
}

// WriteVTT writes WebVTT subtitles as `whisper --output_format vtt` does.
func WriteVTT(w io.Writer, r *task.Transcript) error { return WriteVTTWith(w, r, WriterOptions{}) }

// WriteVTTWith is WriteVTT with word-level line options.
func WriteVTTWith(w io.Writer, r *task.Transcript, o WriterOptions) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("WEBVTT\n\n")
	for _, c := range subtitleCues(r, o, false, ".") {
		fmt.Fprintf(bw, "%s --> %s\n%s\n\n", c.start, c.end, c.text)
	}
	return bw.Flush()
}

// WriteText writes one line per segment (`--output_format txt`).
func WriteText(w io.Writer, r *task.Transcript) error {
	bw := bufio.NewWriter(w)
	for _, s := range r.Segments {
		bw.WriteString(Strip(s.Text))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// WriteTSV writes start and end in integer milliseconds and the text, tab
// separated (`--output_format tsv`).
func WriteTSV(w io.Writer, r *task.Transcript) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("start\tend\ttext\n")
	for _, s := range r.Segments {
		fmt.Fprintf(bw, "%d\t%d\t%s\n", int64(math.RoundToEven(1000*s.Start)), int64(math.RoundToEven(1000*s.End)),
			strings.ReplaceAll(Strip(s.Text), "\t", " "))
	}
	return bw.Flush()
}

// WriteJSON writes the result as `whisper --output_format json` does
// (json.dump of transcribe()'s dict: text, segments with id, seek, start,
// end, text, tokens, temperature, avg_logprob, compression_ratio,
// no_speech_prob and, with word timestamps, words; then language), byte
// for byte: Python's separators, float formatting and ASCII escaping.
func WriteJSON(w io.Writer, r *task.Transcript) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(`{"text": `)
	pyJSONString(bw, r.Text)
	bw.WriteString(`, "segments": [`)
	for i, s := range r.Segments {
		if i > 0 {
			bw.WriteString(", ")
		}
		fmt.Fprintf(bw, `{"id": %d, "seek": %d, "start": %s, "end": %s, "text": `, s.ID, s.Seek, pyFloat(s.Start), pyFloat(s.End))
		pyJSONString(bw, s.Text)
		bw.WriteString(`, "tokens": [`)
		for j, t := range s.Tokens {
			if j > 0 {
				bw.WriteString(", ")
			}
			bw.WriteString(strconv.Itoa(t))
		}
		fmt.Fprintf(bw, `], "temperature": %s, "avg_logprob": %s, "compression_ratio": %s, "no_speech_prob": %s`,
			pyFloat(s.Temperature), pyFloat(s.AvgLogprob), pyFloat(s.CompressionRatio), pyFloat(s.NoSpeechProb))
		if hasWords(r, s) {
			bw.WriteString(`, "words": [`)
			for j, wd := range s.Words {
				if j > 0 {
					bw.WriteString(", ")
				}
				bw.WriteString(`{"word": `)
				pyJSONString(bw, wd.Word)
				fmt.Fprintf(bw, `, "start": %s, "end": %s, "probability": %s}`, pyFloat(wd.Start), pyFloat(wd.End), pyFloat(wd.Probability))
			}
			bw.WriteString("]")
		}
		bw.WriteString("}")
	}
	bw.WriteString(`], "language": `)
	pyJSONString(bw, r.Language)
	bw.WriteString("}")
	return bw.Flush()
}

// pyFloat formats x as Python's float repr (and json.dumps) does.
func pyFloat(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "Infinity"
	case math.IsInf(x, -1):
		return "-Infinity"
	}
	if x == 0 {
		if math.Signbit(x) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(x, 'e', -1, 64) // d.ddde±XX
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1
	if decpt > -4 && decpt <= 16 {
		var s string
		switch {
		case decpt <= 0:
			s = "0." + strings.Repeat("0", -decpt) + digits
		case decpt >= len(digits):
			s = digits + strings.Repeat("0", decpt-len(digits)) + ".0"
		default:
			s = digits[:decpt] + "." + digits[decpt:]
		}
		return sign + s
	}
	m := digits[:1]
	if len(digits) > 1 {
		m += "." + digits[1:]
	}
	es := "+"
	if exp < 0 {
		es, exp = "-", -exp
	}
	return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
}

// pyJSONString writes s as json.dumps(s) does with ensure_ascii=True.
func pyJSONString(w *bufio.Writer, s string) {
	w.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			w.WriteString(`\"`)
		case '\\':
			w.WriteString(`\\`)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		case '\t':
			w.WriteString(`\t`)
		case '\b':
			w.WriteString(`\b`)
		case '\f':
			w.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (r >= 0x7f && r < 0x10000):
				fmt.Fprintf(w, `\u%04x`, r)
			case r >= 0x10000:
				r -= 0x10000
				fmt.Fprintf(w, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			default:
				w.WriteRune(r)
			}
		}
	}
	w.WriteByte('"')
}

// Strip removes leading and trailing white space as Python's str.strip()
// does (which differs from unicode.IsSpace).
func Strip(s string) string { return strings.TrimFunc(s, IsSpace) }

// IsSpace reports whether Python's str.isspace() holds for r.
func IsSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680,
		0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}
