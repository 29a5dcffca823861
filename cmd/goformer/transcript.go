package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/tokenizer"
	"github.com/goformer/goformer/transcript"
)

// Transcript formats: the response_format values of OpenAI's audio API.
// The CLI writes exactly what the server returns for the same format.
var transcriptFormats = []string{"text", "json", "verbose_json", "srt", "vtt"}

func validTranscriptFormat(f string) bool {
	for _, x := range transcriptFormats {
		if x == f {
			return true
		}
	}
	return false
}

// contentType is the media type of a transcript format.
func contentType(format string) string {
	switch format {
	case "json", "verbose_json":
		return "application/json"
	case "vtt":
		return "text/vtt; charset=utf-8"
	}
	return "text/plain; charset=utf-8"
}

// verboseTranscript is OpenAI's verbose_json transcription object.
type verboseTranscript struct {
	Task     string  `json:"task"`
	Language string  `json:"language"`
	Duration float64 `json:"duration"`
	Text     string  `json:"text"`
	// Segments are the transcript's segments without their words (which
	// verbose_json lists apart, in Words), times rounded.
	Segments []goformer.Segment `json:"segments,omitempty"`
	Words    []verboseWord      `json:"words,omitempty"`
}

type verboseWord struct {
	Word  string  `json:"word"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// granularities selects the parts of verbose_json (OpenAI's
// timestamp_granularities[]): segments unless only words are asked for.
type granularities struct{ segments, words bool }

// round3 keeps times and statistics readable (OpenAI's API reports two to
// three decimals; goformer keeps three).
func round3(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return math.Round(x*1000) / 1000
}

// writeTranscript writes t in one of transcriptFormats.
func writeTranscript(w io.Writer, t *Transcript, format string, g granularities) error {
	r := t
	text := strings.TrimSpace(r.Text)
	switch format {
	case "text":
		_, err := fmt.Fprintln(w, text)
		return err
	case "json":
		return writeJSON(w, map[string]string{"text": text})
	case "verbose_json":
		v := verboseTranscript{Task: t.Task, Duration: round3(t.Duration), Text: text}
		if r.Language != "" {
			v.Language = tokenizer.LanguageName(r.Language)
			if v.Language == "" {
				v.Language = r.Language
			}
		}
		if g.segments {
			v.Segments = []goformer.Segment{}
			for _, s := range r.Segments {
				if s.Tokens == nil {
					s.Tokens = []int{}
				}
				s.Start, s.End, s.Words = round3(s.Start), round3(s.End), nil
				v.Segments = append(v.Segments, s)
			}
		}
		if g.words && t.Words {
			v.Words = []verboseWord{}
			for _, s := range r.Segments {
				for _, wd := range s.Words {
					v.Words = append(v.Words, verboseWord{Word: strings.TrimSpace(wd.Word), Start: round3(wd.Start), End: round3(wd.End)})
				}
			}
		}
		return writeJSON(w, v)
	case "srt":
		return transcript.WriteSRT(w, r)
	case "vtt":
		return transcript.WriteVTT(w, r)
	}
	return fmt.Errorf("%w: response format %q (want %s)", errBadInput, format, strings.Join(transcriptFormats, ", "))
}

// writeTimestamped writes one "[start --> end]  text" line per segment (and,
// with word timestamps, an indented line per word): the CLI's -timestamps
// text output.
func writeTimestamped(w io.Writer, t *Transcript) error {
	ts := func(x float64) string { return transcript.FormatTimestamp(x, false, ".") }
	for _, s := range t.Segments {
		if _, err := fmt.Fprintf(w, "[%s --> %s]  %s\n", ts(s.Start), ts(s.End), strings.TrimSpace(s.Text)); err != nil {
			return err
		}
		for _, wd := range s.Words {
			if _, err := fmt.Fprintf(w, "    [%s --> %s]  %s\n", ts(wd.Start), ts(wd.End), strings.TrimSpace(wd.Word)); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeJSON writes v as indented JSON without HTML escaping.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// transcriptExt is the file extension of each format in -output-dir.
var transcriptExt = map[string]string{
	"text": ".txt", "json": ".json", "verbose_json": ".verbose.json", "srt": ".srt", "vtt": ".vtt",
}

// writeTranscriptFiles writes t in every format into dir, named after the
// input (its base name without extension; "stdin" for standard input).
func writeTranscriptFiles(dir, input string, t *Transcript, formats []string, g granularities) error {
	base := displayName(input)
	base = strings.TrimSuffix(filepath.Base(base), filepath.Ext(base))
	for _, f := range formats {
		var buf bytes.Buffer
		if err := writeTranscript(&buf, t, f, g); err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, base+transcriptExt[f]), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// writeTranscriptLine writes t in a JSON format as one line of JSON Lines,
// with the input's name added as "file".
func writeTranscriptLine(w io.Writer, file string, t *Transcript, format string, g granularities) error {
	var buf bytes.Buffer
	if err := writeTranscript(&buf, t, format, g); err != nil {
		return err
	}
	var obj map[string]any
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return err
	}
	obj["file"] = file
	return writeJSONLine(w, obj)
}
