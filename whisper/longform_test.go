package whisper

import (
	"context"
	"errors"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/internal/testdata"
)

// TestLongForm transcribes jfk.flac followed by silence (over 60 s) with
// the random-weight fixture model: the sequential algorithm must run to the
// end with segment times that never go backwards.
func TestLongForm(t *testing.T) {
	m := testdata.LoadModel(t, testdata.Fixture(t, "whisper"), Load)
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk.flac"))
	if err != nil {
		t.Fatal(err)
	}
	pcm = append(pcm, make([]float32, 50*audio.SampleRate)...)
	seconds := float64(len(pcm)) / audio.SampleRate
	if seconds < 60 {
		t.Fatalf("test audio is %.1f s", seconds)
	}
	var streamed []Segment
	opt := Options{
		Language:     "en",
		Temperatures: []float64{0},
		MaxTokens:    48,
		OnSegment:    func(s Segment) { streamed = append(streamed, s) },
	}
	res, err := m.Transcribe(context.Background(), pcm, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Segments) == 0 {
		t.Fatal("no segments")
	}
	if len(streamed) != len(res.Segments) {
		t.Errorf("OnSegment saw %d segments, result has %d", len(streamed), len(res.Segments))
	}
	prevStart, prevSeek := 0.0, 0
	for i, s := range res.Segments {
		t.Logf("[%7.2f → %7.2f] seek %5d %q", s.Start, s.End, s.Seek, s.Text)
		if s.ID != i || streamed[i].ID != i {
			t.Errorf("segment %d has id %d", i, s.ID)
		}
		if s.End < s.Start || s.Start < prevStart || s.Seek < prevSeek {
			t.Errorf("segment %d [%v, %v] seek %d goes backwards (previous start %v, seek %d)", i, s.Start, s.End, s.Seek, prevStart, prevSeek)
		}
		prevStart, prevSeek = s.Start, s.Seek
	}
	last := res.Segments[len(res.Segments)-1]
	if last.Seek < int((seconds-30)*100) {
		t.Errorf("transcription stopped at seek %d of %.0f s", last.Seek, seconds)
	}

	// cancellation between windows
	ctx, cancel := context.WithCancel(context.Background())
	opt.OnSegment = func(Segment) { cancel() }
	if _, err := m.Transcribe(ctx, pcm, opt); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled transcription returned %v", err)
	}
}
