package integration

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/whisper"
)

// TestWhisperCancelMidFile transcribes over two minutes of audio (the
// whisper-openai fixture's long16k.wav, twice) with the whisper fixture
// model, cancels the context halfway through the second 30-second window,
// and requires Transcribe to return context.Canceled within the time the
// first window took.
func TestWhisperCancelMidFile(t *testing.T) {
	m := loadModels(t)
	pcm, err := audio.Load16kFile(testdata.Path(t, "fixtures", "whisper-openai", "long16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	pcm = append(pcm, pcm...)
	if len(pcm) < 60*audio.SampleRate {
		t.Fatalf("input is %.1f s, want at least 60 s", float64(len(pcm))/audio.SampleRate)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	firstWindow := make(chan time.Time, 1)
	opt := whisper.Options{
		Language:     "en",
		Temperatures: []float64{0},
		OnSegment: func(whisper.Segment) {
			once.Do(func() { firstWindow <- time.Now() })
		},
	}
	type outcome struct {
		r   *whisper.Result
		err error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		r, err := m.whisper.Transcribe(ctx, pcm, opt)
		done <- outcome{r, err}
	}()
	var window time.Duration
	select {
	case t1 := <-firstWindow:
		window = t1.Sub(start)
	case o := <-done:
		t.Fatalf("Transcribe returned before its first segment: %v", o.err)
	}
	time.Sleep(window / 2)
	cancel()
	cancelled := time.Now()
	o := <-done
	took := time.Since(cancelled)
	t.Logf("%.0f s of audio; first window %v; returned %v after cancel", float64(len(pcm))/audio.SampleRate, window.Round(time.Millisecond), took.Round(time.Millisecond))
	if !errors.Is(o.err, context.Canceled) {
		t.Fatalf("Transcribe after cancel: result %v, error %v; want context.Canceled", o.r != nil, o.err)
	}
	if took > window {
		t.Errorf("Transcribe took %v to return after cancel, more than one window (%v)", took, window)
	}
}
