package transcript

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/task"
)

func readResult(t *testing.T, name string) *task.Transcript {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var r task.Transcript
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestWriters(t *testing.T) {
	plain := readResult(t, "result.json")
	words := readResult(t, "result_words.json")
	cases := []struct {
		r     *task.Transcript
		write func(*bytes.Buffer, *task.Transcript) error
		file  string
	}{
		{plain, func(b *bytes.Buffer, r *task.Transcript) error { return WriteSRT(b, r) }, "result.srt"},
		{plain, func(b *bytes.Buffer, r *task.Transcript) error { return WriteVTT(b, r) }, "result.vtt"},
		{plain, func(b *bytes.Buffer, r *task.Transcript) error { return WriteText(b, r) }, "result.txt"},
		{plain, func(b *bytes.Buffer, r *task.Transcript) error { return WriteTSV(b, r) }, "result.tsv"},
		// json.dumps output of the same dict: byte-identical round trip
		{plain, func(b *bytes.Buffer, r *task.Transcript) error { return WriteJSON(b, r) }, "result.json"},
		{words, func(b *bytes.Buffer, r *task.Transcript) error { return WriteJSON(b, r) }, "result_words.json"},
		{words, func(b *bytes.Buffer, r *task.Transcript) error { return WriteSRT(b, r) }, "result_words.srt"},
		{words, func(b *bytes.Buffer, r *task.Transcript) error {
			return WriteVTTWith(b, r, WriterOptions{HighlightWords: true})
		}, "result_words_highlight.vtt"},
		{words, func(b *bytes.Buffer, r *task.Transcript) error {
			return WriteSRTWith(b, r, WriterOptions{MaxLineWidth: 16, MaxLineCount: 2})
		}, "result_words_w16_c2.srt"},
		{words, func(b *bytes.Buffer, r *task.Transcript) error {
			return WriteVTTWith(b, r, WriterOptions{MaxLineWidth: 16, MaxLineCount: 1})
		}, "result_words_w16_c1.vtt"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := c.write(&b, c.r); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("got\n%s\nwant\n%s", b.String(), want)
			}
		})
	}
}

func TestPyFloat(t *testing.T) {
	for x, want := range map[float64]string{
		0: "0.0", 1: "1.0", 0.1: "0.1", 17.6: "17.6", 47.540000000000006: "47.540000000000006",
		1e-05: "1e-05", 0.0001: "0.0001", 7.268279205163708e-06: "7.268279205163708e-06",
		1e16: "1e+16", 1e15: "1000000000000000.0", -5.230271267361111: "-5.230271267361111",
		123456789.5: "123456789.5", 2.5e-300: "2.5e-300",
	} {
		if got := pyFloat(x); got != want {
			t.Errorf("pyFloat(%v) = %s, want %s", x, got, want)
		}
	}
}

func TestFormatTimestamp(t *testing.T) {
	for _, c := range []struct {
		s      float64
		hours  bool
		marker string
		want   string
	}{
		{0, false, ".", "00:00.000"},
		{0, true, ",", "00:00:00,000"},
		{59.9995, false, ".", "01:00.000"},
		{3599.999, false, ".", "59:59.999"},
		{3600, false, ".", "01:00:00.000"},
		{36000.5, true, ",", "10:00:00,500"},
	} {
		if got := FormatTimestamp(c.s, c.hours, c.marker); got != c.want {
			t.Errorf("FormatTimestamp(%v) = %s, want %s", c.s, got, c.want)
		}
	}
}
